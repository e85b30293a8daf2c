"""The design round: the rubric's score, its records saved safely (merged, atomic, earlier rounds kept,
a corrupt file moved aside and reported, never overwritten)."""

import datetime as dt
import json

import pytest

from visrec_book import design_round as dr

DAY = dt.date(2026, 12, 7)
ALL = {p.key: True for p in dr.RUBRIC}


def test_the_rubric_covers_the_design_answer_in_both_languages():
    assert dr.RUBRIC_KEYS == ("requirements", "funnel", "capacity", "data_loop", "encoder_change", "new_items",
                              "monitoring", "failover")
    for p in dr.RUBRIC:
        assert 80 < len(p.answer_en) < 400 and 30 < len(p.answer_zh) < 200, p.key
        assert p.title("zh") == p.title_zh and p.answer("en") == p.answer_en


def test_score_is_the_share_of_points_ticked():
    assert dr.design_score({}) == 0.0 and dr.design_score(ALL) == 1.0
    assert dr.design_score({"funnel": True, "capacity": True, "failover": False}) == pytest.approx(2 / 8)
    with pytest.raises(ValueError, match=r"\['sharding'\] are not rubric points"):
        dr.design_score({"sharding": True})


def test_a_record_lists_every_point_ticked_or_not():
    record = dr.design_record({"funnel": True}, 612.34, DAY)
    assert record == {"date": "2026-12-07", "question": "q15_scalable_architecture",
                      "ticked": {k: k == "funnel" for k in dr.RUBRIC_KEYS}, "seconds": 612.3}


def test_records_round_trip_and_two_sessions_keep_each_others_rounds(tmp_path):
    path = tmp_path / "d.json"
    a, b = dr.DesignRecords(path), dr.DesignRecords(path)  # two notebooks open on one file
    ka = a.add({"funnel": True}, 60, DAY)
    kb = b.add(ALL, 90, DAY)
    on_disk = json.loads(path.read_text())
    assert set(on_disk) == {ka, kb} and ka != kb
    assert dr.design_score(on_disk[kb]["ticked"]) == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.json", "d.json.lock"]  # no temporary left


def test_a_corrupt_file_is_moved_aside_reported_and_never_overwritten(tmp_path):
    path = tmp_path / "d.json"
    path.write_text('{"r1": {"date": "2026-12-01", "question": "q15", "ticked": {"funnel": "yes"}}}')
    before = path.read_bytes()
    records = dr.DesignRecords(path)
    (aside,) = records.set_aside
    assert aside.name.startswith("d.json.corrupt-") and aside.read_bytes() == before
    assert records.state == {}
    key = records.add(ALL, 10, DAY)
    assert list(json.loads(path.read_text())) == [key]
    assert aside.read_bytes() == before  # still there, untouched


def test_a_file_corrupted_between_two_saves_is_moved_aside_and_the_new_round_kept(tmp_path):
    path = tmp_path / "d.json"
    records = dr.DesignRecords(path)
    first = records.add(ALL, 10, DAY)
    path.write_text("garbage")
    second = records.add({"funnel": True}, 20, DAY)
    (aside,) = tmp_path.glob("d.json.corrupt-*")
    assert aside.read_text() == "garbage" and records.set_aside == [aside]
    saved = json.loads(path.read_text())
    assert second in saved and first in saved  # this session still had its first round in memory


def test_in_memory_records_write_nothing(tmp_path):
    records = dr.DesignRecords(None)
    records.add(ALL, 1, DAY)
    assert len(records.state) == 1 and list(tmp_path.iterdir()) == []

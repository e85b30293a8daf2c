"""Progress by topic: the mock-interview, flashcard and design records joined per notebook (last
score, missed steps, coding minutes, check, flashcard box, design share, last practised, weak
first), and its plot."""

import datetime as dt

import pandas as pd
import pytest

from visrec_book import practice_progress as pp
from visrec_book.design_round import RUBRIC_KEYS

TODAY = dt.date(2026, 12, 7)
MOCK = {
    "r1": {"date": "2026-11-01", "question": "q10_x", "grades": {"answer": 0, "follow-up 1": 0, "coding": 0},
           "seconds": {"coding": 600.0}},
    "r2": {"date": "2026-12-05", "question": "q10_x", "grades": {"answer": 2, "follow-up 1": 0, "coding": 2},
           "seconds": {"answer": 50.0, "coding": 1830.0}, "task": "t01_x", "check_passed": True},
    "r3": {"date": "2026-12-06", "question": "q01_x", "grades": {"answer": 2, "follow-up 1": 2, "coding": 2},
           "seconds": {"coding": 120.0}},
    "r4": {"date": "2026-10-01", "question": "q04_x", "grades": {"answer": 2, "follow-up 1": 2, "coding": 1},
           "seconds": {}, "task": "t03_x", "check_passed": False},
}
CARDS = {"q01_x": {"box": 1, "due": "2026-12-07", "last": "2026-12-07"},
         "q02_x": {"box": 3, "due": "2026-12-10"}}  # a card graded before "last" was recorded
DESIGN = {"d1": {"date": "2026-12-01", "question": "q15_x", "ticked": {k: k == "funnel" for k in RUBRIC_KEYS},
                 "seconds": 900.0}}


@pytest.fixture
def table():
    return pp.topic_table(MOCK, CARDS, DESIGN, topics=["q01_x", "q03_x"], today=TODAY)


def test_one_row_per_topic_from_every_source_and_the_listed_ones(table):
    assert set(table.index) == {"q01_x", "q02_x", "q03_x", "q04_x", "q10_x", "q15_x"}
    assert list(table.columns) == pp.COLUMNS


def test_the_last_round_gives_the_score_missed_steps_coding_minutes_and_check(table):
    q10 = table.loc["q10_x"]
    assert q10["rounds"] == 2 and q10["last_score"] == pytest.approx(4 / 6)
    assert q10["missed_steps"] == ["follow-up 1"] and q10["coding_minutes"] == 30.5
    assert q10["check_passed"] is True and q10["answer"] == 1.0 and q10["follow-up"] == 0.0
    assert q10["weak"] and q10["next"] == "redo: follow-up 1"
    assert q10["last_practised"] == "2026-12-05" and q10["days_since"] == 2


def test_a_failed_check_a_missed_card_and_a_thin_design_make_a_topic_weak(table):
    q04 = table.loc["q04_x"]
    assert q04["weak"] and "coding round: run the check until it passes" in q04["next"]
    assert "review: not practised for 67 days" in q04["next"]
    q01 = table.loc["q01_x"]  # nailed its round, but missed its flashcard today
    assert q01["last_score"] == 1.0 and q01["weak"] and q01["card_box"] == 1 and q01["days_since"] == 0
    q15 = table.loc["q15_x"]
    assert q15["design"] == pytest.approx(1 / 8) and q15["weak"] and "design round" in q15["next"]


def test_on_track_and_never_practised_topics(table):
    q02 = table.loc["q02_x"]
    assert not q02["weak"] and q02["next"] == "on track" and q02["rounds"] == 0 and q02["card_box"] == 3
    q03 = table.loc["q03_x"]
    assert not q03["weak"] and q03["next"] == "not practised yet" and pd.isna(q03["last_practised"])


def test_weak_topics_come_first_longest_unpractised_first(table):
    order = list(table.index)
    weak = [t for t in order if table.at[t, "weak"]]
    assert order[:len(weak)] == weak == ["q04_x", "q15_x", "q10_x", "q01_x"]


def test_chinese_advice():
    zh = pp.topic_table(MOCK, {}, {}, today=TODAY, lang="zh")
    assert zh.at["q10_x", "next"] == "重练：follow-up 1"


def test_plot_has_one_bar_per_topic_red_for_weak(table):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.colors import to_hex

    ax = pp.plot_topics(table)
    bars = ax.patches
    assert len(bars) == len(table)
    colours = [to_hex(b.get_facecolor()) for b in bars]
    assert colours.count(to_hex("tab:red")) == int(table["weak"].sum()) == 4
    assert "4 weak of 6 topics" in ax.get_title()
    assert any("30.5 min" in t.get_text() for t in ax.texts)


def test_nothing_practised_is_an_empty_table_that_still_plots():
    import matplotlib

    matplotlib.use("Agg")
    table = pp.topic_table({}, {}, {}, today=TODAY)
    assert table.empty
    assert "nothing practised yet" in pp.plot_topics(table).texts[0].get_text()


def test_the_view_builds_and_shows_the_table(tmp_path):
    pytest.importorskip("ipywidgets")
    import matplotlib

    matplotlib.use("Agg")
    from visrec_book.design_round import DesignRecords
    from visrec_book.flashcards import Schedule
    from visrec_book.mock_interview import Progress

    progress = Progress(tmp_path / "p.json")
    progress.put("r2", MOCK["r2"])
    view = pp.progress_view(progress, Schedule(tmp_path / "f.json"), DesignRecords(tmp_path / "d.json"))
    html = next(c for c in view.children if "visrec-pv-table" in c._dom_classes).value
    assert "q10_x" in html and "redo: follow-up 1" in html
    view.set_lang("zh")
    assert "重练：follow-up 1" in next(c for c in view.children if "visrec-pv-table" in c._dom_classes).value


def test_of_two_rounds_on_one_day_the_later_one_counts():
    early = {"date": "2026-12-07", "question": "q10_x", "grades": {"answer": 0}, "seconds": {}}
    late = {"date": "2026-12-07", "question": "q10_x", "grades": {"answer": 2}, "seconds": {}}
    for state in ({"20261207T100000-b": early, "20261207T110000-a": late},
                  {"20261207T110000-a": late, "20261207T100000-b": early}):
        table = pp.topic_table(state, {}, {}, today=TODAY)
        assert table.at["q10_x", "last_score"] == 1.0 and table.at["q10_x", "rounds"] == 2


def test_the_html_table_is_compact_and_marks_weak_rows(table):
    html = pp.table_html_of(table)
    assert html.count("<tr style='color:#b00'") == 4 and "<td>q10</td>" in html and "title='q10_x'" in html
    assert "<td>✓</td>" in html and "<td>✗</td>" in html and "<td>30.5</td>" in html
    assert "<th>上次练习</th>" in pp.table_html_of(table, "zh")

"""Flashcards come from the notebooks themselves; the Leitner schedule is exact and persistent."""

import datetime as dt

import numpy as np
import pytest

from visrec_helpers.book import flashcards
from visrec_helpers.book.flashcards import INTERVALS_DAYS, Schedule

TODAY = dt.date(2026, 1, 10)


def test_cards_are_read_from_the_notebooks():
    cards = {c.id: c for c in flashcards.load_cards()}
    q01 = cards["q01_content_based_recommendation"]
    assert q01.question.startswith("q01")
    assert "Represent items once" in q01.answer
    assert "## Parameters" not in q01.answer  # the section ends at the next heading


def test_a_notebook_without_the_section_gives_no_card(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# q99 title\n\nno answer here")]
    p = tmp_path / "q99_x.ipynb"
    nbformat.write(nb, p)
    assert flashcards.card_from_notebook(p) is None


def test_knowing_a_card_moves_it_up_and_postpones_it(tmp_path):
    s = Schedule(tmp_path / "s.json")
    assert s.box("a") == 1 and s.is_due("a", TODAY)
    state = s.grade("a", True, TODAY)
    assert state == {"box": 2, "due": (TODAY + dt.timedelta(days=INTERVALS_DAYS[1])).isoformat()}
    assert not s.is_due("a", TODAY) and s.is_due("a", TODAY + dt.timedelta(days=1))


def test_missing_a_card_sends_it_back_to_box_one(tmp_path):
    s = Schedule(tmp_path / "s.json")
    for _ in range(3):
        s.grade("a", True, TODAY)
    assert s.box("a") == 4
    assert s.grade("a", False, TODAY) == {"box": 1, "due": TODAY.isoformat()}


def test_box_is_capped(tmp_path):
    s = Schedule(None)
    for _ in range(20):
        s.grade("a", True, TODAY)
    assert s.box("a") == len(INTERVALS_DAYS)


def test_schedule_persists(tmp_path):
    path = tmp_path / "sub" / "s.json"
    Schedule(path).grade("a", True, TODAY)
    assert Schedule(path).box("a") == 2


def test_corrupt_schedule_is_not_overwritten(tmp_path):
    path = tmp_path / "s.json"
    path.write_text("{broken")
    with pytest.raises(ValueError, match="not a flashcard schedule"):
        Schedule(path)
    assert path.read_text() == "{broken"


def test_next_card_prefers_the_lowest_due_box():
    cards = [flashcards.Card(i, i, "") for i in "abc"]
    s = Schedule(None)
    s.state = {"a": {"box": 3, "due": TODAY.isoformat()}, "b": {"box": 2, "due": TODAY.isoformat()},
               "c": {"box": 1, "due": (TODAY + dt.timedelta(days=5)).isoformat()}}
    assert s.next_card(cards, np.random.default_rng(0), TODAY).id == "b"
    s.grade("b", True, TODAY)
    s.grade("a", True, TODAY)
    assert s.next_card(cards, np.random.default_rng(0), TODAY) is None


def test_app_builds_and_grades(tmp_path):
    cards = flashcards.load_cards()
    app = flashcards.flashcard_app(cards, Schedule(tmp_path / "s.json"), seed=0)
    reveal, knew, _ = app.children[2].children
    reveal.click()
    knew.click()
    assert len(Schedule(tmp_path / "s.json").state) == 1


# --- several Schedule objects on one file: nothing is lost, nothing half-written --------------

def test_two_schedules_on_one_file_keep_each_others_grades(tmp_path):
    path = tmp_path / "s.json"
    first, second = Schedule(path), Schedule(path)
    first.grade("a", True, TODAY)
    second.grade("b", True, TODAY)   # second was opened before "a" was graded
    first.grade("c", False, TODAY)
    assert sorted(Schedule(path).state) == ["a", "b", "c"]
    assert sorted(first.state) == ["a", "b", "c"]  # a save also takes in the others' grades


def test_a_grade_starts_from_the_box_another_schedule_saved(tmp_path):
    path = tmp_path / "s.json"
    first, second = Schedule(path), Schedule(path)
    first.grade("a", True, TODAY)   # box 2
    second.grade("a", True, TODAY)  # box 3, not box 2 again
    assert Schedule(path).box("a") == 3


def _grade_many(path, prefix, n):
    s = Schedule(path)
    for i in range(n):
        s.grade(f"{prefix}{i}", True, TODAY)


def test_concurrent_processes_lose_no_grade(tmp_path):
    import multiprocessing as mp

    path = tmp_path / "s.json"
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_grade_many, args=(path, p, 25)) for p in "xy"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert len(Schedule(path).state) == 50


def test_save_replaces_the_file_atomically_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "s.json"
    Schedule(path).grade("a", True, TODAY)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json", "s.json.lock"]


def test_a_file_corrupted_meanwhile_is_not_overwritten(tmp_path):
    path = tmp_path / "s.json"
    s = Schedule(path)
    s.grade("a", True, TODAY)
    path.write_text('{"a": {"box": 9, "due": "never"}}')
    with pytest.raises(flashcards.ScheduleError, match="not a flashcard schedule"):
        s.grade("b", True, TODAY)
    assert path.read_text() == '{"a": {"box": 9, "due": "never"}}'


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "s.json"
    Schedule(path).grade("a", True, TODAY)
    before = path.read_text()

    def broken_dump(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(flashcards.json, "dump", broken_dump)
    with pytest.raises(OSError, match="disk full"):
        Schedule(path).grade("b", True, TODAY)
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json", "s.json.lock"]

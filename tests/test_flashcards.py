"""Flashcards come from the notebooks themselves; the Leitner schedule is exact and persistent."""

import datetime as dt

import numpy as np
import pytest

from visrec_book import flashcards
from visrec_book.flashcards import INTERVALS_DAYS, Schedule

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
    assert state == {"box": 2, "due": (TODAY + dt.timedelta(days=INTERVALS_DAYS[1])).isoformat(),
                     "last": TODAY.isoformat()}
    assert not s.is_due("a", TODAY) and s.is_due("a", TODAY + dt.timedelta(days=1))


def test_missing_a_card_sends_it_back_to_box_one(tmp_path):
    s = Schedule(tmp_path / "s.json")
    for _ in range(3):
        s.grade("a", True, TODAY)
    assert s.box("a") == 4
    assert s.grade("a", False, TODAY) == {"box": 1, "due": TODAY.isoformat(), "last": TODAY.isoformat()}


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


def test_a_card_title_with_markup_is_shown_as_text_not_run_as_html(tmp_path):
    card = flashcards.Card("q97_x", 'q97 · <script>alert("x")</script> & <b>bold</b>', "answer")
    app = flashcards.flashcard_app([card], Schedule(tmp_path / "s.json"), seed=0)
    shown = app.children[1].value
    assert "<script>" not in shown and "<b>bold" not in shown
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in shown


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


# --- the Chinese layer: the same cards in Chinese ---------------------------------------------

def _bilingual_notebook(tmp_path, name="q99_x.ipynb", zh=True, original=True):
    import nbformat

    title = "# q99 · How do you test?" + ("\n[Original title: 如何测试？]" if original else "")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(title),
                nbformat.v4.new_markdown_cell("## Answer in 60 seconds\n- **Test first**: one behaviour each.")]
    if zh:
        nb.cells.append(nbformat.v4.new_markdown_cell("## 60 秒回答\n- **先写测试**：每个测试只测一件事。"))
    nb.cells.append(nbformat.v4.new_markdown_cell("## Parameters"))
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def test_a_chinese_card_has_the_original_title_and_the_chinese_answer(tmp_path):
    card = flashcards.card_from_notebook(_bilingual_notebook(tmp_path), lang="zh")
    assert card == flashcards.Card("q99_x", "q99 · 如何测试？", "- **先写测试**：每个测试只测一件事。")


def test_the_english_card_stops_before_the_chinese_section(tmp_path):
    card = flashcards.card_from_notebook(_bilingual_notebook(tmp_path), lang="en")
    assert card.answer == "- **Test first**: one behaviour each."


def test_a_notebook_without_chinese_has_no_chinese_card(tmp_path):
    assert flashcards.card_from_notebook(_bilingual_notebook(tmp_path, zh=False), lang="zh") is None


def test_without_an_original_title_the_chinese_card_keeps_the_english_title(tmp_path):
    card = flashcards.card_from_notebook(_bilingual_notebook(tmp_path, original=False), lang="zh")
    assert card.question == "q99 · How do you test?"


def test_an_unknown_language_is_refused(tmp_path):
    with pytest.raises(ValueError, match="lang: 'fr' is not one of"):
        flashcards.card_from_notebook(_bilingual_notebook(tmp_path), lang="fr")
    with pytest.raises(ValueError, match="lang: 'de'"):
        flashcards.load_cards(lang="de")


def test_q01_reads_in_both_languages():
    path = flashcards.NOTEBOOK_DIR / "q01_content_based_recommendation.ipynb"
    en, zh = flashcards.card_from_notebook(path), flashcards.card_from_notebook(path, lang="zh")
    assert zh.question == "q01 · 如何实现基于内容的图像推荐系统？"
    assert "60 秒回答" not in en.answer and "Represent items once" not in zh.answer
    assert zh.answer.count("\n- ") == en.answer.count("\n- ")


def _app_texts(app):
    status_row, question, buttons, answer = app.children
    return status_row.children[1], question, buttons.children, answer


def test_app_switches_language_on_the_card_shown_and_keeps_its_schedule(tmp_path):
    en = flashcards.card_from_notebook(_bilingual_notebook(tmp_path))
    zh = flashcards.card_from_notebook(tmp_path / "q99_x.ipynb", lang="zh")
    app = flashcards.flashcard_app([en], Schedule(tmp_path / "s.json"), seed=0, cards_zh=[zh])
    language, question, (reveal, knew, _), _ = _app_texts(app)
    assert "How do you test?" in question.value and reveal.description == "Reveal answer"
    language.value = "zh"
    assert "如何测试？" in question.value and reveal.description == "看答案" and knew.description == "答上了"
    reveal.click()
    knew.click()
    assert Schedule(tmp_path / "s.json").box("q99_x") == 2  # one card, whichever language it was read in


def test_app_can_start_in_chinese_and_shows_english_for_an_untranslated_card(tmp_path):
    en = flashcards.card_from_notebook(_bilingual_notebook(tmp_path, zh=False))
    app = flashcards.flashcard_app([en], Schedule(None), seed=0, lang="zh", cards_zh=[])
    _, question, (reveal, _, _), _ = _app_texts(app)
    assert "How do you test?" in question.value and "还没有中文版" in question.value
    assert reveal.description == "看答案"

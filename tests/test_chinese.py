"""The Chinese layer: every notebook's 60-second answer and follow-up questions in Chinese as well,
kept in step with the English by `make hygiene` (docs/notebook-anatomy.md, "The Chinese layer")."""

import json
import re
import shutil

import pytest

from visrec_book import hygiene
from visrec_book.workbook import NOTEBOOK_DIR

Q01 = NOTEBOOK_DIR / "q01_content_based_recommendation.ipynb"


def _copy_q01(tmp_path, edit=None):
    """A copy of q01 (which has both Chinese sections), with ``edit(cells)`` applied to its cells."""
    path = tmp_path / Q01.name
    shutil.copy(Q01, path)
    if edit is not None:
        nb = json.loads(path.read_text(encoding="utf-8"))
        edit(nb["cells"])
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _index(cells, heading):
    return next(i for i, c in enumerate(cells) if "".join(c["source"]).startswith(f"## {heading}"))


def _replace(cells, heading, text):
    cells[_index(cells, heading)]["source"] = text


def _chinese_problems(path, required=True):
    return [p for p in hygiene.check_notebook(path, require_chinese=required)
            if "60 秒回答" in p or "追问" in p]


def test_q01_chinese_layer_is_in_step():
    assert hygiene.has_chinese(Q01)
    assert hygiene.check_notebook(Q01, require_chinese=True) == []


def test_a_missing_chinese_bullet_fails_the_check(tmp_path):
    def drop_last_bullet(cells):
        text = "".join(cells[_index(cells, "60 秒回答")]["source"])
        _replace(cells, "60 秒回答", text[:text.rindex("\n- ")])

    path = _copy_q01(tmp_path, drop_last_bullet)
    assert _chinese_problems(path) == [f"{Q01.name}: '## 60 秒回答' has 5 bullets, the English "
                                       "'## Answer in 60 seconds' has 6"]
    assert hygiene.main([str(tmp_path)]) == 1  # make hygiene fails


def test_an_extra_chinese_followup_fails_the_check(tmp_path):
    def add_followup(cells):
        text = "".join(cells[_index(cells, "追问")]["source"])
        _replace(cells, "追问", text + "\n6. **还有吗？** 没有了。")

    assert _chinese_problems(_copy_q01(tmp_path, add_followup)) == [
        f"{Q01.name}: '## 追问' has 6 follow-ups, the English '## Follow-up questions' has 5"]


def test_a_followup_without_a_bold_question_is_named(tmp_path):
    def unbold(cells):
        text = "".join(cells[_index(cells, "追问")]["source"])
        _replace(cells, "追问", text.replace("5. **怎么实时更新用户画像？**", "5. 怎么实时更新用户画像？"))

    problems = _chinese_problems(_copy_q01(tmp_path, unbold))
    assert any("5 numbered items but only 4 read as" in p for p in problems), problems


def test_an_english_copy_is_not_a_translation(tmp_path):
    def copy_english(cells):
        english = "".join(cells[_index(cells, "Answer in 60")]["source"]).split("\n", 1)[1]
        _replace(cells, "60 秒回答", "## 60 秒回答\n" + re.sub(r"\n\s+", " ", english))  # one line a bullet

    problems = _chinese_problems(_copy_q01(tmp_path, copy_english))
    assert len(problems) == 1 and "has bullets with no Chinese text: '**Represent items once" in problems[0]


def test_the_chinese_cell_must_follow_the_english_one(tmp_path):
    def move_after_parameters(cells):
        cell = cells.pop(_index(cells, "60 秒回答"))
        cells.insert(_index(cells, "Parameters") + 1, cell)

    problems = _chinese_problems(_copy_q01(tmp_path, move_after_parameters))
    assert len(problems) == 1 and re.search(r"'## 60 秒回答' is cell \d+; it must be the cell right after the "
                                            r"English one \(cell 1\)", problems[0])


def test_prose_outside_the_bullets_is_named(tmp_path):
    def add_prose(cells):
        text = "".join(cells[_index(cells, "60 秒回答")]["source"])
        _replace(cells, "60 秒回答", text + "\n\n总之，先测再说。")

    assert _chinese_problems(_copy_q01(tmp_path, add_prose)) == [
        f"{Q01.name}: '## 60 秒回答' has a line that does not start one of its bullets: '总之，先测再说。' "
        "(one line each: a line break inside Chinese text shows as a space)"]


def test_a_wrapped_followup_is_named(tmp_path):
    def wrap(cells):
        text = "".join(cells[_index(cells, "追问")]["source"])
        _replace(cells, "追问", text.replace("每个用户维护一个加权和，", "每个用户维护一个加权和，\n   "))

    problems = _chinese_problems(_copy_q01(tmp_path, wrap))
    assert problems == [f"{Q01.name}: '## 追问' has a line that does not start one of its follow-ups: "
                        "'   来一个事件做一次 O(d) 的更新（q06）。' (one line each: a line break inside Chinese "
                        "text shows as a space)"]


def test_without_chinese_a_notebook_passes_until_chinese_is_required(tmp_path):
    def remove_chinese(cells):
        for heading in ("60 秒回答", "追问"):
            cells.pop(_index(cells, heading))

    path = _copy_q01(tmp_path, remove_chinese)
    assert _chinese_problems(path, required=False) == []
    assert _chinese_problems(path, required=True) == [
        f"{Q01.name}: no '## 60 秒回答' cell (the Chinese of '## Answer in 60 seconds'; see "
        "docs/notebook-anatomy.md, 'The Chinese layer')",
        f"{Q01.name}: no '## 追问' cell (the Chinese of '## Follow-up questions'; see "
        "docs/notebook-anatomy.md, 'The Chinese layer')"]
    assert hygiene.missing_chinese(tmp_path) == [Q01.stem]


def test_half_a_chinese_layer_is_checked_even_before_it_is_required(tmp_path):
    path = _copy_q01(tmp_path, lambda cells: cells.pop(_index(cells, "追问")))
    assert [p.split(" (")[0] for p in _chinese_problems(path, required=False)] == [
        f"{Q01.name}: no '## 追问' cell"]


@pytest.mark.parametrize("path", sorted(NOTEBOOK_DIR.glob("[qt][0-9][0-9]_*.ipynb")), ids=lambda p: p.stem[:3])
def test_every_chinese_section_a_notebook_has_is_in_step(path):
    assert hygiene.check_chinese(path.name, json.loads(path.read_text(encoding="utf-8"))["cells"],
                                 required=True) == []


def test_all_25_notebooks_have_their_chinese_sections():
    notebooks = sorted(NOTEBOOK_DIR.glob("[qt][0-9][0-9]_*.ipynb"))
    assert len(notebooks) == 25 and hygiene.missing_chinese(NOTEBOOK_DIR) == []


def test_make_hygiene_requires_chinese_of_every_notebook(tmp_path, monkeypatch, capsys):
    from visrec_book import workbook

    # A folder of two notebooks: their committed records come along (the prose figures are checked
    # against them) and the workbook-wide pending list is emptied (it names notebooks not copied here).
    shutil.copytree(NOTEBOOK_DIR / "records", tmp_path / "records")
    monkeypatch.setattr(workbook, "PENDING", set())
    shutil.copy(NOTEBOOK_DIR / "t01_cnn_image_classification.ipynb", tmp_path)
    assert hygiene.main([str(tmp_path)]) == 0
    capsys.readouterr()
    _copy_q01(tmp_path, lambda cells: [cells.pop(_index(cells, h)) for h in ("60 秒回答", "追问")])
    assert hygiene.main([str(tmp_path)]) == 1
    assert "60 秒回答" in capsys.readouterr().out


def test_every_flashcard_reads_in_both_languages():
    from visrec_book import flashcards

    en, zh = flashcards.load_cards(), flashcards.load_cards(lang="zh")
    assert [c.id for c in zh] == [c.id for c in en] and len(en) == 25
    assert all(z.question.split(" · ")[0] == e.question.split(" · ")[0] and z.question != e.question
               for e, z in zip(en, zh))


def test_every_mock_interview_question_reads_in_both_languages():
    from visrec_book import mock_interview as mi

    en = mi.load_questions()
    zh = mi.translated_questions(en, "zh")
    assert list(zh) == [q.id for q in en] and len(en) == 15
    assert all(zh[q.id].steps == q.steps and zh[q.id].exercise == q.exercise for q in en)

"""The start page's 2026 map (visrec_book/topics.py): generated like the notebook map, in English and Chinese,
every topic placed in the workbook or marked as planned with its issue; and the start page's glossary link."""

import json
import re
import shutil

import pytest

from visrec_book import answers, glossary, topics, workbook
from visrec_book.workbook import NOTEBOOK_DIR, START_PAGE

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_the_start_page_map_is_what_the_script_writes():
    assert topics.check(START_PAGE) == []


@pytest.mark.parametrize("words", [("ViT", "CLIP", "DINOv2"), ("Two-tower",), ("recall", "pre-ranking", "re-ranking"),
                                   ("Sequence",), ("Generative retrieval", "semantic IDs"), ("Diffusion",),
                                   ("ANN",), ("A/B", "off-policy")])
def test_the_topics_interviews_ask_are_on_the_map(words):
    assert any(all(w in t.en for w in words) for t in topics.TOPICS), words


def test_each_topic_says_where_it_is_built_or_which_issue_builds_it_in_both_languages():
    for t in topics.TOPICS:
        assert t.en and t.asks_en and (t.built_en or t.planned_en), t.en
        for zh in (t.zh, t.asks_zh, t.built_zh or t.planned_zh):
            assert CJK.search(zh), t.en
        assert bool(t.built_en) == bool(t.built_zh) and bool(t.planned_en) == bool(t.planned_zh), t.en
        if t.planned_en:
            assert re.findall(r"issue \d+", t.planned_en) == re.findall(r"issue \d+", t.planned_zh), t.en
            assert re.search(r"planned, issue \d+", t.planned_en) and "计划中，issue" in t.planned_zh, t.en
        if not t.built_en:
            assert t.planned_en.startswith("not built"), t.en


def test_links_name_notebooks_that_exist():
    text = topics.topics_markdown()
    links = re.findall(r"\]\(([^)]+)\.ipynb\)", text)
    assert links and all((NOTEBOOK_DIR / f"{stem}.ipynb").exists() for stem in links)
    with pytest.raises(KeyError, match="q99"):
        topics.topics_markdown([topics.Topic("x", "甲", "a", "乙", "built in {q99}", "在 {q99}", "", "")])


def test_a_hand_edit_is_stale_and_the_script_restores_it(tmp_path):
    for stem in ("00_start_here", "q01_content_based_recommendation", "t01_cnn_image_classification"):
        shutil.copy(NOTEBOOK_DIR / f"{stem}.ipynb", tmp_path)
    start = tmp_path / "00_start_here.ipynb"
    workbook.write_map(start)
    assert workbook.check_map(start) == []
    start.write_text(start.read_text(encoding="utf-8").replace("Two-tower retrieval", "Two towers"), encoding="utf-8")
    assert workbook.check_map(start) == [
        "00_start_here.ipynb: the 2026 map is stale; run `python -m visrec_book.workbook map --write`"]
    assert workbook.write_map(start) is True and workbook.check_map(start) == []


def test_the_start_page_chinese_follows_the_glossary():
    cells = json.loads(START_PAGE.read_text(encoding="utf-8"))["cells"]
    assert answers.glossary_problems(START_PAGE.name, cells) == []


def test_the_start_page_links_the_glossary_page():
    cells = json.loads(START_PAGE.read_text(encoding="utf-8"))["cells"]
    assert any("](glossary.md)" in "".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert glossary.check_page() == []  # notebooks/glossary.md: what JupyterLab opens from that link

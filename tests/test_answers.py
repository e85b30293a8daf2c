"""The interview text rules of `make hygiene` (visrec_book/answers.py): each rule is planted as a violation in a
tiny synthetic notebook that otherwise passes, and hygiene must name it; the glossary's wrong-variant check too."""

import json
import re

import nbformat
import pytest

from visrec_book import answers, glossary, hygiene
from visrec_book.workbook import NOTEBOOK_DIR, list_notebooks

NAME = "q99_tiny.ipynb"

EN_ANSWER = """## Answer in 60 seconds
- **Embed every item once** with a pretrained encoder and keep the vectors in an ANN index.
- **A user is the weighted mean** of the vectors of the items they engaged with.
- **Rank by cosine** and filter what the user has already seen.
- **Measure NDCG@10** against popularity on a temporal split, with a 95% interval."""

ZH_ANSWER = """## 60 秒回答
- **每个物品只嵌入一次**：用预训练编码器，向量放进 ANN 索引。
- **用户就是加权平均**：对交互过的物品向量做加权平均。
- **按余弦排序**：并过滤掉用户已经看过的物品。
- **用 NDCG@10 衡量**：按时间切分，和热门比较，给出 95% 置信区间。"""

EN_FOLLOWUPS = """## Follow-up questions
1. **How do you handle a new item?** Embed it at upload; it is rankable at once.
2. **How do you keep the list diverse?** Re-rank with MMR.
3. **What if the encoder changes?** Re-embed the catalog into a new versioned index."""

ZH_FOLLOWUPS = """## 追问
1. **新物品怎么办？** 上传时就嵌入，马上可以被排序。
2. **怎么保证列表多样？** 用 MMR 重排。
3. **编码器换了怎么办？** 把全库重新嵌入一个带版本号的新索引。"""

PITFALLS = """## Pitfalls
### 1. Recommending what the user has already seen
Filter the seen items before the top-k.
> 要点：先过滤看过的物品，再取 top-k。

### 2. Unnormalised dot products
Long vectors win every query; normalise first.
> 要点：先做 L2 归一化，再算内积。"""


def _notebook(**replace) -> dict:
    """A tiny q-notebook that passes every hygiene rule; ``replace`` swaps a section's markdown by its name
    (en_answer, zh_answer, en_followups, zh_followups, pitfalls) or adds ``extra`` markdown after Results."""
    text = {"en_answer": EN_ANSWER, "zh_answer": ZH_ANSWER, "en_followups": EN_FOLLOWUPS,
            "zh_followups": ZH_FOLLOWUPS, "pitfalls": PITFALLS}
    text.update({k: v for k, v in replace.items() if k in text})
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    params = code("SEED = 0")
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [md("# q99 · How do you recommend tiny things?\n\n[Original title: 如何推荐小东西？]"),
                md(text["en_answer"]), md(text["zh_answer"]), md("## Parameters"), params,
                md("## Walkthrough"), code("from visrec_helpers import record\nrecord('q99.x', 1.0)"),
                md("## Results\nA table."), *([md(replace["extra"])] if "extra" in replace else []),
                md("## Check"), code("assert 1 + 1 == 2"),
                md(text["pitfalls"]), code("x = 1  # the fix"),
                md(text["en_followups"]), md(text["zh_followups"]),
                md("## Exercises\n1. Write it."), md("## References\n- A paper (2020).")]
    return json.loads(nbformat.writes(nb))


def _write(tmp_path, nb: dict):
    path = tmp_path / NAME
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")
    return path


def _problems(tmp_path, **replace) -> list[str]:
    return hygiene.check_notebook(_write(tmp_path, _notebook(**replace)), require_chinese=True)


def _fails_hygiene(tmp_path, capsys, expected: str, **replace) -> None:
    """``make hygiene`` (hygiene.main) exits 1 and prints ``expected`` for the notebook with ``replace``."""
    _write(tmp_path, _notebook(**replace))
    assert hygiene.main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert expected in out, out


def test_the_tiny_notebook_passes(tmp_path):
    assert _problems(tmp_path) == []


# ---- counting -----------------------------------------------------------------------------------------------

def test_english_words_count_tokens_as_said():
    assert answers.english_words("- **NDCG@10** of item-kNN is `0.358`, see [q07](q07.ipynb)") == 7
    assert answers.english_words("<!--fig q01.x--> two words") == 2  # markers are not said


def test_chinese_units_count_characters_and_english_words():
    assert answers.chinese_units("用 ALS 训练，NDCG@10 更高。") == 7  # 用 训 练 更 高 + ALS + NDCG@10
    assert answers.chinese_units("**要点**：先过滤") == 5


# ---- rule: length ---------------------------------------------------------------------------------------------

def test_a_long_english_answer_fails(tmp_path, capsys):
    long = EN_ANSWER + "\n- **And more**: " + "word " * 130
    n = answers.english_words(answers.section([long], "Answer in 60 seconds"))
    assert n > 160
    _fails_hygiene(tmp_path, capsys, f"{NAME}: '## Answer in 60 seconds' is {n} words, at most 160",
                   en_answer=long, zh_answer=ZH_ANSWER + "\n- **还有**：更多。")


def test_a_long_chinese_answer_fails(tmp_path, capsys):
    long = ZH_ANSWER.replace("并过滤掉用户已经看过的物品。", "并过滤掉用户已经看过的物品" + "，再说一遍" * 60 + "。")
    n = answers.chinese_units(answers.section([long], "60 秒回答"))
    assert n == answers.chinese_units(ZH_ANSWER) - 4 + 60 * 4 > 300  # less the heading "60 秒回答"
    _fails_hygiene(tmp_path, capsys, f"{NAME}: '## 60 秒回答' is {n} units, at most 300", zh_answer=long)


# ---- rule: figures --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, figures", [
    ("item-kNN reaches 0.358 NDCG@10", ["0.358"]),
    ("about 80% of the oracle", ["80%"]),
    ("IVF is 12x faster, HNSW 1,000x", ["12x", "1,000x"]),
    ("快 12 倍，低 11 个点", ["12 倍", "11 个点"]),
    ("with a 95% interval, p < 0.05, at IoU 0.5, NDCG@10, mAP@0.5", []),   # conventions
    ("8x8 digits, 10^8 x 256-d vectors, 3 x 3 kernels", []),              # sizes, not multipliers
    ("U-Net reaches IoU 0.78", ["0.78"]),                                  # an IoU result, not a threshold
    ("skip 0.1<!--not-measured-->, Adam beta1 = 0.5 <!--not-measured-->", []),
])
def test_run_figures(text, figures):
    assert [f.text for f in answers.run_figures(text)] == figures


def test_a_bound_figure_uses_h21s_marker():
    found = answers.run_figures("NDCG@10 0.358<!--fig q01.ndcg@10.itemknn--> against 0.41 for ALS")
    assert [(f.text, f.bound) for f in found] == [("0.358", True), ("0.41", False)]
    found = answers.run_figures("IVF is 12x<!--fig q06.p50_ms.exact / q06.p50_ms.faiss-ivf--> faster")
    assert [(f.text, f.bound) for f in found] == [("12x", True)]


def test_a_run_figure_in_the_english_answer_fails(tmp_path, capsys):
    planted = EN_ANSWER.replace("with a 95% interval.", "with a 95% interval: here item-kNN reaches 0.358.")
    _fails_hygiene(tmp_path, capsys, f"{NAME}: '## Answer in 60 seconds' states this run's figures ['0.358']",
                   en_answer=planted)


def test_a_run_figure_in_the_chinese_answer_fails(tmp_path, capsys):
    planted = ZH_ANSWER.replace("和热门比较", "达到上限的 80%，比热门快 12 倍")
    _fails_hygiene(tmp_path, capsys, f"{NAME}: '## 60 秒回答' states this run's figures ['80%', '12 倍']",
                   zh_answer=planted)


def test_one_bound_figure_is_allowed_two_are_not(tmp_path):
    one = EN_ANSWER.replace("with a 95% interval.", "with a 95% interval (here 0.358<!--fig q99.x-->).")
    assert not [p for p in _problems(tmp_path, en_answer=one) if "figure" in p]
    two = one.replace("(here", "(0.41<!--fig q99.y--> for ALS, here")
    assert [p for p in _problems(tmp_path, en_answer=two) if "figure" in p] == [
        f"{NAME}: '## Answer in 60 seconds' quotes 2 recorded figures ['0.41', '0.358'], at most 1"]


# ---- rule: follow-ups -----------------------------------------------------------------------------------------

def test_a_followup_without_an_answer_fails(tmp_path, capsys):
    _fails_hygiene(tmp_path, capsys, f"{NAME}: '## Follow-up questions' question 4 has no answer",
                   en_followups=EN_FOLLOWUPS + "\n4. **Why not a GAN?**",
                   zh_followups=ZH_FOLLOWUPS + "\n4. **为什么不用 GAN？** 不需要生成。")


def test_a_long_followup_answer_fails(tmp_path, capsys):
    long = EN_FOLLOWUPS.replace("Re-rank with MMR.", "Re-rank with MMR, " + "and so on " * 20 + "until done.")
    _fails_hygiene(tmp_path, capsys, f"{NAME}: '## Follow-up questions' answer 2 is 65 words, at most 50",
                   en_followups=long)


def test_a_long_chinese_followup_answer_fails(tmp_path, capsys):
    long = ZH_FOLLOWUPS.replace("用 MMR 重排。", "用 MMR 重排" + "，再说一遍" * 25 + "。")
    _fails_hygiene(tmp_path, capsys, f"{NAME}: '## 追问' answer 2 is 104 units, at most 90", zh_followups=long)


def test_a_followup_that_is_not_a_bold_question_fails(tmp_path):
    plain = EN_FOLLOWUPS.replace("2. **How do you keep the list diverse?** Re-rank", "2. How do you keep it diverse? Re-rank")
    assert (f"{NAME}: '## Follow-up questions' has 1 item(s) not written 'N. **question** answer'"
            in _problems(tmp_path, en_followups=plain))


def test_too_few_followups_fail(tmp_path):
    two_en = EN_FOLLOWUPS[:EN_FOLLOWUPS.index("\n3.")]
    two_zh = ZH_FOLLOWUPS[:ZH_FOLLOWUPS.index("\n3.")]
    found = _problems(tmp_path, en_followups=two_en, zh_followups=two_zh)
    assert f"{NAME}: '## Follow-up questions' has 2 questions, 3-5 expected" in found
    assert f"{NAME}: '## 追问' has 2 questions, 3-5 expected" in found


# ---- rule: takeaways ------------------------------------------------------------------------------------------

def test_a_pitfall_without_a_chinese_takeaway_fails(tmp_path, capsys):
    _fails_hygiene(tmp_path, capsys,
                   f"{NAME}: pitfall 2 ('2. Unnormalised dot products') has no Chinese takeaway line '> 要点：...'",
                   pitfalls=PITFALLS.replace("\n> 要点：先做 L2 归一化，再算内积。", ""))


@pytest.mark.parametrize("line, problem", [
    ("> 要点：normalise first.", "the takeaway has no Chinese text"),
    ("> 要点：先做 L2 归一化，\n> 再算内积。", "the takeaway runs over more than one line"),
    ("> 要点：" + "先做归一化" * 13, "the takeaway is 65 units, at most 60"),
    ("> 要点：先归一化。\n> 要点：再算内积。", "has 2 takeaway lines; keep one"),
])
def test_a_takeaway_that_is_not_one_short_chinese_line_fails(tmp_path, line, problem):
    found = _problems(tmp_path, pitfalls=PITFALLS.replace("> 要点：先做 L2 归一化，再算内积。", line))
    assert [p for p in found if "pitfall 2" in p] == [f"{NAME}: pitfall 2 ('2. Unnormalised dot products')"
                                                      + (" " if problem.startswith("has") else ": ") + problem]


def test_pitfalls_without_subheadings_fail(tmp_path):
    found = _problems(tmp_path, pitfalls="## Pitfalls\nThe naive answer forgets the seen filter.")
    assert f"{NAME}: '## Pitfalls' has no '### ' pitfall headings" in found


def test_a_takeaway_in_a_later_markdown_cell_of_its_pitfall_counts(tmp_path):
    nb = _notebook(pitfalls=PITFALLS.replace("\n> 要点：先做 L2 归一化，再算内积。", ""))
    at = next(i for i, c in enumerate(nb["cells"]) if "".join(c["source"]).startswith("## Pitfalls"))
    nb["cells"].insert(at + 2, nbformat.v4.new_markdown_cell("After the fix above:\n> 要点：先做 L2 归一化，再算内积。"))
    assert hygiene.check_notebook(_write(tmp_path, nb), require_chinese=True) == []


# ---- the pending list -----------------------------------------------------------------------------------------

def test_a_pending_notebook_is_not_held_to_the_rules(tmp_path, monkeypatch):
    monkeypatch.setattr(answers, "PENDING", answers.PENDING | {"q99_tiny"})
    planted = EN_ANSWER.replace("with a 95% interval.", "with a 95% interval: here item-kNN reaches 0.358.")
    assert _problems(tmp_path, en_answer=planted) == []
    assert "answers: 1 notebooks pending" in answers.summary(tmp_path) and "figures 1" in answers.summary(tmp_path)


def test_a_pending_notebook_that_passes_must_leave_the_list(tmp_path, monkeypatch):
    monkeypatch.setattr(answers, "PENDING", answers.PENDING | {"q99_tiny"})
    assert _problems(tmp_path) == [f"{NAME}: passes every interview-text rule but is still on answers.PENDING; "
                                   "remove it there so the rules hold it"]


def test_pending_names_only_notebooks_that_exist():
    stems = {p.stem for p in list_notebooks(NOTEBOOK_DIR)}
    assert answers.PENDING <= stems, sorted(answers.PENDING - stems)


def test_the_workbook_passes_its_interview_text_checks():
    """Every notebook off the pending list passes the rules, every pending one still fails one, and no notebook
    uses a wrong glossary variant."""
    for path in list_notebooks(NOTEBOOK_DIR):
        if re.match(r"[qt]\d\d_", path.name):
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
            assert answers.problems(path, cells) == [], path.name


# ---- the glossary ---------------------------------------------------------------------------------------------

def test_the_glossary_has_the_fields_terms():
    terms = answers.load_glossary()
    assert len(terms) >= 150
    english = [t.english for t in terms]
    assert len(set(english)) == len(english)
    by = {t.english: t.chinese for t in terms}
    for en, zh in [("precision", "精确率"), ("recall (metric)", "召回率"), ("accuracy", "准确率"),
                   ("cross-validation", "交叉验证"), ("embedding", "嵌入"), ("cold start", "冷启动"),
                   ("collaborative filtering", "协同过滤"), ("pre-ranking", "粗排"), ("re-ranking", "重排")]:
        assert zh in by[en], (en, by[en])
    wrong = {w for t in terms for w in t.wrong}
    for variant in ("交叉验证", "准确率", "起名字", "扫码", "墙钟秒数", "买标签", "赢死"):  # issue 27's list
        assert any(variant in w or w in variant for w in wrong), variant
    for t in terms:
        assert t.chinese and all(w not in t.chinese for w in t.wrong), t


def test_a_wrong_term_for_precision_is_caught(tmp_path, capsys):
    en = EN_ANSWER.replace("Measure NDCG@10", "Measure precision@10 and NDCG@10")
    zh = ZH_ANSWER.replace("用 NDCG@10 衡量", "用准确率和 NDCG@10 衡量")
    _fails_hygiene(tmp_path, capsys, f"{NAME}: '## 60 秒回答' bullet 4 says '准确率' for 'precision': the glossary's "
                   "term is '精确率（查准率）'", en_answer=en, zh_answer=zh)


def test_accuracy_said_as_accuracy_is_not_flagged(tmp_path):
    en = EN_ANSWER.replace("Measure NDCG@10", "Measure accuracy and precision@10")
    zh = ZH_ANSWER.replace("用 NDCG@10 衡量", "用准确率和精确率衡量")
    assert _problems(tmp_path, en_answer=en, zh_answer=zh) == []
    zh = ZH_ANSWER.replace("用 NDCG@10 衡量", "用准确率衡量")  # precision not mentioned: no claim either way
    assert _problems(tmp_path, zh_answer=zh) == []


def test_cross_validation_for_a_cross_check_is_caught(tmp_path):
    en = EN_FOLLOWUPS.replace("Re-rank with MMR.", "Re-rank with MMR; cross-check against a library.")
    zh = ZH_FOLLOWUPS.replace("用 MMR 重排。", "用 MMR 重排，并和参考库交叉验证。")
    assert [p for p in _problems(tmp_path, en_followups=en, zh_followups=zh) if "glossary" in p] == [
        f"{NAME}: '## 追问' follow-up 2 says '交叉验证' for 'cross-check': the glossary's term is '交叉核对（对照验证）' "
        "(交叉验证 means cross-validation (k-fold).)"]


def test_an_always_wrong_term_is_caught_anywhere_in_the_chinese(tmp_path):
    found = _problems(tmp_path, extra="本节结论：粗量化器的开销远多于扫码本身。")
    assert [p for p in found if "glossary" in p] == [
        f"{NAME}: cell 8 says '扫码' for 'scanning PQ codes': the glossary's term is '扫描 PQ 码' "
        "(扫码 means scanning a QR code.)"]
    found = _problems(tmp_path, pitfalls=PITFALLS.replace("再取 top-k", "别让判别器赢死"))
    assert any("pitfall 1's takeaway says '赢死'" in p for p in found), found


def test_the_glossary_page_is_generated_from_the_file(tmp_path):
    page = glossary.glossary_markdown()
    assert page.count("\n| ") == len(answers.load_glossary()) + 6  # a header row per topic table
    assert "| precision | 精确率（查准率） | 准确率 *(in context)* |" in page
    assert glossary.check_page(tmp_path / "glossary.md") != []
    assert glossary.write_page(tmp_path / "glossary.md") is True and glossary.check_page(tmp_path / "glossary.md") == []


@pytest.mark.parametrize("row, error", [
    ("precision\t精确率\t准确率\t\tnote\tMetrics", "context ''"),
    ("accuracy\t准确率\t\tpaired\tnote\tMetrics", "context 'paired'"),
    ("accuracy\t准确率", "needs 6 tab-separated fields"),
])
def test_a_malformed_glossary_row_is_named(tmp_path, row, error):
    path = tmp_path / "glossary.tsv"
    path.write_text("\t".join(glossary.COLUMNS) + "\n" + row + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(error)):
        glossary.load_glossary(path)


def test_the_lenient_mode_holds_a_notebook_without_chinese_sections_to_the_glossary_only(tmp_path):
    nb = _notebook(en_answer=EN_ANSWER + "\n- **Extra**: it reaches 0.358.")
    nb["cells"] = [c for c in nb["cells"] if not re.match(r"## (60 秒回答|追问)", "".join(c["source"]))]
    path = _write(tmp_path, nb)
    assert hygiene.check_notebook(path, require_chinese=False) == []
    assert any("states this run's figures ['0.358']" in p for p in hygiene.check_notebook(path, require_chinese=True))

"""Mock interview: questions read from the notebooks, drawing, grading a round, the saved progress
(merged, atomic, corrupt files left alone) and the scores-over-days data."""

import datetime as dt
import json

import numpy as np
import pytest

from visrec_book import mock_interview as mi
from visrec_book.flashcards import ScheduleError
from visrec_book.workbook import NOTEBOOK_DIR, notebook_title


@pytest.fixture(scope="module")
def questions():
    return mi.load_questions()


def _question(qid="q01_x", n_followups=2) -> mi.Question:
    ex = mi.CodingExercise("t01_x", 1, "**Exercise 1.** Write `f`.", "def f():\n    raise NotImplementedError",
                     "def check_f(fn):\n    assert fn() == 3\n    print('ok')\n\ntry:\n    check_f(f)\n"
                     "except NotImplementedError:\n    print('not attempted')", "def f():\n    return 3",
                     "import math")
    return mi.Question(qid, f"{qid} title", "- say this", tuple(mi.FollowUp(f"fq{i}", f"fa{i}")
                                                             for i in range(1, n_followups + 1)), ex)


def _part(widget, name):
    """The widget under ``widget`` (depth first) with the CSS class ``visrec-<name>``."""
    if f"visrec-{name}" in getattr(widget, "_dom_classes", ()):
        return widget
    for child in getattr(widget, "children", ()):
        found = _part(child, name)
        if found is not None:
            return found
    return None


def _finished_round(qid="q01_x", grades=(2, 1, 0, 2)) -> mi.Round:
    rnd = mi.Round(_question(qid))
    for g in grades:
        rnd.grade(g, seconds=10)
    return rnd


# reading the notebooks

def test_every_question_notebook_becomes_a_question(questions):
    assert [q.id[:3] for q in questions] == [f"q{i:02d}" for i in range(1, 16)]
    q01 = questions[0]
    assert q01.title == notebook_title(NOTEBOOK_DIR / "q01_content_based_recommendation.ipynb")
    assert q01.title.startswith("q01 · ")
    assert q01.answer.lstrip().startswith("-")
    assert all(3 <= len(q.followups) <= 5 for q in questions)


def test_followups_are_read_one_by_one_with_their_answers(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# q99 · A question"),
                nbformat.v4.new_markdown_cell(
                    "## Follow-up questions\n1. **How do you scale?** Use an index;\n   shard it (q14).\n"
                    "2. **Why not CF?** Cold items.\n\n## Exercises\n1. **Not a follow-up** no.")]
    nbformat.write(nb, tmp_path / "q99_x.ipynb")
    assert mi.followups_from_notebook(tmp_path / "q99_x.ipynb") == (
        mi.FollowUp("How do you scale?", "Use an index; shard it (q14)."), mi.FollowUp("Why not CF?", "Cold items."))


def test_followups_of_a_real_notebook_have_questions_and_answers():
    fus = mi.followups_from_notebook(NOTEBOOK_DIR / "q01_content_based_recommendation.ipynb")
    assert len(fus) >= 3
    assert all(f.question.endswith("?") and len(f.answer) > 20 and "\n" not in f.answer for f in fus)


def test_every_question_maps_to_an_existing_task_exercise():
    stems = {p.stem for p in NOTEBOOK_DIR.glob("q*.ipynb")}
    assert set(mi.TASK_FOR) == stems
    for task, number in mi.TASK_FOR.values():
        assert task.startswith("t") and (NOTEBOOK_DIR / f"{task}.ipynb").exists() and number >= 1


@pytest.mark.parametrize("task, number", sorted(set(mi.TASK_FOR.values())))
def test_mapped_exercise_passes_its_self_check_with_its_solution_and_not_with_its_starter(task, number):
    ex = mi.exercise_from_notebook(NOTEBOOK_DIR / f"{task}.ipynb", number)
    assert f"**Exercise {number}" in ex.text and "NotImplementedError" in ex.starter
    passed, out = mi.run_self_check(ex, ex.solution)
    assert passed, out
    passed, out = mi.run_self_check(ex, ex.starter)
    assert not passed and "not attempted" in out


def test_self_check_reports_a_wrong_answer():
    ex = _question().exercise
    passed, out = mi.run_self_check(ex, "def f():\n    return 4")
    assert not passed and "AssertionError" in out
    assert mi.run_self_check(ex, "def f():\n    return 3") == (True, "ok\n")


def test_missing_exercise_is_named(tmp_path):
    with pytest.raises(ValueError, match="t08_realtime_browsing_recommendation.ipynb: exercise 9 not found"):
        mi.exercise_from_notebook(NOTEBOOK_DIR / "t08_realtime_browsing_recommendation.ipynb", 9)


def test_a_question_without_a_task_is_refused():
    with pytest.raises(ValueError, match="task_for: no coding task for 'q01_content_based_recommendation'"):
        mi.load_questions(task_for={})


# drawing

def test_draw_picks_among_the_least_practised_questions():
    qs = [_question(f"q0{i}_x") for i in range(1, 4)]
    attempts = {"a": {"question": "q01_x"}, "b": {"question": "q02_x"}, "c": {"question": "q02_x"}}
    rng = np.random.default_rng(0)
    assert {mi.draw_question(qs, attempts, rng).id for _ in range(20)} == {"q03_x"}


def test_draw_covers_every_question_before_repeating_one():
    qs = [_question(f"q0{i}_x") for i in range(1, 6)]
    rng, attempts = np.random.default_rng(1), {}
    drawn = []
    for k in range(5):
        q = mi.draw_question(qs, attempts, rng)
        drawn.append(q.id)
        attempts[str(k)] = {"question": q.id}
    assert sorted(drawn) == [q.id for q in qs]


def test_draw_is_reproducible_with_a_seed():
    qs = [_question(f"q0{i}_x") for i in range(1, 6)]
    a = [mi.draw_question(qs, {}, np.random.default_rng(7)).id for _ in range(3)]
    b = [mi.draw_question(qs, {}, np.random.default_rng(7)).id for _ in range(3)]
    assert a == b


def test_draw_from_nothing_is_refused():
    with pytest.raises(ValueError, match="questions: empty"):
        mi.draw_question([], {}, np.random.default_rng(0))


# grading a round

def test_round_steps_go_answer_then_each_followup_then_coding():
    rnd = mi.Round(_question(n_followups=2))
    assert rnd.question.steps == ["answer", "follow-up 1", "follow-up 2", "coding"]
    assert rnd.step == "answer"
    assert rnd.grade(2, seconds=61.23) == "follow-up 1"
    assert rnd.grade(1) == "follow-up 2"
    assert rnd.grade(0) == "coding"
    assert rnd.grade(2, seconds=300) is None
    assert rnd.grades == {"answer": 2, "follow-up 1": 1, "follow-up 2": 0, "coding": 2}
    assert rnd.seconds["answer"] == 61.2


@pytest.mark.parametrize("bad", [3, -1, True, 1.5, "2"])
def test_grades_other_than_0_1_2_are_refused(bad):
    with pytest.raises(ValueError, match=r"score: .* is not one of \[0, 1, 2\]"):
        mi.Round(_question()).grade(bad)


def test_a_finished_round_takes_no_more_grades_and_an_unfinished_one_is_not_recorded():
    with pytest.raises(ValueError, match="step 'answer' is not graded yet"):
        mi.Round(_question()).record()
    with pytest.raises(ValueError, match="graded already"):
        _finished_round().grade(1)


def test_round_score_is_the_share_of_the_best_grade():
    grades = {"answer": 2, "follow-up 1": 1, "follow-up 2": 0, "coding": 2}
    assert mi.round_score(grades) == pytest.approx(5 / 8)
    assert mi.round_score(grades, "follow-up") == pytest.approx(0.25)
    assert mi.round_score(grades, "coding") == 1.0
    assert np.isnan(mi.round_score({"answer": 1}, "coding"))


# progress

def test_progress_round_trips_through_the_file(tmp_path):
    path = tmp_path / "p.json"
    key = mi.Progress(path).add(_finished_round(), today=dt.date(2026, 1, 2))
    saved = mi.Progress(path).state[key]
    assert saved == {"date": "2026-01-02", "question": "q01_x",
                     "grades": {"answer": 2, "follow-up 1": 1, "follow-up 2": 0, "coding": 2},
                     "seconds": {"answer": 10.0, "follow-up 1": 10.0, "follow-up 2": 10.0, "coding": 10.0}}


def test_two_open_sessions_keep_each_others_rounds(tmp_path):
    path = tmp_path / "p.json"
    a, b = mi.Progress(path), mi.Progress(path)  # two notebooks open on the same file
    ka = a.add(_finished_round("q01_x"))
    kb = b.add(_finished_round("q02_x"))
    assert ka != kb
    assert set(mi.Progress(path).state) == {ka, kb}
    assert set(b.state) == {ka, kb}


def test_a_corrupt_progress_file_is_reported_and_left_alone(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{"r1": {"date": "2026-01-01", "question": "q01_x", "grades": {"answer": 7}}}')
    before = path.read_text()
    with pytest.raises(ScheduleError, match="not a mock-interview progress file"):
        mi.Progress(path)
    assert path.read_text() == before


def test_in_memory_progress_writes_nothing(tmp_path):
    p = mi.Progress(None)
    p.add(_finished_round())
    assert len(p.state) == 1 and list(tmp_path.iterdir()) == []


# scores over days

def test_daily_scores_average_each_kind_of_step_per_day():
    state = {
        "r1": {"date": "2026-01-01", "question": "q01_x", "grades": {"answer": 0, "follow-up 1": 0, "coding": 0}},
        "r2": {"date": "2026-01-01", "question": "q02_x", "grades": {"answer": 2, "follow-up 1": 2, "coding": 1}},
        "r3": {"date": "2026-01-03", "question": "q01_x", "grades": {"answer": 2, "follow-up 1": 1,
                                                                     "follow-up 2": 1, "coding": 2}},
    }
    frame = mi.daily_scores(state)
    assert [d.isoformat()[:10] for d in frame.index] == ["2026-01-01", "2026-01-03"]
    assert frame.loc["2026-01-01", "answer"] == pytest.approx(0.5)
    assert frame.loc["2026-01-01", "coding"] == pytest.approx(0.25)
    assert frame.loc["2026-01-03", "follow-up"] == pytest.approx(0.5)
    assert frame.loc["2026-01-03", "overall"] == pytest.approx(6 / 8)
    assert frame["rounds"].tolist() == [2, 1]


def test_daily_scores_of_no_rounds_is_empty_and_still_plots():
    import matplotlib

    matplotlib.use("Agg")
    assert mi.daily_scores({}).empty
    ax = mi.plot_progress({})
    assert "no rounds yet" in ax.texts[0].get_text()


def test_plot_draws_one_line_per_kind_of_step():
    import matplotlib

    matplotlib.use("Agg")
    state = {"r1": {"date": "2026-01-01", "question": "q", "grades": {"answer": 1, "coding": 2}},
             "r2": {"date": "2026-01-02", "question": "q", "grades": {"answer": 2, "coding": 2}}}
    ax = mi.plot_progress(state)
    assert [ln.get_label() for ln in ax.get_lines()] == ["overall", "answer", "follow-up", "coding"]
    assert list(ax.get_lines()[0].get_ydata()) == pytest.approx([0.75, 1.0])


def test_app_builds_with_a_drawn_round(questions, tmp_path):
    pytest.importorskip("ipywidgets")
    import matplotlib

    matplotlib.use("Agg")
    app = mi.mock_interview_app(questions[:2], mi.Progress(tmp_path / "p.json"), seed=0)
    _part(app, "mi-draw").click()
    prompt = _part(app, "mi-question")
    assert questions[0].title in prompt.value or questions[1].title in prompt.value
    assert _part(app, "mi-tabs").titles == ("Question round", "Design round", "Progress")
    json.dumps(app.get_state()["_dom_classes"])  # a plain widget state


def test_timer_shows_elapsed_against_the_budget_and_stops():
    from types import SimpleNamespace

    label = SimpleNamespace(value="")
    timer = mi._Timer(label)
    timer.start(90)
    assert "time 0:00 / 1:30" in label.value
    took = timer.stop()
    assert 0 <= took < 5
    timer._thread.join(timeout=5)
    assert not timer._thread.is_alive()


# the Chinese layer

def _bilingual_question_notebook(path, zh_followups=2):
    import nbformat

    nb = nbformat.v4.new_notebook()
    zh = "\n".join(f"{i}. **中文问题 {i}？** 中文回答 {i}，\n   第二行。" for i in range(1, zh_followups + 1))
    nb.cells = [nbformat.v4.new_markdown_cell("# q01 · How do you test?\n[Original title: 如何测试？]"),
                nbformat.v4.new_markdown_cell("## Answer in 60 seconds\n- Test first."),
                nbformat.v4.new_markdown_cell("## 60 秒回答\n- 先写测试。"),
                nbformat.v4.new_markdown_cell("## Follow-up questions\n1. **Why?** Because.\n2. **How?** So."),
                nbformat.v4.new_markdown_cell("## 追问\n" + zh),
                nbformat.v4.new_markdown_cell("## Exercises")]
    nbformat.write(nb, path)
    return path


def test_chinese_followups_are_read_from_their_own_section(tmp_path):
    path = _bilingual_question_notebook(tmp_path / "q01_x.ipynb")
    assert mi.followups_from_notebook(path) == (mi.FollowUp("Why?", "Because."), mi.FollowUp("How?", "So."))
    assert mi.followups_from_notebook(path, lang="zh") == (
        mi.FollowUp("中文问题 1？", "中文回答 1， 第二行。"), mi.FollowUp("中文问题 2？", "中文回答 2， 第二行。"))


def test_chinese_questions_are_read_with_the_english_coding_exercise(tmp_path):
    import shutil

    _bilingual_question_notebook(tmp_path / "q01_x.ipynb")
    shutil.copy(NOTEBOOK_DIR / "t08_realtime_browsing_recommendation.ipynb", tmp_path)
    task_for = {"q01_x": ("t08_realtime_browsing_recommendation", 1)}
    en, = mi.load_questions(tmp_path, task_for)
    zh, = mi.load_questions(tmp_path, task_for, lang="zh")
    assert (zh.title, zh.answer) == ("q01 · 如何测试？", "- 先写测试。")
    assert zh.steps == en.steps and zh.exercise == en.exercise


def test_a_question_without_chinese_is_named(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# q01 · T\n\n## Answer in 60 seconds\n- a")]
    nbformat.write(nb, tmp_path / "q01_x.ipynb")
    with pytest.raises(ValueError, match="q01_x.ipynb: no '60 秒回答' section"):
        mi.question_from_notebook(tmp_path / "q01_x.ipynb", _question().exercise, lang="zh")


def test_translations_leave_out_a_question_whose_followups_do_not_match(tmp_path):
    _bilingual_question_notebook(tmp_path / "q01_x.ipynb")
    _bilingual_question_notebook(tmp_path / "q02_x.ipynb", zh_followups=1)
    found = mi.translated_questions([_question("q01_x"), _question("q02_x"), _question("q03_x")], "zh", tmp_path)
    assert list(found) == ["q01_x"] and found["q01_x"].title == "q01 · 如何测试？"


def test_app_switches_language_mid_round_and_keeps_the_grades(tmp_path):
    pytest.importorskip("ipywidgets")
    import matplotlib

    matplotlib.use("Agg")
    _bilingual_question_notebook(tmp_path / "q01_x.ipynb")
    en = _question("q01_x")
    zh = mi.translated_questions([en], "zh", tmp_path)["q01_x"]
    app = mi.mock_interview_app([en], mi.Progress(None), seed=0, answer_seconds=5, questions_zh=[zh])

    def part(name):
        return _part(app, f"mi-{name}")

    part("draw").click()
    assert "q01_x title" in part("question").value and "part 1 of 4 (answer)" in part("status").value
    part("lang").value = "zh"
    assert "如何测试？" in part("question").value and "第 1 / 4 部分（回答）" in part("status").value
    assert part("reveal").description == "看参考答案"
    part("reveal").click()
    part("grade-2").click()
    assert "追问 1 / 2：中文问题 1？" in part("question").value
    part("lang").value = "en"
    assert "Follow-up 1 of 2: fq1" in part("question").value
    assert part("grade-2").description == "Nailed it (2)"
    assert _part(app, "mi-tabs").titles == ("Question round", "Design round", "Progress")


# the coding round of a whole program, the design round and the progress tab in the app

def _program_question(qid="q10_x") -> mi.Question:
    from visrec_book.coding_round import T01

    q = _question(qid, n_followups=1)
    return mi.Question(q.id, q.title, q.answer, q.followups, q.exercise, T01, "```python\nmodel = SmallCNN()\n```")


def test_a_question_whose_task_has_an_interview_version_asks_for_the_whole_program():
    q = _program_question()
    assert q.program_round and q.steps == ["answer", "follow-up 1", "coding"]
    bare = _question()
    assert not bare.program_round  # no task: the exercise, as before
    rnd = mi.Round(q)
    for g in (2, 1):
        rnd.grade(g)
    rnd.check_passed = False
    rnd.grade(1, seconds=1500)
    record = rnd.record(dt.date(2026, 1, 2))
    assert record["task"] == "t01_cnn_image_classification" and record["check_passed"] is False
    assert "task" not in _finished_round().record()


def test_app_coding_round_runs_the_check_shows_the_error_and_reveals_the_interview_version(tmp_path):
    pytest.importorskip("ipywidgets")
    import matplotlib

    matplotlib.use("Agg")
    progress = mi.Progress(tmp_path / "p.json")
    app = mi.mock_interview_app([_program_question()], progress, seed=0, lang="en")
    _part(app, "mi-draw").click()
    for _ in range(2):  # the answer and the follow-up
        _part(app, "mi-reveal").click()
        _part(app, "mi-grade-2").click()
    assert "Coding round: the whole program of t01_cnn_image_classification" in _part(app, "mi-question").value
    assert _part(app, "mi-check").description == "Run the check"
    assert "45:00" in _part(app, "mi-timer").value
    _part(app, "mi-code").value = "x = 1 / 0\n"
    _part(app, "mi-check").click()
    shown = _part(app, "mi-check-output").value
    assert "<pre" in shown and "NOT YET" in shown and "ZeroDivisionError" in shown
    assert (tmp_path / "scratch" / "t01_cnn_image_classification.py").read_text() == "x = 1 / 0\n"
    assert _part(app, "mi-reveal").description == "Reveal the interview version"
    _part(app, "mi-reveal").click()
    _part(app, "mi-lang").value = "zh"
    assert "编程轮：写出 t01_cnn_image_classification 的完整程序" in _part(app, "mi-question").value
    _part(app, "mi-grade-1").click()
    (saved,) = mi.Progress(tmp_path / "p.json").state.values()
    assert saved["check_passed"] is False and saved["grades"]["coding"] == 1


def test_step_markdown_shows_the_contract_then_the_interview_version_once_revealed():
    from visrec_book.coding_round import T01, TASK_CHECKS

    q = _program_question()
    before = mi.step_markdown(q, "coding", revealed=False)
    assert before == ["**What the check needs.** " + TASK_CHECKS[T01].contract_en]
    after = mi.step_markdown(q, "coding", revealed=True, lang="zh")
    assert after[0].startswith("**检查需要什么。**") and "model = SmallCNN()" in after[1]
    assert mi.step_markdown(q, "answer", revealed=False) == []
    assert mi.step_markdown(q, "follow-up 1", revealed=True) == ["fa1"]
    exercise = mi.step_markdown(_question(), "coding", revealed=True)
    assert exercise[0] == "**Exercise 1.** Write `f`." and "return 3" in exercise[1]
    no_check = mi.Question(q.id, q.title, q.answer, q.followups, q.exercise, "t06_object_recognition", "code")
    assert mi.step_markdown(no_check, "coding", revealed=False) == [
        "**No automatic check for t06_object_recognition yet**: run your program yourself, then compare it with "
        "the interview version."]


def test_app_a_task_without_an_interview_version_says_so_and_gives_the_exercise(tmp_path):
    pytest.importorskip("ipywidgets")
    import matplotlib

    matplotlib.use("Agg")
    q = _question("q07_x", n_followups=1)
    q = mi.Question(q.id, q.title, q.answer, q.followups, q.exercise, "t06_object_recognition", "")
    app = mi.mock_interview_app([q], mi.Progress(None), seed=0)
    _part(app, "mi-draw").click()
    for _ in range(2):
        _part(app, "mi-reveal").click()
        _part(app, "mi-grade-2").click()
    prompt = _part(app, "mi-question").value
    assert "exercise 1 of t01_x" in prompt and "t06_object_recognition has no interview version yet" in prompt
    _part(app, "mi-lang").value = "zh"
    assert "t06_object_recognition 还没有面试版代码" in _part(app, "mi-question").value


def test_app_design_round_ticks_the_rubric_and_saves(tmp_path):
    pytest.importorskip("ipywidgets")
    import matplotlib

    from visrec_book.design_round import RUBRIC, DesignRecords

    matplotlib.use("Agg")
    app = mi.mock_interview_app([_question()], mi.Progress(tmp_path / "p.json"), seed=0, design_seconds=60)
    _part(app, "dr-start").click()
    assert "10^8 product images" in _part(app, "dr-question").value and "1:00" in _part(app, "dr-timer").value
    _part(app, "dr-rubric").click()
    for key in ("requirements", "funnel", "capacity"):
        _part(app, f"dr-tick-{key}").value = True
    _part(app, "mi-lang").value = "zh"
    assert _part(app, "dr-tick-funnel").description == "漏斗"
    _part(app, "dr-save").click()
    assert "8 个要点讲到了 3 个（38%）" in _part(app, "dr-status").value
    (record,) = DesignRecords(tmp_path / "design_rounds.json").state.values()
    assert sum(record["ticked"].values()) == 3 and set(record["ticked"]) == {p.key for p in RUBRIC}
    assert "q15_scalable_architecture" in _part(app, "pv-table").value


def test_app_design_round_reports_a_corrupt_record_file_kept_aside(tmp_path):
    pytest.importorskip("ipywidgets")
    import matplotlib

    matplotlib.use("Agg")
    (tmp_path / "design_rounds.json").write_text("{not json")
    app = mi.mock_interview_app([_question()], mi.Progress(tmp_path / "p.json"), seed=0)
    assert "could not be read" in _part(app, "dr-status").value  # said as soon as the app opens
    _part(app, "dr-start").click()
    _part(app, "dr-rubric").click()
    _part(app, "dr-save").click()
    status = _part(app, "dr-status").value
    assert "0 of 8 points" in status and "could not be read" in status
    (aside,) = tmp_path.glob("design_rounds.json.corrupt-*")
    assert aside.read_text() == "{not json" and aside.name in status

"""Mock interview: a timed question, its follow-ups, then a coding round; a design round; progress.

One round: draw an interview question (q01-q15), answer it aloud while a timer runs, reveal the
notebook's own "Answer in 60 seconds" and grade yourself; then each of its follow-up questions in
turn (question, timer, reveal, grade); then the **coding round** of the task that matches the
question (``CODING_TASK_FOR``): write the task's whole program in the scratch box against a 45-minute
timer, run its outcome check (``coding_round``: the program runs in a fresh process, offline, under a
time limit, and the check measures what it left), then reveal the notebook's interview version (its
cells tagged ``interview``). A task without an interview version yet says so plainly and gives one
of its exercises (``TASK_FOR``) with its self-check instead. Every part is graded 0 (missed), 1
(partly) or 2 (nailed it). Rounds are saved to ``~/.visrec/mock_interviews.json`` through
``flashcards.LockedJsonStore`` (merged under a file lock, replaced atomically).

Beside the question round, the app has a **design round** (``design_round``: q15's design question
and its rubric, ticked and saved) and a **progress** view (``practice_progress``: every topic's last
score, weak steps, coding minutes and flashcard box, weak topics first).

All text is read from the notebooks every time (one source of truth): the question is the
notebook's title, the answers come from its "Answer in 60 seconds" and "Follow-up questions"
sections, the exercise (statement, starter, self-check, solution) and the interview version from
the task notebook. In Chinese (``lang="zh"``, a toggle in the app) the question is the notebook's
original title and the answers come from its "60 秒回答" and "追问" sections; code stays as written.
"""

from __future__ import annotations

import ast
import contextlib
import datetime as dt
import html
import io
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from visrec_book.exercises import EXERCISE_RE, _section_cells
from visrec_book.flashcards import (
    LockedJsonStore,
    ScheduleError,
    card_from_notebook,
    check_lang,
    markdown_cells,
    section,
)
from visrec_book.workbook import NOTEBOOK_DIR, list_notebooks

DEFAULT_PROGRESS = Path.home() / ".visrec" / "mock_interviews.json"
GRADES = {0: "Missed", 1: "Partly", 2: "Nailed it"}
# the heading of the follow-up questions in each language (docs/notebook-anatomy.md, "The Chinese layer")
FOLLOWUP_HEADINGS = {"en": r"Follow-up questions?", "zh": r"追问"}
ANSWER_SECONDS = 120    # the timer's budget for saying an answer aloud
CODING_SECONDS = 900    # for a coding exercise (a task without an interview version)
PROGRAM_SECONDS = 2700  # and for writing a task's whole program (45 minutes)

# question -> the coding task whose whole program its coding round asks for
CODING_TASK_FOR = {
    "q01_content_based_recommendation": "t08_realtime_browsing_recommendation",  # a content profile, served
    "q02_noise_and_blur": "t01_cnn_image_classification",          # a classifier, then its robustness
    "q03_feature_extractor": "t07_transfer_learning_new_dataset",  # features from a pretrained network
    "q04_collaborative_filtering": "t03_collaborative_filtering_program",
    "q05_cold_start": "t04_tag_based_recommendation",              # content for items without clicks
    "q06_realtime_recommendation": "t08_realtime_browsing_recommendation",
    "q07_evaluation": "t03_collaborative_filtering_program",        # NDCG against popularity
    "q08_missing_labels": "t07_transfer_learning_new_dataset",
    "q09_cross_domain": "t07_transfer_learning_new_dataset",
    "q10_deep_learning_recognition_recommendation": "t01_cnn_image_classification",  # the CNN itself
    "q11_cnn_features": "t10_style_transfer",                      # Gram matrices of CNN features
    "q12_gan_generation_recommendation": "t05_gan_program",
    "q13_transfer_learning": "t07_transfer_learning_new_dataset",
    "q14_high_dimensionality": "t02_keyword_image_retrieval",      # retrieval over high-d vectors
    "q15_scalable_architecture": "t08_realtime_browsing_recommendation",  # the online path; design round too
}

# question -> (coding task, exercise number): the exercise given when the coding task has no interview
# version yet; one whose self-check needs nothing but the task notebook's imports.
TASK_FOR = {
    "q01_content_based_recommendation": ("t08_realtime_browsing_recommendation", 1),  # a user profile
    "q02_noise_and_blur": ("t10_style_transfer", 2),                                   # pixel statistics
    "q03_feature_extractor": ("t10_style_transfer", 1),                                # Gram of CNN features
    "q04_collaborative_filtering": ("t03_collaborative_filtering_program", 2),        # a BPR step
    "q05_cold_start": ("t02_keyword_image_retrieval", 1),                              # text weights for new items
    "q06_realtime_recommendation": ("t08_realtime_browsing_recommendation", 1),       # decayed profile
    "q07_evaluation": ("t06_object_recognition", 2),                                   # precision and recall by hand
    "q08_missing_labels": ("t07_transfer_learning_new_dataset", 1),                    # few labels per class
    "q09_cross_domain": ("t07_transfer_learning_new_dataset", 1),
    "q10_deep_learning_recognition_recommendation": ("t01_cnn_image_classification", 2),
    "q11_cnn_features": ("t10_style_transfer", 1),
    "q12_gan_generation_recommendation": ("t05_gan_program", 2),                       # EMA of G
    "q13_transfer_learning": ("t07_transfer_learning_new_dataset", 1),
    "q14_high_dimensionality": ("t02_keyword_image_retrieval", 1),                     # tf-idf weights
    "q15_scalable_architecture": ("t06_object_recognition", 1),                        # IoU at scale
}


@dataclass(frozen=True)
class FollowUp:
    question: str
    answer: str  # markdown


@dataclass(frozen=True)
class CodingExercise:
    """One exercise of a coding task notebook, as its cells read."""
    notebook: str   # task notebook stem
    number: int
    text: str       # the statement (markdown)
    starter: str    # the code the learner starts from
    check: str      # the self-check cell
    solution: str   # the solution cell(s)
    prelude: str    # the task notebook's import statements, run before the learner's code


@dataclass(frozen=True)
class Question:
    id: str                      # notebook stem
    title: str
    answer: str                  # markdown of "Answer in 60 seconds"
    followups: tuple[FollowUp, ...]
    exercise: CodingExercise
    task: str = ""               # the coding task whose whole program the coding round asks for
    interview: str = ""          # its interview version as markdown ("" when it has none yet)

    @property
    def program_round(self) -> bool:
        """Whether the coding round asks for the task's whole program (its notebook has an interview
        version); otherwise it gives the exercise."""
        return bool(self.task and self.interview)

    @property
    def steps(self) -> list[str]:
        """The parts of a round, in order: ``answer``, ``follow-up 1`` ..., ``coding``."""
        return ["answer"] + [f"follow-up {i}" for i in range(1, len(self.followups) + 1)] + ["coding"]


def parse_followups(body: str) -> tuple[FollowUp, ...]:
    """The numbered items ``N. **question** answer`` of a follow-up section's body (answers on one line)."""
    out = []
    for item in re.split(r"^\d+\.\s+", body, flags=re.M)[1:]:
        q = re.match(r"\*\*(.+?)\*\*\s*(.*)", item.strip(), re.S)
        if q:
            out.append(FollowUp(q.group(1).strip(), re.sub(r"\s*\n\s*", " ", q.group(2)).strip()))
    return tuple(out)


def followups_from_notebook(path: Path | str, lang: str = "en") -> tuple[FollowUp, ...]:
    """The numbered items of a notebook's "Follow-up questions" section (``lang="zh"``: its "追问"
    section): ``N. **question** answer``; empty when it has no such section."""
    body = section(markdown_cells(path), FOLLOWUP_HEADINGS[check_lang(lang)])
    return () if body is None else parse_followups(body)


def _imports(nb) -> str:
    """Every top-level import statement of the notebook's code cells before its Exercises section."""
    lines = []
    for cell in nb.cells:
        if cell.cell_type == "markdown" and re.search(r"^##\s+Exercises", cell.source, re.M):
            break
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:  # IPython magics: not plain Python, and never an import we need
            continue
        lines += [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    return "\n".join(dict.fromkeys(lines))


def exercise_from_notebook(path: Path | str, number: int) -> CodingExercise:
    """Exercise ``number`` of a task notebook: its statement, starter, self-check and solution cells."""
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    text, code, current = "", [], None
    for cell in _section_cells(nb):
        if cell.cell_type == "markdown":
            m = EXERCISE_RE.search(cell.source)
            if m:
                current = int(m.group(1))
                if current == number:
                    text = cell.source[m.start():].strip()
            continue
        if current == number:
            code.append(cell)
    starter = [c.source for c in code if "solution" not in c.metadata.get("tags", [])
               and not re.search(r"\bdef check_\w+", c.source)]
    check = [c.source for c in code if re.search(r"\bdef check_\w+", c.source)]
    solution = [c.source for c in code if "solution" in c.metadata.get("tags", [])]
    if not text or not check:
        raise ValueError(f"{path.name}: exercise {number} not found, or it has no self-check cell")
    return CodingExercise(path.stem, number, text, "\n\n".join(starter), "\n\n".join(check),
                    "\n\n".join(solution), _imports(nb))


def load_questions(folder: Path | str = NOTEBOOK_DIR, task_for: dict | None = None,
                   lang: str = "en", program_for: dict | None = None) -> list[Question]:
    """The interview questions (q01-q15) in ``folder``, each with its follow-ups, its coding task
    (``program_for``, default ``CODING_TASK_FOR``) with that task's interview version, and the
    exercise given when there is none (``task_for``, default ``TASK_FOR``), in ``lang`` ("en", or
    "zh": the Chinese title, 60-second answer and follow-ups; code stays as its notebook writes it)."""
    from visrec_book.coding_round import interview_markdown

    check_lang(lang)
    folder = Path(folder)
    task_for = TASK_FOR if task_for is None else task_for
    program_for = CODING_TASK_FOR if program_for is None else program_for
    questions = []
    for path in list_notebooks(folder):
        if not re.match(r"q\d\d_", path.name):
            continue
        if path.stem not in task_for:
            raise ValueError(f"task_for: no coding task for {path.stem!r}; add it to mock_interview.TASK_FOR")
        task, number = task_for[path.stem]
        exercise = exercise_from_notebook(folder / f"{task}.ipynb", number)
        program = program_for.get(path.stem, "")
        questions.append(question_from_notebook(path, exercise, lang, program,
                                                interview_markdown(program, folder) if program else ""))
    return questions


def question_from_notebook(path: Path | str, exercise: CodingExercise, lang: str = "en", task: str = "",
                           interview: str = "") -> Question:
    """One interview question read from its notebook in ``lang``, with the given coding exercise (and
    coding task with its interview version); a ValueError names the section it lacks."""
    card = card_from_notebook(Path(path), lang)
    if card is None:
        heading = "Answer in 60 seconds" if lang == "en" else "60 秒回答"
        raise ValueError(f"{Path(path).name}: no '{heading}' section")
    return Question(Path(path).stem, card.question, card.answer, followups_from_notebook(path, lang), exercise,
                    task, interview)


def translated_questions(questions: list[Question], lang: str, folder: Path | str = NOTEBOOK_DIR) -> dict[str, Question]:
    """``{id: the question in lang}`` for those of ``questions`` whose notebook in ``folder`` has that
    language with as many follow-ups (so a round can switch language at any step); others left out."""
    found = {}
    for q in questions:
        path = Path(folder) / f"{q.id}.ipynb"
        if not path.exists():
            continue
        try:
            other = question_from_notebook(path, q.exercise, lang, q.task, q.interview)
        except ValueError:
            continue
        if len(other.followups) == len(q.followups):
            found[q.id] = other
    return found


def _split_check(source: str) -> tuple[str, str]:
    """A self-check cell split into (definitions, calls): the calls are the bodies of its top-level
    ``try: ... except NotImplementedError``, so an unattempted exercise fails instead of printing
    "not attempted"."""
    tree = ast.parse(source)
    defs, calls = [], []
    for node in tree.body:
        catches = isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id == "NotImplementedError" for h in node.handlers)
        if catches:
            calls += node.body
        else:
            defs.append(node)
    return ast.unparse(ast.Module(defs, [])), ast.unparse(ast.Module(calls, []))


def run_self_check(exercise: CodingExercise, code: str) -> tuple[bool, str]:
    """Run the exercise's self-check on the learner's ``code``, in a fresh namespace: the task
    notebook's imports, the check's definitions, ``code``, then the check's calls. Returns (passed,
    what it printed or the error)."""
    defs, calls = _split_check(exercise.check)
    out = io.StringIO()
    namespace: dict = {"__name__": "__mock_interview__"}
    try:
        with contextlib.redirect_stdout(out):
            for source, name in ((exercise.prelude, f"<{exercise.notebook} imports>"), (defs, "<self-check>"),
                                 (code, "<your code>"), (calls, "<self-check>")):
                exec(compile(source, name, "exec"), namespace)
    except NotImplementedError:
        return False, out.getvalue() + "not attempted yet: replace the `raise NotImplementedError` with your code"
    except Exception as exc:  # the learner's code or the check failed: show why, as a notebook would
        return False, out.getvalue() + f"{type(exc).__name__}: {exc}"
    if not calls.strip():
        return False, out.getvalue() + "this self-check calls nothing: no test ran"
    return True, out.getvalue()


def draw_question(questions: list[Question], attempts: dict[str, dict], rng) -> Question:
    """A random question among those practised least often so far (every question comes up before
    any comes up twice). ``attempts`` is ``Progress.state``; ``rng`` a ``numpy.random.Generator``."""
    if not questions:
        raise ValueError("questions: empty; no interview question to draw")
    counts = {q.id: 0 for q in questions}
    for a in attempts.values():
        if a["question"] in counts:
            counts[a["question"]] += 1
    fewest = min(counts.values())
    pool = [q for q in questions if counts[q.id] == fewest]
    return pool[int(rng.integers(len(pool)))]


@dataclass
class Round:
    """One question's round: grades and seconds per step, in the order of ``question.steps``."""
    question: Question
    grades: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    check_passed: bool | None = None  # the coding round's last outcome check (None: not run)

    @property
    def step(self) -> str | None:
        """The step to grade next, None when every step is graded."""
        return next((s for s in self.question.steps if s not in self.grades), None)

    def grade(self, score: int, seconds: float = 0.0) -> str | None:
        """Grade the current step 0, 1 or 2 (took ``seconds``); returns the next step (None: done)."""
        if isinstance(score, bool) or score not in GRADES:
            raise ValueError(f"score: {score!r} is not one of {sorted(GRADES)} (missed, partly, nailed it)")
        step = self.step
        if step is None:
            raise ValueError(f"score: every step of {self.question.id} is graded already")
        self.grades[step] = int(score)
        self.seconds[step] = round(float(seconds), 1)
        return self.step

    def record(self, today: dt.date | None = None) -> dict:
        """What ``Progress`` stores for a finished round."""
        if self.step is not None:
            raise ValueError(f"round of {self.question.id}: step {self.step!r} is not graded yet")
        record = {"date": (today or dt.date.today()).isoformat(), "question": self.question.id,
                  "grades": dict(self.grades), "seconds": dict(self.seconds)}
        if self.question.program_round:
            record.update(task=self.question.task, check_passed=self.check_passed)
        return record


def _parse_progress(text: str, path: Path) -> dict[str, dict]:
    try:
        state = json.loads(text)
        if not isinstance(state, dict):
            raise ValueError("top level is not an object")
        for key, v in state.items():
            dt.date.fromisoformat(v["date"])
            if not isinstance(v["question"], str):
                raise ValueError(f"round {key!r}: question {v['question']!r} is not a notebook name")
            grades = v["grades"]
            if not grades or any(isinstance(g, bool) or g not in GRADES for g in grades.values()):
                raise ValueError(f"round {key!r}: grades {grades!r} are not 0, 1 or 2")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ScheduleError(f"{path}: not a mock-interview progress file ({exc}); it was left as it is: "
                            "move it away to start afresh") from None
    return state


class Progress(LockedJsonStore):
    """Finished rounds, ``{round id: {"date", "question", "grades": {step: 0-2}, "seconds"}}`` (a coding
    round of a whole program adds ``"task"`` and ``"check_passed"``: true, false, or null when the
    check never ran), in one
    JSON file several notebooks may share (merged under a lock, replaced atomically; see
    ``flashcards.LockedJsonStore``). ``path=None`` keeps them in memory only."""

    parse_state = staticmethod(_parse_progress)

    def __init__(self, path: Path | str | None = DEFAULT_PROGRESS):
        super().__init__(path)

    def add(self, rnd: Round, today: dt.date | None = None) -> str:
        """Save a finished round; returns its id (unique, so rounds from two tabs never collide)."""
        key = f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        self.put(key, rnd.record(today))
        return key


def round_score(grades: dict[str, int], kind: str | None = None) -> float:
    """Share of the best possible grade (0..1) over a round's steps, or over one kind of step
    (``answer``, ``follow-up`` or ``coding``); NaN when the round has no step of that kind."""
    picked = [g for s, g in grades.items() if kind is None or s.startswith(kind)]
    return sum(picked) / (2 * len(picked)) if picked else float("nan")


def daily_scores(state: dict[str, dict]):
    """Scores over days: a DataFrame indexed by date with the mean share of the best grade per kind
    of step (``answer``, ``follow-up``, ``coding``), ``overall`` and the number of ``rounds``."""
    import pandas as pd

    columns = ["answer", "follow-up", "coding", "overall", "rounds"]
    rows = [{"date": pd.Timestamp(v["date"]), **{k: round_score(v["grades"], k) for k in columns[:3]},
             "overall": round_score(v["grades"]), "rounds": 1} for v in state.values()]
    if not rows:
        return pd.DataFrame(columns=columns, index=pd.DatetimeIndex([], name="date"))
    frame = pd.DataFrame(rows).groupby("date").agg({**{k: "mean" for k in columns[:4]}, "rounds": "sum"})
    return frame[columns]


def plot_progress(state: dict[str, dict], ax=None):
    """Scores over days (share of the best grade, 0..1) per kind of step; returns the axes."""
    import matplotlib.pyplot as plt

    frame = daily_scores(state)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3))
    if frame.empty:
        ax.text(0.5, 0.5, "no rounds yet: your scores over days appear here", ha="center", va="center")
        ax.set_axis_off()
        return ax
    import matplotlib.dates as mdates
    import pandas as pd

    for kind, style in (("overall", "-o"), ("answer", "--s"), ("follow-up", "--^"), ("coding", "--v")):
        ax.plot(frame.index, frame[kind], style, label=kind, markersize=8 if kind == "overall" else 5)
    day = pd.Timedelta(days=1)
    ax.set_xlim(frame.index.min() - day, frame.index.max() + day)  # one day of practice still shows
    span_days = (frame.index.max() - frame.index.min()).days + 2
    ax.xaxis.set_major_locator(mdates.DayLocator(interval=max(1, span_days // 7)))  # whole days only
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("share of best grade")
    rounds, days = int(frame["rounds"].sum()), len(frame)
    ax.set_title(f"mock interviews: {rounds} round{'s' * (rounds != 1)} over {days} day{'s' * (days != 1)}")
    ax.legend(loc="lower right", fontsize=8)
    ax.figure.autofmt_xdate()
    return ax


# the mock interview's words in each language
MOCK_UI = {
    "en": {"time": "time", "late": " over time", "draw": "Draw a question", "reveal": "Reveal the answer",
           "reveal_solution": "Reveal the solution", "reveal_interview": "Reveal the interview version",
           "grades": GRADES, "check": "Run self-check", "run_program": "Run the check",
           "answer": "answer", "follow-up": "follow-up", "coding": "coding",
           "part": "<b>{id}</b>: part {i} of {n} ({step})",
           "ask_answer": "<h3>{title}</h3><i>Answer aloud as in an interview, then reveal the notebook's "
                         "60-second answer.</i>",
           "ask_followup": "<h4>Follow-up {i} of {n}: {question}</h4><i>Answer aloud, then reveal.</i>",
           "ask_coding": "<h4>Coding: exercise {number} of {notebook}</h4><i>Write it in the box, run its "
                         "self-check, then reveal the solution and grade yourself.</i>",
           "ask_program": "<h4>Coding round: the whole program of {task}</h4><i>Write it in the scratch box "
                          "as in a 45-minute interview, run the check (it runs your program offline and "
                          "measures the outcome), then reveal the notebook's interview version and grade "
                          "yourself.</i>",
           "no_interview": "<br><small><b>{task} has no interview version yet</b>, so this round gives one of "
                           "its exercises instead.</small>",
           "no_check": "**No automatic check for {task} yet**: run your program yourself, then compare it with "
                       "the interview version.",
           "contract": "**What the check needs.** {contract}",
           "scratch": "# Write the whole program here: data, split, model, loss, optimiser, loop, evaluation.\n",
           "running": "running your program (up to {limit:g} s)...", "scratch_saved": "(saved to {path})",
           "from": "From `{id}.ipynb`.", "solution": "**Solution** (from `{notebook}.ipynb`):",
           "interview": "**Interview version** (the cells tagged `interview` in `{task}.ipynb`):",
           "done": "<b>Round done</b>: {score:.0%} of the best grade; {saved}.",
           "saved": "saved to <code>{path}</code>", "not_saved": "not saved", "save_failed": "<b>not saved</b>: {e}",
           "again": "<i>Draw another question when ready.</i>",
           "intro": "{n} questions, {rounds} rounds so far", "passed": "PASSED", "not_yet": "NOT YET",
           "untranslated": "", "tabs": ("Question round", "Design round", "Progress"),
           "design_start": "Start the design round", "design_rubric": "Show the rubric",
           "design_save": "Save my score",
           "design_intro": "<i>q15's system-design question: answer aloud for up to 30 minutes, then tick "
                           "the rubric's points you covered.</i>",
           "design_ask": "<h3>{question}</h3><i>Cover requirements, the funnel, capacity, the data loop, "
                         "encoder changes, new items, monitoring and failover, in your own order.</i>",
           "design_tick": "<i>Tick each point your answer covered; its model answer is below it.</i>",
           "design_saved": "<b>Design round saved</b>: {k} of {n} points ({score:.0%}); {saved}.",
           "set_aside": "<br><b>Your earlier record file could not be read</b>: it was kept as "
                        "<code>{path}</code> and a new one started."},
    "zh": {"time": "用时", "late": "（超时）", "draw": "抽一道题", "reveal": "看参考答案",
           "reveal_solution": "看参考解法", "reveal_interview": "看面试版代码",
           "grades": {0: "没答上", 1: "答了一部分", 2: "答得很好"},
           "check": "运行自检", "run_program": "运行检查", "answer": "回答", "follow-up": "追问", "coding": "编程",
           "part": "<b>{id}</b>：第 {i} / {n} 部分（{step}）",
           "ask_answer": "<h3>{title}</h3><i>像真实面试一样大声作答，然后再看 notebook 里的 60 秒回答。</i>",
           "ask_followup": "<h4>追问 {i} / {n}：{question}</h4><i>先大声回答，再看答案。</i>",
           "ask_coding": "<h4>编程：{notebook} 的练习 {number}</h4><i>在框里写代码，运行自检，然后看参考解法，"
                         "给自己打分。（题目是英文的。）</i>",
           "ask_program": "<h4>编程轮：写出 {task} 的完整程序</h4><i>像 45 分钟的面试一样在草稿框里写完，"
                          "运行检查（它会离线运行你的程序并度量结果），再看 notebook 的面试版代码，给自己打分。</i>",
           "no_interview": "<br><small><b>{task} 还没有面试版代码</b>，这一轮先做它的一道练习。</small>",
           "no_check": "**{task} 还没有自动检查**：自己运行程序，再和面试版代码对照。",
           "contract": "**检查需要什么。** {contract}",
           "scratch": "# 在这里写完整程序：数据、切分、模型、损失、优化器、训练循环、评估。\n",
           "running": "正在运行你的程序（最多 {limit:g} 秒）……", "scratch_saved": "（已保存到 {path}）",
           "from": "出自 `{id}.ipynb`。", "solution": "**参考解法**（出自 `{notebook}.ipynb`）：",
           "interview": "**面试版代码**（`{task}.ipynb` 里标了 `interview` 的单元格）：",
           "done": "<b>本轮结束</b>：得分为满分的 {score:.0%}；{saved}。",
           "saved": "已保存到 <code>{path}</code>", "not_saved": "未保存", "save_failed": "<b>未保存</b>：{e}",
           "again": "<i>准备好了就再抽一道。</i>",
           "intro": "共 {n} 道题，已练 {rounds} 轮", "passed": "通过", "not_yet": "还没通过",
           "untranslated": "<br><small>（这道题还没有中文版，先显示英文。）</small>",
           "tabs": ("问答轮", "系统设计轮", "进度"),
           "design_start": "开始系统设计轮", "design_rubric": "看评分要点", "design_save": "保存得分",
           "design_intro": "<i>q15 的系统设计题：最多用 30 分钟大声作答，然后勾选你讲到了的评分要点。</i>",
           "design_ask": "<h3>{question}</h3><i>需求、漏斗、容量、数据闭环、编码器更换、新物品、监控、故障兜底，"
                         "顺序自己定。</i>",
           "design_tick": "<i>勾选你的回答讲到了的要点；每个要点下面是参考答案。</i>",
           "design_saved": "<b>系统设计轮已保存</b>：{n} 个要点讲到了 {k} 个（{score:.0%}）；{saved}。",
           "set_aside": "<br><b>之前的记录文件读不了</b>：已原样保留为 <code>{path}</code>，并新建了一个。"},
}


class _Timer:
    """Shows elapsed seconds against a budget in an ``ipywidgets.HTML``, updated once a second."""

    def __init__(self, label, lang: str = "en"):
        self.label, self.budget, self.t0, self.lang = label, 0, None, lang
        self._stop = threading.Event()
        self._thread = None

    def start(self, budget: int) -> None:
        self.stop()
        self.budget, self.t0 = budget, time.monotonic()
        self._stop = threading.Event()
        self._show()
        self._thread = threading.Thread(target=self._run, args=(self._stop,), daemon=True)
        self._thread.start()

    def _run(self, stop: threading.Event) -> None:
        # a round left unfinished must not tick for ever: the clock stops at twice its budget
        while not stop.wait(1.0) and self.elapsed() <= 2 * self.budget:
            self._show()

    def _show(self) -> None:
        s = self.elapsed()
        words = MOCK_UI[self.lang]
        late = words["late"] if s > self.budget else ""
        self.label.value = (f"<span class='visrec-mi-clock' style='font-size:1.4em;font-family:monospace'>"
                            f"{words['time']} {int(s) // 60}:{int(s) % 60:02d} / "
                            f"{self.budget // 60}:{self.budget % 60:02d}{late}</span>")

    def elapsed(self) -> float:
        return 0.0 if self.t0 is None else time.monotonic() - self.t0

    def stop(self) -> float:
        """Stop the clock; returns the seconds it ran."""
        self._stop.set()
        return self.elapsed()


def step_markdown(q: Question, step: str, revealed: bool, lang: str = "en") -> list[str]:
    """What the answer area shows at ``step`` of ``q``'s round, as markdown: for a coding round of a
    whole program, what the check needs (then the interview version once revealed); for an exercise,
    its statement (then its solution); for the answer and follow-ups, nothing until revealed."""
    from visrec_book.coding_round import TASK_CHECKS

    ui = MOCK_UI[lang]
    if step == "coding" and q.program_round:
        check = TASK_CHECKS.get(q.task)
        shown = [ui["contract"].format(contract=check.contract(lang)) if check else ui["no_check"].format(task=q.task)]
        return shown + ([ui["interview"].format(task=q.task) + "\n\n" + q.interview] if revealed else [])
    if step == "coding":
        solution = ui["solution"].format(notebook=q.exercise.notebook) + f"\n\n```python\n{q.exercise.solution}\n```"
        return [q.exercise.text] + ([solution] if revealed else [])
    if not revealed:
        return []
    if step == "answer":
        return [q.answer + "\n\n*" + ui["from"].format(id=q.id) + "*"]
    return [q.followups[int(step.split()[1]) - 1].answer]


def _widget(kind, name: str, **kwargs):
    """An ipywidgets ``kind`` with the CSS class ``name`` (what the tests and the browser find it by)."""
    widget = kind(**kwargs)
    widget.add_class(name)
    return widget


class _QuestionRound:
    """The question round's widgets and steps: draw, ask, reveal, check, grade, save."""

    def __init__(self, app: _MockInterview):
        import ipywidgets as w

        self.app, self.state = app, {"revealed": False}
        wide = {"layout": w.Layout(width="auto")}
        self.status = _widget(w.HTML, "visrec-mi-status")
        self.prompt = _widget(w.HTML, "visrec-mi-question")
        self.clock = _widget(w.HTML, "visrec-mi-timer")
        self.answer = _widget(w.Output, "visrec-mi-answer")
        self.draw = _widget(w.Button, "visrec-mi-draw", icon="random", button_style="primary", **wide)
        self.reveal = _widget(w.Button, "visrec-mi-reveal", icon="eye", disabled=True, **wide)
        self.grade_buttons = [_widget(w.Button, f"visrec-mi-grade-{g}", disabled=True, **wide,
                                      button_style=["danger", "warning", "success"][g]) for g in GRADES]
        self.code = _widget(w.Textarea, "visrec-mi-code", layout=w.Layout(width="100%", height="260px"))
        self.run_check = _widget(w.Button, "visrec-mi-check", icon="play", **wide)
        self.check_out = _widget(w.HTML, "visrec-mi-check-output")
        self.coding = w.VBox([self.code, self.run_check, self.check_out], layout=w.Layout(display="none"))
        self.chart = _widget(w.Output, "visrec-mi-progress")
        self.timer = _Timer(self.clock, app.lang)
        self.draw.on_click(self.on_draw)
        self.reveal.on_click(self.on_reveal)
        for g, b in zip(GRADES, self.grade_buttons):
            b.on_click(lambda _, g=g: self.on_grade(g))
        self.run_check.on_click(self.on_check)
        self.box = _widget(w.VBox, "visrec-mi-round", children=[
            self.status, w.HBox([self.draw, self.reveal]), self.prompt, self.clock, self.answer, self.coding,
            w.HBox(self.grade_buttons), self.chart])

    @property
    def round(self) -> Round | None:
        return self.state.get("round")

    @property
    def step(self) -> str | None:
        return self.round.step if self.round is not None else None

    def label_buttons(self) -> None:
        ui, step = self.app.words(), self.step
        q = self.round.question if self.round is not None else None
        self.draw.description = ui["draw"]
        if step == "coding":
            self.reveal.description = ui["reveal_interview"] if q.program_round else ui["reveal_solution"]
            self.run_check.description = ui["run_program"] if q.program_round else ui["check"]
        else:
            self.reveal.description, self.run_check.description = ui["reveal"], ui["check"]
        for g, b in zip(GRADES, self.grade_buttons):
            b.description = f"{ui['grades'][g]} ({g})"

    def show_chart(self) -> None:
        import matplotlib.pyplot as plt

        self.chart.clear_output(wait=True)
        with self.chart:
            fig, ax = plt.subplots(figsize=(7, 2.8))
            plot_progress(self.app.progress.state, ax)
            plt.show()
            plt.close(fig)

    def set_grading(self, on: bool) -> None:
        for b in self.grade_buttons:
            b.disabled = not on

    def render(self) -> None:
        """Show the current step (question, and the answer once revealed) in the chosen language."""
        self.timer.lang = self.app.language.value
        self.label_buttons()
        step = self.step
        if step is None:
            return
        q, fallback = self.app.shown(self.round.question)
        ui = self.app.words()
        self.status.value = ui["part"].format(id=html.escape(q.id), i=q.steps.index(step) + 1, n=len(q.steps),
                                              step=self.step_name(step))
        self.prompt.value = self.prompt_html(q, step) + (ui["untranslated"] if fallback else "")
        self.answer.clear_output()
        with self.answer:
            self.show_answer(q, step)

    def step_name(self, step: str) -> str:
        kind, *number = step.split()
        return " ".join([self.app.words()[kind], *number])

    def prompt_html(self, q: Question, step: str) -> str:
        ui = self.app.words()
        if step == "answer":
            return ui["ask_answer"].format(title=html.escape(q.title))
        if step.startswith("follow-up"):
            i = int(step.split()[1])
            return ui["ask_followup"].format(i=i, n=len(q.followups), question=html.escape(q.followups[i - 1].question))
        if q.program_round:
            return ui["ask_program"].format(task=html.escape(q.task))
        missing = ui["no_interview"].format(task=html.escape(q.task)) if q.task else ""
        return ui["ask_coding"].format(number=q.exercise.number, notebook=html.escape(q.exercise.notebook)) + missing

    def show_answer(self, q: Question, step: str) -> None:
        from IPython.display import Markdown, display

        for text in step_markdown(q, step, self.state["revealed"], self.app.language.value):
            display(Markdown(text))

    def ask(self, step: str) -> None:
        q = self.round.question
        self.state["revealed"] = False
        self.check_out.value = ""
        self.set_grading(False)
        self.reveal.disabled = False
        self.coding.layout.display = "none"
        if step == "coding":
            self.code.value = self.app.words()["scratch"] if q.program_round else q.exercise.starter
            self.coding.layout.display = "flex"
        self.render()
        budget = self.app.answer_seconds
        if step == "coding":
            budget = self.app.program_seconds if q.program_round else self.app.coding_seconds
        self.timer.start(budget)

    def on_draw(self, _=None) -> None:
        q = draw_question(self.app.questions, self.app.progress.state, self.app.rng)
        self.state["round"] = Round(q)
        self.draw.disabled = True
        self.ask("answer")

    def on_reveal(self, _=None) -> None:
        self.state["seconds"] = self.timer.stop()
        self.state["revealed"] = True
        self.render()
        self.reveal.disabled = True
        self.set_grading(True)

    def on_grade(self, score: int) -> None:
        nxt = self.round.grade(score, self.state.get("seconds", self.timer.elapsed()))
        if nxt is not None:
            self.ask(nxt)
            return
        self.timer.stop()
        self.clock.value = ""
        self.set_grading(False)
        self.coding.layout.display = "none"
        self.state["saved"] = self.app.save(lambda: self.app.progress.add(self.round), self.app.progress)
        self.answer.clear_output()
        self.show_chart()
        self.show_done()
        self.draw.disabled = False
        self.app.refresh_progress()

    def show_done(self) -> None:
        ui, (key, arg) = self.app.words(), self.state["saved"]
        self.status.value = ui["done"].format(score=round_score(self.round.grades), saved=ui[key].format(path=arg, e=arg))
        self.prompt.value = ui["again"]

    def on_check(self, _=None) -> None:
        q = self.round.question
        if q.program_round:
            self.run_program(q)
            return
        passed, out = run_self_check(q.exercise, self.code.value)
        self.show_check((self.app.words()["passed"] if passed else self.app.words()["not_yet"]) + "\n" + out)

    def show_check(self, text: str) -> None:
        self.check_out.value = f"<pre style='white-space:pre-wrap'>{html.escape(text)}</pre>"

    def run_program(self, q: Question) -> None:
        """Save the scratch box, run it with the task's outcome check, show what passed and failed."""
        from visrec_book.coding_round import TASK_CHECKS, report_text, run_check

        ui, lang = self.app.words(), self.app.language.value
        scratch = self.app.save_scratch(q.task, self.code.value)
        if q.task not in TASK_CHECKS:
            self.show_check(ui["no_check"].format(task=q.task).replace("**", ""))
            return
        self.show_check(ui["running"].format(limit=TASK_CHECKS[q.task].time_limit_s)
                        + (" " + ui["scratch_saved"].format(path=scratch) if scratch else ""))
        report = run_check(q.task, self.code.value, seed=self.app.seed or 0)
        self.round.check_passed = report.passed
        self.show_check(report_text(report, lang))

    def on_language(self) -> None:
        if self.step is not None:
            self.render()
            return
        self.timer.lang = self.app.language.value
        self.label_buttons()
        if "round" in self.state:
            self.show_done()
        else:
            self.status.value = self.app.words()["intro"].format(n=len(self.app.questions),
                                                                 rounds=len(self.app.progress.state))


class _DesignRound:
    """The design round's widgets and steps: start (question and timer), rubric (ticks), save."""

    def __init__(self, app: _MockInterview):
        import ipywidgets as w

        from visrec_book.design_round import RUBRIC

        self.app, self.seconds = app, 0.0
        wide = {"layout": w.Layout(width="auto")}
        self.status = _widget(w.HTML, "visrec-dr-status")
        self.prompt = _widget(w.HTML, "visrec-dr-question")
        self.clock = _widget(w.HTML, "visrec-dr-timer")
        self.start = _widget(w.Button, "visrec-dr-start", icon="play", button_style="primary", **wide)
        self.show = _widget(w.Button, "visrec-dr-rubric", icon="list", disabled=True, **wide)
        self.save_button = _widget(w.Button, "visrec-dr-save", icon="save", disabled=True, **wide)
        self.ticks = {p.key: _widget(w.Checkbox, f"visrec-dr-tick-{p.key}", indent=False, value=False)
                      for p in RUBRIC}
        self.answers = {p.key: _widget(w.HTML, "visrec-dr-answer") for p in RUBRIC}
        self.rubric = w.VBox([w.VBox([self.ticks[p.key], self.answers[p.key]]) for p in RUBRIC],
                             layout=w.Layout(display="none"))
        self.timer = _Timer(self.clock, app.lang)
        self.start.on_click(self.on_start)
        self.show.on_click(self.on_rubric)
        self.save_button.on_click(self.on_save)
        self.box = _widget(w.VBox, "visrec-mi-design", children=[
            self.status, w.HBox([self.start, self.show, self.save_button]), self.prompt, self.clock, self.rubric])

    def render(self) -> None:
        from visrec_book.design_round import QUESTION, RUBRIC

        ui, lang = self.app.words(), self.app.language.value
        self.timer.lang = lang
        self.start.description, self.show.description = ui["design_start"], ui["design_rubric"]
        self.save_button.description = ui["design_save"]
        started = self.timer.t0 is not None
        self.prompt.value = (ui["design_ask"].format(question=html.escape(QUESTION[lang])) if started
                             else ui["design_intro"])
        for p in RUBRIC:
            self.ticks[p.key].description = p.title(lang)
            self.answers[p.key].value = f"<small>{html.escape(p.answer(lang))}</small>"
        if self.rubric.layout.display != "none" and not self.status.value.startswith("<b>"):
            self.status.value = ui["design_tick"]
        elif not self.status.value and self.app.design.set_aside:  # found corrupt when the app opened
            self.status.value = ui["set_aside"].format(path=html.escape(str(self.app.design.set_aside[-1])))

    def on_start(self, _=None) -> None:
        self.rubric.layout.display = "none"
        for t in self.ticks.values():
            t.value = False
        self.status.value = ""
        self.timer.start(self.app.design_seconds)
        self.render()
        self.show.disabled, self.save_button.disabled = False, True

    def on_rubric(self, _=None) -> None:
        self.seconds = self.timer.stop()
        self.rubric.layout.display = "flex"
        self.status.value = self.app.words()["design_tick"]
        self.show.disabled, self.save_button.disabled = True, False
        self.render()

    def on_save(self, _=None) -> None:
        ticked = {k: t.value for k, t in self.ticks.items()}
        records = self.app.design
        key, arg = self.app.save(lambda: records.add(ticked, self.seconds), records)
        ui, k = self.app.words(), sum(ticked.values())
        self.status.value = ui["design_saved"].format(k=k, n=len(ticked), score=k / len(ticked),
                                                      saved=ui[key].format(path=arg, e=arg))
        if records.set_aside:
            self.status.value += ui["set_aside"].format(path=html.escape(str(records.set_aside[-1])))
        self.save_button.disabled = True
        self.clock.value = ""
        self.app.refresh_progress()


class _MockInterview:
    """The app: a language toggle over three tabs (question round, design round, progress)."""

    def __init__(self, questions, progress, seed, answer_seconds, coding_seconds, lang, questions_zh,
                 design, schedule, program_seconds, design_seconds):
        import ipywidgets as w
        import numpy as np

        from visrec_book.design_round import DesignRecords
        from visrec_book.flashcards import Schedule
        from visrec_book.practice_progress import progress_view

        self.lang = check_lang(lang)
        self.questions = load_questions() if questions is None else questions
        self.zh = (translated_questions(self.questions, "zh") if questions_zh is None
                   else {q.id: q for q in questions_zh})
        self.progress = Progress() if progress is None else progress
        folder = self.progress.path.parent if self.progress.path is not None else None
        self.design = DesignRecords(folder and folder / "design_rounds.json") if design is None else design
        schedule = Schedule(folder and folder / "flashcards.json") if schedule is None else schedule
        self.seed, self.rng = seed, np.random.default_rng(seed)
        self.answer_seconds, self.coding_seconds = answer_seconds, coding_seconds
        self.program_seconds, self.design_seconds = program_seconds, design_seconds
        self.language = _widget(w.ToggleButtons, "visrec-mi-lang", options=[("English", "en"), ("中文", "zh")],
                                value=lang, style={"button_width": "auto"})
        self.question_round, self.design_round = _QuestionRound(self), _DesignRound(self)
        self.progress_view = progress_view(self.progress, schedule, self.design, lang, [q.id for q in self.questions])
        self.tabs = _widget(w.Tab, "visrec-mi-tabs", children=[self.question_round.box, self.design_round.box,
                                                               self.progress_view])
        self.language.observe(lambda _: self.on_language(), names="value")
        self.tabs.observe(lambda change: change["new"] == 2 and self.refresh_progress(), names="selected_index")
        self.widget = _widget(w.VBox, "visrec-mock-interview", children=[self.language, self.tabs])
        self.on_language()
        self.question_round.show_chart()

    def words(self) -> dict:
        return MOCK_UI[self.language.value]

    def shown(self, q: Question) -> tuple[Question, bool]:
        """The question in the chosen language, and whether it had to fall back to English."""
        if self.language.value == "zh":
            return (self.zh[q.id], False) if q.id in self.zh else (q, True)
        return q, False

    def on_language(self) -> None:
        self.tabs.titles = self.words()["tabs"]
        self.question_round.on_language()
        self.design_round.render()
        self.progress_view.set_lang(self.language.value)

    def refresh_progress(self) -> None:
        self.progress_view.set_lang(self.language.value)  # re-reads the record files and redraws

    @staticmethod
    def save(add, store) -> tuple[str, str]:
        """Run ``add`` (which saves to ``store``); returns the words key and argument of its outcome."""
        try:
            add()
        except ScheduleError as exc:
            return "save_failed", html.escape(str(exc))
        return ("saved", html.escape(str(store.path))) if store.path else ("not_saved", "")

    def save_scratch(self, task: str, code: str) -> Path | None:
        """Keep the learner's program beside the progress file (``scratch/<task>.py``); None in memory."""
        if self.progress.path is None:
            return None
        path = self.progress.path.parent / "scratch" / f"{task}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code, encoding="utf-8")
        return path


def mock_interview_app(questions: list[Question] | None = None, progress: Progress | None = None,
                       seed: int | None = None, answer_seconds: int = ANSWER_SECONDS,
                       coding_seconds: int = CODING_SECONDS, lang: str = "en",
                       questions_zh: list[Question] | None = None, design=None, schedule=None,
                       program_seconds: int = PROGRAM_SECONDS, design_seconds: int | None = None):
    """The mock interview as an ipywidgets app (see the module docstring): a language toggle and three
    tabs, the question round, the design round and the progress view.

    The toggle switches between English and Chinese (``lang`` is the starting one) at any step of a
    round: the question, the revealed answer and the app's own words change, the timer and the grades
    stay. ``questions`` are the English questions (default: read from the notebooks); ``questions_zh``
    their Chinese versions (default: read from the notebooks named by the questions' ids). A question
    without a Chinese version shows in English, saying so. ``design`` (``design_round.DesignRecords``)
    and ``schedule`` (``flashcards.Schedule``, read by the progress view) default to the files beside
    ``progress``'s (in memory when it has none).
    """
    from visrec_book.design_round import DESIGN_SECONDS

    app = _MockInterview(questions, progress, seed, answer_seconds, coding_seconds, lang, questions_zh, design,
                         schedule, program_seconds, DESIGN_SECONDS if design_seconds is None else design_seconds)
    return app.widget

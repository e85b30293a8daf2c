"""Mock interview: a timed question, its follow-ups, then a coding exercise, graded by the learner.

One round: draw an interview question (q01-q15), answer it aloud while a timer runs, reveal the
notebook's own "Answer in 60 seconds" and grade yourself; then each of its follow-up questions in
turn (question, timer, reveal, grade); then the matching coding task's exercise (``TASK_FOR``) with
its own self-check, against a longer timer. Every part is graded 0 (missed), 1 (partly) or 2 (nailed
it). Rounds are saved to ``~/.visrec/mock_interviews.json`` through ``flashcards.LockedJsonStore``
(merged under a file lock, replaced atomically) and plotted as scores over days.

All text is read from the notebooks every time (one source of truth): the question is the
notebook's title, the answers come from its "Answer in 60 seconds" and "Follow-up questions"
sections, the exercise (statement, starter, self-check, solution) from the task notebook. In
Chinese (``lang="zh"``, a toggle in the app) the question is the notebook's original title and the
answers come from its "60 秒回答" and "追问" sections; the exercise stays as the task notebook has it.
"""

from __future__ import annotations

import ast
import contextlib
import datetime as dt
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
ANSWER_SECONDS = 120   # the timer's budget for saying an answer aloud
CODING_SECONDS = 900   # and for the coding exercise

# question -> (coding task, exercise number): the task that puts the question's idea into code, and
# one of its exercises whose self-check needs nothing but the task notebook's imports.
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
                   lang: str = "en") -> list[Question]:
    """The interview questions (q01-q15) in ``folder``, each with its follow-ups and coding exercise,
    in ``lang`` ("en", or "zh": the Chinese title, 60-second answer and follow-ups; the coding exercise
    stays as its notebook writes it)."""
    check_lang(lang)
    folder = Path(folder)
    task_for = TASK_FOR if task_for is None else task_for
    questions = []
    for path in list_notebooks(folder):
        if not re.match(r"q\d\d_", path.name):
            continue
        if path.stem not in task_for:
            raise ValueError(f"task_for: no coding task for {path.stem!r}; add it to mock_interview.TASK_FOR")
        task, number = task_for[path.stem]
        exercise = exercise_from_notebook(folder / f"{task}.ipynb", number)
        questions.append(question_from_notebook(path, exercise, lang))
    return questions


def question_from_notebook(path: Path | str, exercise: CodingExercise, lang: str = "en") -> Question:
    """One interview question read from its notebook in ``lang``, with the given coding exercise; a
    ValueError names the section it lacks."""
    card = card_from_notebook(Path(path), lang)
    if card is None:
        heading = "Answer in 60 seconds" if lang == "en" else "60 秒回答"
        raise ValueError(f"{Path(path).name}: no '{heading}' section")
    return Question(Path(path).stem, card.question, card.answer, followups_from_notebook(path, lang), exercise)


def translated_questions(questions: list[Question], lang: str, folder: Path | str = NOTEBOOK_DIR) -> dict[str, Question]:
    """``{id: the question in lang}`` for those of ``questions`` whose notebook in ``folder`` has that
    language with as many follow-ups (so a round can switch language at any step); others left out."""
    found = {}
    for q in questions:
        path = Path(folder) / f"{q.id}.ipynb"
        if not path.exists():
            continue
        try:
            other = question_from_notebook(path, q.exercise, lang)
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
        return {"date": (today or dt.date.today()).isoformat(), "question": self.question.id,
                "grades": dict(self.grades), "seconds": dict(self.seconds)}


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
    """Finished rounds, ``{round id: {"date", "question", "grades": {step: 0-2}, "seconds"}}``, in one
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
           "reveal_solution": "Reveal the solution", "grades": GRADES, "check": "Run self-check",
           "answer": "answer", "follow-up": "follow-up", "coding": "coding",
           "part": "<b>{id}</b>: part {i} of {n} ({step})",
           "ask_answer": "<h3>{title}</h3><i>Answer aloud as in an interview, then reveal the notebook's "
                         "60-second answer.</i>",
           "ask_followup": "<h4>Follow-up {i} of {n}: {question}</h4><i>Answer aloud, then reveal.</i>",
           "ask_coding": "<h4>Coding: exercise {number} of {notebook}</h4><i>Write it in the box, run its "
                         "self-check, then reveal the solution and grade yourself.</i>",
           "from": "From `{id}.ipynb`.", "solution": "**Solution** (from `{notebook}.ipynb`):",
           "done": "<b>Round done</b>: {score:.0%} of the best grade; {saved}.",
           "saved": "saved to <code>{path}</code>", "not_saved": "not saved", "save_failed": "<b>not saved</b>: {e}",
           "again": "<i>Draw another question when ready.</i>",
           "intro": "{n} questions, {rounds} rounds so far", "passed": "PASSED", "not_yet": "NOT YET",
           "untranslated": ""},
    "zh": {"time": "用时", "late": "（超时）", "draw": "抽一道题", "reveal": "看参考答案",
           "reveal_solution": "看参考解法", "grades": {0: "没答上", 1: "答了一部分", 2: "答得很好"},
           "check": "运行自检", "answer": "回答", "follow-up": "追问", "coding": "编程",
           "part": "<b>{id}</b>：第 {i} / {n} 部分（{step}）",
           "ask_answer": "<h3>{title}</h3><i>像真实面试一样大声作答，然后再看 notebook 里的 60 秒回答。</i>",
           "ask_followup": "<h4>追问 {i} / {n}：{question}</h4><i>先大声回答，再看答案。</i>",
           "ask_coding": "<h4>编程：{notebook} 的练习 {number}</h4><i>在框里写代码，运行自检，然后看参考解法，"
                         "给自己打分。（题目是英文的。）</i>",
           "from": "出自 `{id}.ipynb`。", "solution": "**参考解法**（出自 `{notebook}.ipynb`）：",
           "done": "<b>本轮结束</b>：得分为满分的 {score:.0%}；{saved}。",
           "saved": "已保存到 <code>{path}</code>", "not_saved": "未保存", "save_failed": "<b>未保存</b>：{e}",
           "again": "<i>准备好了就再抽一道。</i>",
           "intro": "共 {n} 道题，已练 {rounds} 轮", "passed": "通过", "not_yet": "还没通过",
           "untranslated": "<br><small>（这道题还没有中文版，先显示英文。）</small>"},
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


def mock_interview_app(questions: list[Question] | None = None, progress: Progress | None = None,
                       seed: int | None = None, answer_seconds: int = ANSWER_SECONDS,
                       coding_seconds: int = CODING_SECONDS, lang: str = "en",
                       questions_zh: list[Question] | None = None):
    """The mock interview as an ipywidgets app (see the module docstring for one round).

    A toggle switches between English and Chinese (``lang`` is the starting one) at any step of a
    round: the question, the revealed answer and the app's own words change, the timer and the grades
    stay. ``questions`` are the English questions (default: read from the notebooks); ``questions_zh``
    their Chinese versions (default: read from the notebooks named by the questions' ids). A question
    without a Chinese version shows in English, saying so.
    """
    import html

    import ipywidgets as w
    import matplotlib.pyplot as plt
    import numpy as np
    from IPython.display import Markdown, display

    check_lang(lang)
    questions = load_questions() if questions is None else questions
    zh = translated_questions(questions, "zh") if questions_zh is None else {q.id: q for q in questions_zh}
    progress = Progress() if progress is None else progress
    rng = np.random.default_rng(seed)
    state: dict = {"revealed": False}

    def cls(widget, name):
        widget.add_class(name)
        return widget

    status = cls(w.HTML(), "visrec-mi-status")
    prompt = cls(w.HTML(), "visrec-mi-question")
    clock = cls(w.HTML(), "visrec-mi-timer")
    answer = cls(w.Output(), "visrec-mi-answer")
    wide = {"layout": w.Layout(width="auto")}
    draw = cls(w.Button(icon="random", button_style="primary", **wide), "visrec-mi-draw")
    reveal = cls(w.Button(icon="eye", disabled=True, **wide), "visrec-mi-reveal")
    grade_buttons = [cls(w.Button(disabled=True, **wide, button_style=["danger", "warning", "success"][g]),
                         f"visrec-mi-grade-{g}") for g in GRADES]
    language = cls(w.ToggleButtons(options=[("English", "en"), ("中文", "zh")], value=lang,
                                   style={"button_width": "auto"}), "visrec-mi-lang")
    code = cls(w.Textarea(layout=w.Layout(width="100%", height="180px")), "visrec-mi-code")
    run_check = cls(w.Button(icon="play", **wide), "visrec-mi-check")
    check_out = cls(w.Output(), "visrec-mi-check-output")
    coding = w.VBox([code, run_check, check_out], layout=w.Layout(display="none"))
    chart = cls(w.Output(), "visrec-mi-progress")
    timer = _Timer(clock, lang)

    def words() -> dict:
        return MOCK_UI[language.value]

    def shown(q: Question) -> tuple[Question, bool]:
        """The question in the chosen language, and whether it had to fall back to English."""
        if language.value == "zh":
            return (zh[q.id], False) if q.id in zh else (q, True)
        return q, False

    def show_chart():
        chart.clear_output(wait=True)
        with chart:
            fig, ax = plt.subplots(figsize=(7, 2.8))
            plot_progress(progress.state, ax)
            plt.show()
            plt.close(fig)

    def set_grading(on: bool):
        for b in grade_buttons:
            b.disabled = not on

    def label_buttons():
        ui = words()
        step = state["round"].step if "round" in state else None
        draw.description = ui["draw"]
        reveal.description = ui["reveal_solution"] if step == "coding" else ui["reveal"]
        for g, b in zip(GRADES, grade_buttons):
            b.description = f"{ui['grades'][g]} ({g})"
        run_check.description = ui["check"]

    def step_name(step: str) -> str:
        kind, *number = step.split()
        return " ".join([words()[kind], *number])

    def render():
        """Show the current step (question, and the answer once revealed) in the chosen language."""
        ui = words()
        timer.lang = language.value
        label_buttons()
        rnd: Round | None = state.get("round")
        step = rnd.step if rnd is not None else None
        if step is None:
            return
        q, fallback = shown(rnd.question)
        note = ui["untranslated"] if fallback else ""
        status.value = ui["part"].format(id=html.escape(q.id), i=q.steps.index(step) + 1, n=len(q.steps),
                                         step=step_name(step))
        if step == "answer":
            prompt.value = ui["ask_answer"].format(title=html.escape(q.title)) + note
        elif step.startswith("follow-up"):
            i = int(step.split()[1])
            prompt.value = ui["ask_followup"].format(i=i, n=len(q.followups),
                                                     question=html.escape(q.followups[i - 1].question)) + note
        else:
            ex = q.exercise
            prompt.value = ui["ask_coding"].format(number=ex.number, notebook=html.escape(ex.notebook))
        answer.clear_output()
        with answer:
            if step == "coding":
                display(Markdown(q.exercise.text))
                if state["revealed"]:
                    display(Markdown(ui["solution"].format(notebook=q.exercise.notebook)
                                     + f"\n\n```python\n{q.exercise.solution}\n```"))
            elif state["revealed"] and step == "answer":
                display(Markdown(q.answer + "\n\n*" + ui["from"].format(id=q.id) + "*"))
            elif state["revealed"]:
                display(Markdown(q.followups[int(step.split()[1]) - 1].answer))

    def ask(step: str):
        rnd: Round = state["round"]
        state["revealed"] = False
        check_out.clear_output()
        set_grading(False)
        reveal.disabled = False
        coding.layout.display = "none"
        if step == "coding":
            code.value = rnd.question.exercise.starter
            coding.layout.display = "flex"
        render()
        timer.start(coding_seconds if step == "coding" else answer_seconds)

    def on_draw(_):
        q = draw_question(questions, progress.state, rng)
        state["round"] = Round(q)
        draw.disabled = True
        ask("answer")

    def on_reveal(_):
        state["seconds"] = timer.stop()
        state["revealed"] = True
        render()
        reveal.disabled = True
        set_grading(True)

    def on_grade(score):
        def handler(_):
            rnd: Round = state["round"]
            nxt = rnd.grade(score, state.get("seconds", timer.elapsed()))
            if nxt is not None:
                ask(nxt)
                return
            timer.stop()
            clock.value = ""
            set_grading(False)
            coding.layout.display = "none"
            try:
                progress.add(rnd)
                state["saved"] = ("saved", html.escape(str(progress.path))) if progress.path else ("not_saved", "")
            except ScheduleError as exc:
                state["saved"] = ("save_failed", html.escape(str(exc)))
            answer.clear_output()
            show_chart()
            show_done()
            draw.disabled = False
        return handler

    def show_done():
        ui, (key, arg) = words(), state["saved"]
        saved = ui[key].format(path=arg, e=arg)
        status.value = ui["done"].format(score=round_score(state["round"].grades), saved=saved)
        prompt.value = ui["again"]

    def on_check(_):
        passed, out = run_self_check(state["round"].question.exercise, code.value)
        check_out.clear_output()
        with check_out:
            print((words()["passed"] if passed else words()["not_yet"]) + "\n" + out)

    def on_language(_):
        if "round" in state and state["round"].step is not None:
            render()
        else:
            timer.lang = language.value
            label_buttons()
            if "round" in state:
                show_done()
            else:
                status.value = words()["intro"].format(n=len(questions), rounds=len(progress.state))

    draw.on_click(on_draw)
    reveal.on_click(on_reveal)
    for g, b in zip(GRADES, grade_buttons):
        b.on_click(on_grade(g))
    run_check.on_click(on_check)
    language.observe(on_language, names="value")
    label_buttons()
    status.value = words()["intro"].format(n=len(questions), rounds=len(progress.state))
    show_chart()
    return cls(w.VBox([status, w.HBox([draw, reveal, language]), prompt, clock, answer, coding,
                       w.HBox(grade_buttons), chart]), "visrec-mock-interview")

"""The coding round: write a task's whole program against the clock, then an outcome check runs it.

A task notebook's **interview version** (its code cells tagged ``interview``) is the program a
candidate writes in 45 minutes. In the mock interview the learner writes that program in a scratch
box; ``run_check`` saves it to a temporary folder and runs it in a fresh Python process, offline
(``netguard``), under a time limit, with ``SEED`` defined. After the program ends, the task's
check (``TaskCheck.measure``, run in that same process) reads what the program left in its
namespace, measures the outcome itself (the held-out accuracy from the true labels, not the
number the program prints) and says which criteria passed. The same check runs on the
notebook's own interview version in the tests, so the contract and the revealed answer agree.

A task plugs in by adding a ``TaskCheck`` to ``TASK_CHECKS``: what the program must leave (in
English and Chinese) and a ``measure`` function. A task without an interview version or a check
says so plainly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from visrec_book.workbook import NOTEBOOK_DIR

ROOT = Path(__file__).resolve().parent.parent
TAIL_CHARS = 3000  # what the round shows of a program's output
T01 = "t01_cnn_image_classification"
T01_BAR = 0.95  # held-out accuracy bar: the interview version reaches 0.966-0.975 at seeds 0-2, kNN 0.934-0.944


@dataclass(frozen=True)
class Outcome:
    """One criterion of a check: its name in both languages, whether it passed, and what was measured."""
    name_en: str
    name_zh: str
    passed: bool
    detail: str = ""

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name_en


@dataclass(frozen=True)
class TaskCheck:
    """An outcome-based check of one task's program.

    ``contract_en``/``contract_zh``: what the program must define (shown with the task).
    ``measure(namespace, seed)``: runs in the program's process after it ends; returns the outcomes.
    ``time_limit_s``: the program is stopped after this long.
    """
    task: str
    contract_en: str
    contract_zh: str
    measure: Callable[[dict, int], list[Outcome]]
    time_limit_s: float = 300.0

    def contract(self, lang: str) -> str:
        return self.contract_zh if lang == "zh" else self.contract_en


@dataclass
class CheckReport:
    """What running a program and its check gave."""
    task: str
    outcomes: list[Outcome] = field(default_factory=list)
    output: str = ""        # the tail of the program's stdout and stderr
    error: str = ""         # why it did not finish (time limit, the exception), "" when it did
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.error and bool(self.outcomes) and all(o.passed for o in self.outcomes)


# ---------------------------------------------------------------------------------------------
# t01: a CNN image classifier on the bundled MNIST 5k
# ---------------------------------------------------------------------------------------------

def _indices(namespace: dict, name: str, n: int):
    import numpy as np

    idx = np.asarray(namespace[name]).ravel()
    if idx.dtype.kind not in "iu" or idx.size == 0 or idx.min() < 0 or idx.max() >= n:
        raise ValueError(f"{name} must be integer indices into load_mnist()'s {n} images")
    return idx


def measure_t01(namespace: dict, seed: int) -> list[Outcome]:
    """t01: ``predict(images)`` (uint8 ``(n, 28, 28)`` -> labels) scored on the program's own held-out
    ``test_idx`` against the true labels of ``load_mnist()``; ``train_idx`` must not overlap it."""
    import numpy as np

    from visrec_helpers.data import load_mnist

    missing = [n for n in ("predict", "train_idx", "test_idx") if n not in namespace]
    if missing:
        return [Outcome("defines predict, train_idx, test_idx", "定义了 predict、train_idx、test_idx", False,
                        f"missing: {', '.join(missing)}")]
    X, y = load_mnist()
    train_idx, test_idx = _indices(namespace, "train_idx", len(y)), _indices(namespace, "test_idx", len(y))
    overlap = np.intersect1d(train_idx, test_idx).size
    outcomes = [
        Outcome("held-out set of at least 500 images", "留出集至少 500 张", len(np.unique(test_idx)) >= 500,
                f"{len(np.unique(test_idx))} images"),
        Outcome("no test image in training", "训练集里没有测试图片", overlap == 0, f"{overlap} shared"),
    ]
    pred = np.asarray(namespace["predict"](X[test_idx])).ravel()
    if pred.shape != test_idx.shape:
        return outcomes + [Outcome("predict returns one label per image", "predict 对每张图返回一个标签", False,
                                   f"{pred.shape[0]} labels for {test_idx.shape[0]} images")]
    accuracy = float((pred == y[test_idx]).mean())
    return outcomes + [Outcome(f"held-out accuracy >= {T01_BAR:.2f}", f"留出集准确率 >= {T01_BAR:.2f}",
                               accuracy >= T01_BAR, f"{accuracy:.3f}, measured by the check")]


TASK_CHECKS: dict[str, TaskCheck] = {
    T01: TaskCheck(
        T01,
        "Load the digits with `visrec_helpers.data.load_mnist()` and hold out a test split first. Leave "
        "`train_idx` and `test_idx` (indices into those 5,000 images) and `predict(images)`, which maps "
        "uint8 images `(n, 28, 28)` to labels. `SEED` is defined. The check scores `predict` on your "
        f"`test_idx` with the true labels: held-out accuracy >= {T01_BAR:.2f}, within 5 minutes, offline.",
        "用 `visrec_helpers.data.load_mnist()` 读入数字，先切出测试集。程序结束时要留下 `train_idx`、`test_idx`"
        "（这 5000 张图的下标）和 `predict(images)`：输入 uint8 的 `(n, 28, 28)` 图片，返回标签。`SEED` 已定义。"
        f"检查会用真实标签在你的 `test_idx` 上给 `predict` 打分：留出集准确率 >= {T01_BAR:.2f}，5 分钟内跑完，不联网。",
        measure_t01,
    ),
}


# ---------------------------------------------------------------------------------------------
# interview versions, read from the notebooks
# ---------------------------------------------------------------------------------------------

def interview_cells(task: str, folder: Path | str = NOTEBOOK_DIR) -> list[tuple[str, str]]:
    """``(cell type, source)`` of the cells tagged ``interview`` in ``folder/task.ipynb``, in order;
    empty when the notebook has none (no interview version yet)."""
    path = Path(folder) / f"{task}.ipynb"
    if not path.exists():
        return []
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [(c["cell_type"], "".join(c["source"])) for c in nb["cells"]
            if "interview" in c.get("metadata", {}).get("tags", [])]


def interview_program(task: str, folder: Path | str = NOTEBOOK_DIR) -> str:
    """The interview version's code cells joined into one program ("" when there is none)."""
    return "\n\n".join(src for kind, src in interview_cells(task, folder) if kind == "code")


def interview_markdown(task: str, folder: Path | str = NOTEBOOK_DIR) -> str:
    """The interview version as markdown to reveal: its prose, and its code in fenced blocks."""
    parts = [src if kind == "markdown" else f"```python\n{src}\n```" for kind, src in interview_cells(task, folder)]
    return "\n\n".join(parts)


# ---------------------------------------------------------------------------------------------
# running a program and its check
# ---------------------------------------------------------------------------------------------

def _child(task: str, program: str, seed: int, result: str) -> None:
    """In the fresh process: go offline, run the program, measure, write the outcomes to ``result``."""
    import runpy
    import traceback

    from visrec_book import netguard

    netguard.install()
    report: dict = {"outcomes": [], "error": ""}
    try:
        namespace = runpy.run_path(program, init_globals={"SEED": seed}, run_name="__main__")
    except BaseException as exc:  # the learner's program failed: show the frames from its own first
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != program:
            tb = tb.tb_next
        report["error"] = "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))
    else:
        try:
            report["outcomes"] = [o.__dict__ for o in TASK_CHECKS[task].measure(namespace, seed)]
        except Exception as exc:  # what the program left does not fit the contract
            report["error"] = f"the check could not use what your program left: {type(exc).__name__}: {exc}"
    Path(result).write_text(json.dumps(report), encoding="utf-8")


def _tail(text: str) -> str:
    return text if len(text) <= TAIL_CHARS else "...\n" + text[-TAIL_CHARS:]


def run_check(task: str, program: str, seed: int = 0, time_limit_s: float | None = None) -> CheckReport:
    """Run ``program`` (the source of a whole program) for ``task`` in a fresh process, offline, with
    ``SEED = seed``, stopped after ``time_limit_s`` (default: the task's); then its check. A program
    that crashes reports its traceback, one that runs too long says so."""
    if task not in TASK_CHECKS:
        raise ValueError(f"task: {task!r} has no outcome check yet (checks exist for {sorted(TASK_CHECKS)})")
    limit = TASK_CHECKS[task].time_limit_s if time_limit_s is None else time_limit_s
    with tempfile.TemporaryDirectory(prefix="visrec-coding-") as tmp:
        script, result = Path(tmp) / "program.py", Path(tmp) / "result.json"
        script.write_text(program, encoding="utf-8")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                   MPLBACKEND="Agg", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
        cmd = [sys.executable, "-c", "import sys; from visrec_book.coding_round import _child; _child(*sys.argv[1:3], "
               "int(sys.argv[3]), sys.argv[4])", task, str(script), str(seed), str(result)]
        return _run_child(task, cmd, env, tmp, limit, result)


def _run_child(task: str, cmd: list[str], env: dict, cwd: str, limit: float, result: Path) -> CheckReport:
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, _ = proc.communicate()
        return CheckReport(task, output=_tail(out or ""), seconds=time.monotonic() - t0,
                           error=f"time limit: stopped after {limit:g} s")
    seconds = time.monotonic() - t0
    if not result.exists():
        return CheckReport(task, output=_tail(out or ""), seconds=seconds,
                           error=f"the program's process ended with code {proc.returncode} before the check ran")
    report = json.loads(result.read_text(encoding="utf-8"))
    return CheckReport(task, [Outcome(**o) for o in report["outcomes"]], _tail(out or ""), report["error"], seconds)


def _kill_group(proc: subprocess.Popen) -> None:
    """Stop the program and whatever it started (it runs in its own process group)."""
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def report_text(report: CheckReport, lang: str = "en") -> str:
    """The report as the round shows it: one line per criterion, then the error and the output."""
    zh = lang == "zh"
    head = ("通过" if zh else "PASSED") if report.passed else ("还没通过" if zh else "NOT YET")
    lines = [f"{head} ({report.seconds:.0f} s)"]
    lines += [f"[{'ok' if o.passed else 'x '}] {o.name(lang)}: {o.detail}" for o in report.outcomes]
    if report.error:
        lines += ["", ("没跑完：" if zh else "did not finish: ") + report.error.strip()]
    if report.output.strip():
        lines += ["", "程序输出：" if zh else "program output:", report.output.rstrip()]
    return "\n".join(lines)

"""Interview practice: flashcards drawn from the notebooks' own "Answer in 60 seconds" (or "60 秒回答").

The card text is read from the notebooks every time (one source of truth, never a copy).
A Leitner schedule decides what is due: a card you knew moves up a box and comes back later;
a card you missed goes back to box 1 and is due today. The schedule is a small JSON file,
merged under a file lock and replaced atomically on every save.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from visrec_book.workbook import NOTEBOOK_DIR, list_notebooks

INTERVALS_DAYS = [0, 1, 3, 7, 14, 30]  # box 1 .. box 6
DEFAULT_SCHEDULE = Path.home() / ".visrec" / "flashcards.json"


LANGS = ("en", "zh")
# the heading of the 60-second answer in each language (docs/notebook-anatomy.md, "The Chinese layer")
ANSWER_HEADINGS = {"en": "Answer in 60 seconds", "zh": "60 秒回答"}


def check_lang(lang: str) -> str:
    """``lang`` itself when it is one of ``LANGS``; otherwise a ValueError naming it."""
    if lang not in LANGS:
        raise ValueError(f"lang: {lang!r} is not one of {list(LANGS)} (English, Chinese)")
    return lang


@dataclass(frozen=True)
class Card:
    id: str         # notebook stem, e.g. "q01_content_based_recommendation"
    question: str   # the notebook's title (lang="zh": its original Chinese title)
    answer: str     # the markdown of its "Answer in 60 seconds" (lang="zh": "60 秒回答") section


def markdown_cells(path: Path | str) -> list[str]:
    """The source of every markdown cell of a notebook, in order."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]


def section(markdown: list[str], heading: str) -> str | None:
    """The body of the first ``## <heading>`` section (up to the next ``##`` heading or the end of its
    cell), stripped; None when no cell has it. ``heading`` is a regular expression."""
    for m in markdown:
        match = re.search(rf"^##\s+{heading}\s*\n(.*?)(?=^##\s|\Z)", m, re.S | re.M)
        if match:
            return match.group(1).strip()
    return None


def titles(markdown: list[str]) -> tuple[str | None, str | None]:
    """(English title, Chinese title): the first ``# `` heading, and its ``[Original title: ...]`` line
    (the article's question) prefixed like the English one (``q01 · ...``); None for what is missing."""
    lines = [ln.strip() for m in markdown for ln in m.splitlines()]
    title = next((re.sub(r"^#\s+", "", ln) for ln in lines if ln.startswith("# ")), None)
    original = next((hit.group(1).strip() for ln in lines
                     if (hit := re.match(r"^\[Original title:\s*(.+?)\]$", ln))), None)
    if title is None or original is None:
        return title, None
    prefix = title.split(" · ")[0] + " · " if " · " in title else ""
    return title.strip(), prefix + original


def card_from_notebook(path: Path, lang: str = "en") -> Card | None:
    """The card of one notebook in ``lang`` ("en" or "zh"), or None when it has no "Answer in 60
    seconds" section (for "zh": no "60 秒回答" section). The Chinese question is the notebook's original
    title (``[Original title: ...]``), the English title when it has none."""
    check_lang(lang)
    md = markdown_cells(path)
    title, title_zh = titles(md)
    answer = section(md, re.escape(ANSWER_HEADINGS[lang]))
    if answer is None or title is None:
        return None
    return Card(Path(path).stem, (title_zh or title) if lang == "zh" else title, answer)


def load_cards(folder: Path | str = NOTEBOOK_DIR, lang: str = "en") -> list[Card]:
    """Cards of every question and task notebook in ``folder`` that has the section in ``lang``, in
    notebook order."""
    check_lang(lang)
    cards = [card_from_notebook(p, lang) for p in list_notebooks(folder) if re.match(r"[qt]\d\d_", p.name)]
    return [c for c in cards if c is not None]


def translated_cards(ids, lang: str, folder: Path | str = NOTEBOOK_DIR) -> dict[str, Card]:
    """The cards in ``lang`` of the notebooks ``ids`` (stems) found in ``folder``; a notebook without
    that language is left out."""
    found = {}
    for i in ids:
        path = Path(folder) / f"{i}.ipynb"
        card = card_from_notebook(path, lang) if path.exists() else None
        if card is not None:
            found[i] = card
    return found


class ScheduleError(ValueError):
    """The schedule file cannot be used (corrupt, locked too long); it is left untouched."""


def _parse_state(text: str, path: Path) -> dict[str, dict]:
    try:
        state = json.loads(text)
        if not isinstance(state, dict):
            raise ValueError("top level is not an object")
        for key, v in state.items():
            box = v["box"]
            if isinstance(box, bool) or not isinstance(box, int) or not 1 <= box <= len(INTERVALS_DAYS):
                raise ValueError(f"card {key!r}: box {box!r} is not 1..{len(INTERVALS_DAYS)}")
            dt.date.fromisoformat(v["due"])
            if "last" in v:
                dt.date.fromisoformat(v["last"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ScheduleError(f"{path}: not a flashcard schedule ({exc}); it was left as it is: move it away "
                            "to start afresh") from None
    return state


class LockedJsonStore:
    """A JSON object ``{key: record}`` in one file that several objects (two notebooks, two browser
    tabs) may share safely; subclasses say what a valid file is (``parse_state``) and what a record is.

    ``save`` takes a lock on ``<file>.lock``, re-reads the file, merges in the keys written through
    this object since its last save (this object's record of a key wins), writes a temporary file
    in the same folder and moves it over the old one (``os.replace``), so the file is always
    complete and no object loses another's records. A file that ``parse_state`` refuses is never
    overwritten: reading or saving raises ``ScheduleError``; or, when ``SET_ASIDE_CORRUPT`` is true,
    it is moved aside to ``<file>.corrupt-<time>`` (listed in ``set_aside``, for the app to report)
    and a fresh file is started.
    """

    LOCK_TIMEOUT_S = 30.0
    SET_ASIDE_CORRUPT = False

    def __init__(self, path: Path | str | None):
        self.path = Path(path) if path is not None else None
        self.state: dict[str, dict] = {}
        self._graded: set[str] = set()
        self.set_aside: list[Path] = []
        if self.path is not None and self.path.exists():
            self.state = self._read()

    def _read(self, locked: bool = False) -> dict[str, dict]:
        """The state in the file; a file ``parse_state`` refuses raises, or is moved aside (then {}),
        under the lock (``locked``: the caller holds it)."""
        try:
            return self.parse_state(self.path.read_text(encoding="utf-8"), self.path)
        except FileNotFoundError:
            return {}
        except ScheduleError:
            if not self.SET_ASIDE_CORRUPT:
                raise
        if not locked:  # read again under the lock: another object may have replaced it meanwhile
            with self._lock():
                return self._read(locked=True)
        stamp = f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S%f}"
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        os.replace(self.path, aside)  # kept, byte for byte, for the learner to inspect or repair
        self.set_aside.append(aside)
        return {}

    @staticmethod
    def parse_state(text: str, path: Path) -> dict[str, dict]:
        """The state stored in ``text`` (read from ``path``); raises ``ScheduleError`` when it is not one."""
        raise NotImplementedError

    def put(self, key: str, record: dict) -> None:
        """Set one key's record and save (merged under the lock, replaced atomically)."""
        self.state[key] = record
        self._graded.add(key)
        self.save()

    def _lock(self):
        from filelock import FileLock

        return FileLock(str(self.path) + ".lock", timeout=self.LOCK_TIMEOUT_S)

    def reload(self, locked: bool = False) -> None:
        """Take in grades other objects saved to the file; this object's unsaved grades are kept."""
        if self.path is None or not self.path.exists():
            return
        aside = len(self.set_aside)
        on_disk = self._read(locked)
        if len(self.set_aside) > aside:  # the file was corrupt and moved aside: keep all this object knows
            self._graded |= set(self.state)
        mine = {k: self.state[k] for k in self._graded if k in self.state}
        self.state = {**on_disk, **mine}

    def save(self) -> None:
        """Merge this object's grades into the file under a lock, then replace it atomically."""
        if self.path is None:
            return
        from filelock import Timeout

        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._lock():
                self.reload(locked=True)
                fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
                try:
                    with os.fdopen(fd, "w", encoding="utf-8") as fh:
                        json.dump(self.state, fh, indent=1, sort_keys=True)
                        fh.flush()
                        os.fsync(fh.fileno())
                    os.replace(tmp, self.path)
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
                self._graded.clear()
        except Timeout:
            raise ScheduleError(f"{self.path}: another program has held {self.path}.lock for over "
                                f"{self.LOCK_TIMEOUT_S:.0f} s; grades not saved yet (try again)") from None


class Schedule(LockedJsonStore):
    """Leitner boxes per card id, persisted as JSON: ``{id: {"box": int, "due": "YYYY-MM-DD", "last":
    "YYYY-MM-DD"}}`` (``last``: the day it was last graded; files from before it have none).

    Several ``Schedule`` objects may share one file (see ``LockedJsonStore``): a save merges the
    cards graded through this object into the file (the later grade of a card wins) and never
    loses another's grades; a file that is not a schedule is never overwritten.
    """

    parse_state = staticmethod(_parse_state)

    def __init__(self, path: Path | str | None = DEFAULT_SCHEDULE):
        super().__init__(path)

    def box(self, card_id: str) -> int:
        return int(self.state.get(card_id, {}).get("box", 1))

    def is_due(self, card_id: str, today: dt.date) -> bool:
        due = self.state.get(card_id, {}).get("due")
        return due is None or dt.date.fromisoformat(due) <= today

    def due_cards(self, cards: list[Card], today: dt.date | None = None) -> list[Card]:
        today = today or dt.date.today()
        return [c for c in cards if self.is_due(c.id, today)]

    def next_card(self, cards: list[Card], rng, today: dt.date | None = None) -> Card | None:
        """A random due card from the lowest box that has one; None when nothing is due."""
        due = self.due_cards(cards, today)
        if not due:
            return None
        lowest = min(self.box(c.id) for c in due)
        pool = [c for c in due if self.box(c.id) == lowest]
        return pool[int(rng.integers(len(pool)))]

    def grade(self, card_id: str, knew_it: bool, today: dt.date | None = None) -> dict:
        """Move a card up a box (knew it) or back to box 1 (did not); save; return its new state."""
        today = today or dt.date.today()
        if self.path is not None:
            self.reload()  # grade from the latest box, which another object may have moved
        box = min(self.box(card_id) + 1, len(INTERVALS_DAYS)) if knew_it else 1
        due = today + dt.timedelta(days=INTERVALS_DAYS[box - 1])
        self.state[card_id] = {"box": box, "due": due.isoformat(), "last": today.isoformat()}
        self._graded.add(card_id)
        self.save()
        return self.state[card_id]


# the flashcard app's words in each language
FLASHCARD_UI = {
    "en": {"hint": "Say your answer out loud, then reveal.", "reveal": "Reveal answer", "knew": "I knew it",
           "missed": "Not yet", "nothing": "<b>Nothing is due today.</b> Come back tomorrow.",
           "due": "{due} of {n} cards due", "open": "Open `{id}.ipynb` for the full answer.",
           "untranslated": ""},
    "zh": {"hint": "先把你的答案大声说出来，再看参考答案。", "reveal": "看答案", "knew": "答上了",
           "missed": "还没掌握", "nothing": "<b>今天没有要复习的卡片。</b>明天再来。",
           "due": "{n} 张卡片里有 {due} 张今天要复习", "open": "完整解答见 `{id}.ipynb`。",
           "untranslated": "<br><small>（这张卡片还没有中文版，先显示英文。）</small>"},
}


def flashcard_app(cards: list[Card] | None = None, schedule: Schedule | None = None, seed: int | None = None,
                  lang: str = "en", cards_zh: list[Card] | None = None):
    """An ipywidgets drill: a due card's question, Reveal, then "I knew it" / "Not yet".

    A toggle switches between English and Chinese (``lang`` is the starting one) at any moment, the
    card shown included; a card keeps its schedule in both languages. ``cards`` are the English cards
    (default: every notebook's); ``cards_zh`` their Chinese versions (default: read from the notebooks
    named by the cards' ids). A card without a Chinese version shows in English, saying so.
    """
    import ipywidgets as w
    import numpy as np
    from IPython.display import Markdown, display

    check_lang(lang)
    cards = load_cards() if cards is None else cards
    if not cards:
        raise ValueError("no flashcards: no notebook has an 'Answer in 60 seconds' section")
    zh = translated_cards([c.id for c in cards], "zh") if cards_zh is None else {c.id: c for c in cards_zh}
    schedule = Schedule() if schedule is None else schedule
    rng = np.random.default_rng(seed)
    question = w.HTML()
    answer = w.Output()
    status = w.HTML()
    reveal = w.Button(icon="eye")
    knew = w.Button(button_style="success", disabled=True)
    missed = w.Button(button_style="warning", disabled=True)
    language = w.ToggleButtons(options=[("English", "en"), ("中文", "zh")], value=lang,
                               style={"button_width": "auto"})
    language.add_class("visrec-fc-lang")
    current: dict = {"revealed": False}

    def shown(card: Card) -> tuple[Card, bool]:
        """The card in the chosen language, and whether it had to fall back to English."""
        if language.value == "zh":
            return (zh[card.id], False) if card.id in zh else (card, True)
        return card, False

    def render():
        ui = FLASHCARD_UI[language.value]
        reveal.description, knew.description, missed.description = ui["reveal"], ui["knew"], ui["missed"]
        card = current.get("card")
        status.value = ui["due"].format(due=len(schedule.due_cards(cards)), n=len(cards))
        answer.clear_output()
        if card is None:
            question.value = ui["nothing"]
            return
        text, fallback = shown(card)
        # the title is text from a notebook (anyone's markdown): escaped before it becomes HTML
        question.value = (f"<h3>{html.escape(text.question)}</h3><i>{ui['hint']}</i>"
                          + (FLASHCARD_UI["zh"]["untranslated"] if fallback else ""))
        if current["revealed"]:
            with answer:
                display(Markdown(text.answer + "\n\n*" + ui["open"].format(id=card.id) + "*"))

    def show_next(*_):
        card = schedule.next_card(cards, rng)
        current.update(card=card, revealed=False)
        if card is None:
            reveal.disabled = knew.disabled = missed.disabled = True
        else:
            reveal.disabled, knew.disabled, missed.disabled = False, True, True
        render()

    def on_reveal(_):
        current["revealed"] = True
        render()
        knew.disabled = missed.disabled = False
        reveal.disabled = True

    reveal.on_click(on_reveal)
    knew.on_click(lambda _: (schedule.grade(current["card"].id, True), show_next()))
    missed.on_click(lambda _: (schedule.grade(current["card"].id, False), show_next()))
    language.observe(lambda _: render(), names="value")
    show_next()
    return w.VBox([w.HBox([status, language]), question, w.HBox([reveal, knew, missed]), answer])

"""Progress that teaches: one row per topic from the mock-interview, flashcard and design-round records.

``topic_table`` joins the three record files (``mock_interview.Progress``, ``flashcards.Schedule``,
``design_round.DesignRecords``) by notebook: how each topic went the last time (score, the steps
graded 0, the coding round's minutes and whether its check passed, the flashcard's box, the design
rubric's share), when it was last practised, whether it is weak and what to practise next.
``plot_topics`` draws it; ``progress_view`` shows both in the notebook with a refresh button.
"""

from __future__ import annotations

import datetime as dt

WEAK_SCORE = 0.5   # a last score below this share of the best grade marks a topic weak
STALE_DAYS = 14    # a topic not practised for longer is due for review

COLUMNS = ["rounds", "last_score", "answer", "follow-up", "coding", "missed_steps", "coding_minutes",
           "check_passed", "card_box", "design", "last_practised", "days_since", "weak", "next"]

NEXT = {
    "en": {"missed": "redo: {steps}", "card": "flashcard missed: say the 60-second answer again",
           "design": "design round: revisit the unticked points", "stale": "review: not practised for {d} days",
           "coding": "coding round: run the check until it passes", "new": "not practised yet", "ok": "on track"},
    "zh": {"missed": "重练：{steps}", "card": "闪卡没答上：再说一遍 60 秒回答", "design": "设计题：补上没勾的要点",
           "stale": "该复习了：{d} 天没练", "coding": "编程轮：改到检查通过为止", "new": "还没练过", "ok": "状态良好"},
}


def _latest(records: list[tuple[str, dict]]) -> dict | None:
    """The latest of ``(round id, record)`` pairs: by date, then by id (ids start with the UTC time)."""
    return max(records, key=lambda kr: (kr[1]["date"], kr[0]))[1] if records else None


def _mock_columns(rounds: list[dict]) -> dict:
    """The mock-interview columns of one topic from its rounds (oldest first or any order)."""
    from visrec_book.mock_interview import round_score

    last = _latest(rounds)
    if last is None:
        return {"rounds": 0}
    grades = last["grades"]
    coding_s = last.get("seconds", {}).get("coding")
    return {"rounds": len(rounds), "last_score": round_score(grades),
            **{k: round_score(grades, k) for k in ("answer", "follow-up", "coding")},
            "missed_steps": [s for s, g in grades.items() if g == 0],
            "coding_minutes": None if coding_s is None else round(coding_s / 60, 1),
            "check_passed": last.get("check_passed"), "mock_date": last["date"]}


def _advice(row: dict, today: dt.date, lang: str) -> tuple[bool, str]:
    """(weak?, what to practise next) for one topic's row."""
    words, reasons = NEXT[lang], []
    if row.get("missed_steps"):
        reasons.append(words["missed"].format(steps=", ".join(row["missed_steps"])))
    if row.get("check_passed") is False:
        reasons.append(words["coding"])
    if row.get("card_box") == 1 and row.get("card_last"):
        reasons.append(words["card"])
    if row.get("design") is not None and row["design"] < WEAK_SCORE:
        reasons.append(words["design"])
    low = row.get("last_score") is not None and row["last_score"] < WEAK_SCORE
    weak = bool(reasons) or low
    if row.get("last_practised") is None:
        return weak, words["new"]
    days = (today - dt.date.fromisoformat(row["last_practised"])).days
    if days > STALE_DAYS:
        reasons.append(words["stale"].format(d=days))
    return weak, "; ".join(reasons) or words["ok"]


def _card_last(card: dict) -> str | None:
    """The day a flashcard was last graded: its ``last``, or (files from before it) its due day less
    its box's interval."""
    from visrec_book.flashcards import INTERVALS_DAYS

    if not card or card.get("last"):
        return card.get("last")
    return (dt.date.fromisoformat(card["due"]) - dt.timedelta(days=INTERVALS_DAYS[card["box"] - 1])).isoformat()


def topic_table(mock: dict, cards: dict, design: dict, topics=(), today: dt.date | None = None,
                lang: str = "en"):
    """One row per topic (notebook stem) met in any of the three record states (``Progress.state``,
    ``Schedule.state``, ``DesignRecords.state``) or listed in ``topics``, sorted weak first, then by
    the days since last practised (longest first). Columns: ``COLUMNS``."""
    import pandas as pd

    from visrec_book.design_round import design_score

    today = today or dt.date.today()
    by_topic: dict[str, list] = {}
    for key, r in mock.items():
        by_topic.setdefault(r["question"], []).append((key, r))
    designs: dict[str, list] = {}
    for key, r in design.items():
        designs.setdefault(r["question"], []).append((key, r))
    rows = {}
    for topic in dict.fromkeys([*topics, *by_topic, *cards, *designs]):
        row = _mock_columns(by_topic.get(topic, []))
        card = cards.get(topic, {})
        row["card_box"], row["card_last"] = card.get("box"), _card_last(card)
        last_design = _latest(designs.get(topic, []))
        row["design"] = None if last_design is None else design_score(last_design["ticked"])
        dates = [d for d in (row.get("mock_date"), row["card_last"], last_design and last_design["date"]) if d]
        row["last_practised"] = max(dates) if dates else None
        row["days_since"] = None if not dates else (today - dt.date.fromisoformat(max(dates))).days
        row["weak"], row["next"] = _advice(row, today, lang)
        rows[topic] = row
    frame = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=COLUMNS)
    frame.index.name = "topic"
    if frame.empty:
        return frame
    order = sorted(frame.index, key=lambda t: (not frame.at[t, "weak"], -(frame.at[t, "days_since"]
                                                                        if pd.notna(frame.at[t, "days_since"]) else 1e9)))
    return frame.loc[order]


def plot_topics(table, ax=None):
    """The last score of each topic (bars: red weak, green on track, grey not yet graded in a mock
    round), annotated with the days since it was last practised and the coding round's minutes."""
    import matplotlib.pyplot as plt
    import numpy as np

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.35 * max(len(table), 3) + 1))
    if table.empty:
        ax.text(0.5, 0.5, "nothing practised yet: your topics appear here", ha="center", va="center")
        ax.set_axis_off()
        return ax
    names = [t.split("_")[0] for t in table.index]
    score = table["last_score"].astype(float).fillna(table["design"].astype(float))
    colours = ["lightgrey" if np.isnan(s) else ("tab:red" if w else "tab:green")
               for s, w in zip(score, table["weak"])]
    y = np.arange(len(table))[::-1]
    ax.barh(y, np.nan_to_num(score, nan=0.02), color=colours)
    for yi, (_, row) in zip(y, table.iterrows()):
        bits = [f"{int(row['days_since'])} d ago" if row["days_since"] == row["days_since"] and
                row["days_since"] is not None else "never"]
        if row["coding_minutes"] == row["coding_minutes"] and row["coding_minutes"] is not None:
            bits.append(f"coding {row['coding_minutes']:g} min")
        ax.text(1.02, yi, ", ".join(bits), va="center", fontsize=8)
    ax.set_yticks(y, names)
    ax.set_xlim(0, 1.45)
    ax.axvline(WEAK_SCORE, color="k", lw=0.8, ls=":")
    ax.set_xlabel("last score (share of the best grade; design: share of the rubric)")
    ax.set_title(f"{int(table['weak'].sum())} weak of {len(table)} topics (red: practise these next)")
    return ax


PV_UI = {"en": {"refresh": "Refresh", "title": "<b>Your practice by topic</b>, weak topics first"},
         "zh": {"refresh": "刷新", "title": "<b>按主题看练习进度</b>，薄弱的主题排在前面"}}


def progress_view(progress=None, schedule=None, design=None, lang: str = "en", topics=()):
    """The table and the plot in an ipywidgets box with a refresh button (re-reads the three files).
    ``progress``, ``schedule``, ``design``: the record stores (default: ``mock_interview.Progress()``,
    and the flashcard and design files beside its file)."""
    import ipywidgets as w

    from visrec_book.design_round import DesignRecords
    from visrec_book.flashcards import Schedule
    from visrec_book.mock_interview import Progress

    progress = Progress() if progress is None else progress
    folder = progress.path.parent if progress.path is not None else None
    stores = [progress, Schedule(folder and folder / "flashcards.json") if schedule is None else schedule,
              DesignRecords(folder and folder / "design_rounds.json") if design is None else design]
    title, out, table = w.HTML(), w.Output(), w.HTML()
    refresh = w.Button(icon="refresh")
    box = w.VBox([w.HBox([title, refresh]), out, table])
    box.add_class("visrec-progress-view")
    refresh.add_class("visrec-pv-refresh")
    out.add_class("visrec-pv-plot")
    table.add_class("visrec-pv-table")
    state = {"lang": lang}

    def show(*_):
        _show_progress(stores, out, table, state["lang"], topics)
        title.value, refresh.description = PV_UI[state["lang"]]["title"], PV_UI[state["lang"]]["refresh"]

    def set_lang(new: str):
        state["lang"] = new
        show()

    refresh.on_click(show)
    box.set_lang = set_lang  # the mock interview's language toggle calls it
    show()
    return box


def _show_progress(stores, out, table_html, lang: str, topics) -> None:
    import matplotlib.pyplot as plt

    for store in stores:
        store.reload()
    table = topic_table(stores[0].state, stores[1].state, stores[2].state, topics, lang=lang)
    out.clear_output(wait=True)
    with out:
        fig, ax = plt.subplots(figsize=(8, 0.35 * max(len(table), 3) + 1))
        plot_topics(table, ax)
        plt.show()
        plt.close(fig)
    table_html.value = table_html_of(table, lang)


# the table's headers in each language: (column, header)
HEADERS = {"en": {"topic": "topic", "last_score": "last score", "missed_steps": "missed", "coding_minutes":
                  "coding min", "check_passed": "check", "card_box": "card box", "design": "design",
                  "last_practised": "last practised", "next": "next"},
           "zh": {"topic": "主题", "last_score": "上次得分", "missed_steps": "没答上", "coding_minutes": "编程分钟",
                  "check_passed": "检查", "card_box": "闪卡盒", "design": "设计题", "last_practised": "上次练习",
                  "next": "下一步"}}


def table_html_of(table, lang: str = "en") -> str:
    """The table as compact HTML: a short topic name, the columns a learner acts on, weak rows marked."""
    import html

    import pandas as pd

    heads = HEADERS[lang]

    def cell(col, v):
        if isinstance(v, list):
            return html.escape(", ".join(v))
        if v is None or (not isinstance(v, (list, bool, str)) and pd.isna(v)):
            return ""
        if col == "check_passed":
            return "✓" if v else "✗"
        if isinstance(v, float):
            return f"{v:.2f}" if col in ("last_score", "design") else f"{v:g}"
        return html.escape(str(v))

    rows = []
    for topic, row in table.iterrows():
        style = " style='color:#b00'" if row["weak"] else ""
        cells = [f"<td>{html.escape(topic.split('_')[0])}</td>"] + [f"<td>{cell(c, row[c])}</td>" for c in list(heads)[1:]]
        rows.append(f"<tr{style} title='{html.escape(topic)}'>{''.join(cells)}</tr>")
    head = "".join(f"<th>{h}</th>" for h in heads.values())
    return (f"<table class='visrec-pv-rows' style='font-size:0.9em'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")

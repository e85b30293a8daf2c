"""Named results that a notebook records and that tools read back from the executed file.

``record("ndcg@10", 0.31)`` shows the value in the notebook and stores it in the cell
output under the MIME type ``application/vnd.visrec.record+json``; ``read_records(path)``
collects every such output of an executed notebook. This is the same idea as the
scrapbook/``store_metadata`` helpers of Microsoft Recommenders.
"""

from __future__ import annotations

import json
import math
import numbers
from pathlib import Path

MIME = "application/vnd.visrec.record+json"
_RECORDED: dict[str, object] = {}


def _plain(value):
    """Convert numpy scalars/arrays and tuples to JSON-friendly Python values."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"record: value {value!r} is not finite")
        return value
    raise TypeError(f"record: cannot store a value of type {type(value).__name__}; use numbers, strings, lists or dicts")


def record(name: str, value) -> None:
    """Store ``value`` under ``name`` in this notebook's output (and in this process).

    Values must be JSON-serialisable after numpy conversion: numbers, strings, lists, dicts.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("record: name must be a non-empty string")
    value = _plain(value)
    _RECORDED[name] = value
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # plain Python: the in-process store is enough
        return
    if get_ipython() is None:
        return
    display({MIME: {name: value}, "text/plain": f"recorded {name} = {value!r}"}, raw=True)


def record_all(values: dict, summary: str | None = None) -> None:
    """``record`` every ``{name: value}`` of ``values`` with one output line, not one per figure.

    The notebook shows ``summary`` (default: "recorded N figures: name, ...") instead of a
    "recorded ..." line per value; ``read_records`` reads them all back the same way.
    """
    if not isinstance(values, dict) or not values:
        raise ValueError("record_all: values must be a non-empty dict of name -> value")
    plain = {}
    for name, value in values.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"record_all: every name must be a non-empty string, got {name!r}")
        plain[name] = _plain(value)
    _RECORDED.update(plain)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return
    if get_ipython() is None:
        return
    text = summary if summary is not None else f"recorded {len(plain)} figures: {', '.join(plain)}"
    display({MIME: plain, "text/plain": text}, raw=True)


def recorded() -> dict:
    """Everything ``record`` stored in this process, in call order."""
    return dict(_RECORDED)


def read_records(path) -> dict:
    """Read all recorded values from an executed notebook file, later values winning."""
    path = Path(path)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"read_records: {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"read_records: {path} is not a notebook file ({exc})") from None
    found: dict = {}
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            data = out.get("data", {})
            if MIME in data:
                payload = data[MIME]
                if isinstance(payload, str):
                    payload = json.loads(payload)
                found.update(payload)
    return found

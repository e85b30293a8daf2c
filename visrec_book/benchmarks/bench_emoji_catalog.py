"""Emoji catalog build time: a cold build from the installed wheels vs a read of the cached ``.npz``.

Both styles, default arguments (about 1,600 emoji at 72 px); ``quick``: three subgroups. The
cold build decodes the Twemoji PNGs or draws the OpenMoji glyphs from the colour font, and
for both styles draws every glyph once at 64 px to check the font has it (so the two styles
keep the same items). The cache lives in a temporary folder, so the user's cache is untouched.
"""

from __future__ import annotations

import os
import tempfile
import time

import pandas as pd

from visrec_helpers.data.emoji import EMOJI_STYLES, emoji_catalog

QUICK_SUBGROUPS = ["food-fruit", "animal-mammal", "clothing"]


def build_times(subgroups=None, size: int = 72) -> pd.DataFrame:
    """Seconds of a cold build and of a cached read, per style, in one temporary cache."""
    rows = []
    previous = os.environ.get("VISREC_CACHE")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["VISREC_CACHE"] = tmp
        try:
            for style in EMOJI_STYLES:
                t0 = time.perf_counter()
                cat = emoji_catalog(style, size=size, subgroups=subgroups, progress=False)
                cold = time.perf_counter() - t0
                t0 = time.perf_counter()
                again = emoji_catalog(style, size=size, subgroups=subgroups, progress=False)
                cached = time.perf_counter() - t0
                if len(again) != len(cat):
                    raise AssertionError("the cached catalog differs from the built one")
                rows.append({"style": style, "items": len(cat), "size px": size, "cold build s": cold,
                             "cached read s": cached, "cold / cached": cold / cached,
                             "cold ms/item": 1000 * cold / len(cat)})
        finally:
            if previous is None:
                os.environ.pop("VISREC_CACHE", None)
            else:
                os.environ["VISREC_CACHE"] = previous
    return pd.DataFrame(rows)


def run(quick: bool = False) -> list[tuple[str, pd.DataFrame]]:
    subgroups = QUICK_SUBGROUPS if quick else None
    what = f"subgroups {', '.join(QUICK_SUBGROUPS)}" if quick else "default arguments"
    return [(f"Emoji catalog: cold build vs cached read ({what}, 72 px, one process)", build_times(subgroups))]

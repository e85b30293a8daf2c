"""Robustness: every public loader and model entry point, fed bad input, raises a clear error
that names the problem, and never changes the caller's data.

Each case is (name, call, exception type, regex the message must match). The call receives
fresh inputs from ``make_inputs()``; after the call, every input is compared with a copy taken
before it, so an entry point that fails half-way cannot leave the caller's arrays modified.
"""

import copy
import io

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from PIL import Image

from visrec_helpers import data
from visrec_helpers.data import DataError, ImageLoadError, splits
from visrec_helpers.recsys import metrics, recommenders
from visrec_helpers.search import index
from visrec_helpers.vision import features, training

RNG = np.random.default_rng(0)
VECTORS = features.l2_normalize(RNG.normal(size=(50, 8)).astype(np.float32))
NAN_VECTORS = VECTORS.copy()
NAN_VECTORS[3, 2] = np.nan
INF_VECTORS = VECTORS.copy()
INF_VECTORS[1, 1] = np.inf
USER_ITEMS = sp.csr_matrix((np.ones(12), ([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2])),
                           shape=(6, 12))
NAN_USER_ITEMS = USER_ITEMS.copy()
NAN_USER_ITEMS.data[0] = np.nan
IMAGES = RNG.integers(0, 255, (6, 28, 28), dtype=np.uint8)


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(RNG.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


JPEG = _jpeg()
FITTED = {
    "popularity": recommenders.Popularity().fit(USER_ITEMS),
    "itemknn": recommenders.ItemKNN(k_neighbors=5).fit(USER_ITEMS),
    "profile": recommenders.ProfileRecommender().fit(USER_ITEMS, item_features=RNG.normal(size=(12, 4))),
}


def _csv(tmp_path, text):
    p = tmp_path / "log.csv"
    p.write_text(text)
    return p


CASES = [
    # --- images -------------------------------------------------------------------------------
    ("image: corrupt bytes", lambda t: data.load_image(b"\x89PNG\r\n\x1a\nnot really"), ImageLoadError, "not an image|corrupt"),
    ("image: truncated JPEG", lambda t: data.load_image(JPEG[: len(JPEG) // 3]), ImageLoadError, "truncated"),
    ("image: empty bytes", lambda t: data.load_image(b""), ImageLoadError, "empty"),
    ("image: huge", lambda t: data.load_image(_big_png(), max_pixels=1000), ImageLoadError, "too large"),
    ("image folder: empty", lambda t: data.load_image_folder(t), DataError, "no image files"),
    ("embed: NaN images", lambda t: features.embed(features.HANDCRAFTED["raw pixels"], np.full((2, 8, 8), np.nan)),
     ValueError, "NaN"),
    ("embed: empty batch", lambda t: features.embed(features.HANDCRAFTED["raw pixels"], np.zeros((0, 8, 8), np.uint8)),
     ValueError, "images is empty"),
    ("embed: wrong rank", lambda t: features.embed(features.HANDCRAFTED["raw pixels"], np.zeros((2, 1, 8, 8, 3), np.uint8)),
     ValueError, "shape"),
    ("images_to_tensor: 5-D", lambda t: training.images_to_tensor(np.zeros((1, 2, 3, 4, 5))), ValueError, "shape"),
    # --- interaction files and tables ------------------------------------------------------------
    ("csv: empty file", lambda t: data.load_interactions_csv(_csv(t, "")), DataError, "empty"),
    ("csv: header only", lambda t: data.load_interactions_csv(_csv(t, "user,item\n")), DataError, "no rows"),
    ("csv: malformed", lambda t: data.load_interactions_csv(_csv(t, 'user,item\n"1,2\n')), DataError, "parse|missing|empty"),
    ("csv: unknown item", lambda t: data.load_interactions_csv(_csv(t, "user,item\n1,77\n"), n_items=10), DataError,
     "unknown item"),
    ("csv: NaN weight", lambda t: data.load_interactions_csv(_csv(t, "user,item,weight\n1,2,nan\n"), n_items=10),
     DataError, "weight"),
    ("csv: ragged row", lambda t: data.load_interactions_csv(_csv(t, "user,item\n1,2\n1,2,3\n"), n_items=10),
     DataError, "line 3 has 3 field"),
    ("csv: duplicated column", lambda t: data.load_interactions_csv(_csv(t, "user,item,item\n1,2,3\n"), n_items=10),
     DataError, r"duplicated column name\(s\) \['item'\]"),
    ("csv: id 1e20", lambda t: data.load_interactions_csv(_csv(t, "user,item\n1,1e20\n"), n_items=10), DataError,
     "'1e20' \\(line 2\\)"),
    ("csv: a folder", lambda t: data.load_interactions_csv(t), DataError, "is a folder"),
    ("csr: n_users too small", lambda t: data.interactions_to_csr(pd.DataFrame({"user": [0, 4], "item": [0, 1]}),
                                                                  n_users=3), DataError, "n_users=3"),
    ("csr: unknown value column", lambda t: data.interactions_to_csr(pd.DataFrame({"user": [0], "item": [0]}),
                                                                     value="rating"), DataError, "value='rating'"),
    ("simulate: zero temperature",
     lambda t: data.simulate_users(_tiny_catalog().attributes, ["kind"], events_per_user=2, temperature=0.0),
     ValueError, "temperature must be > 0"),
    ("simulate: events_per_user reversed",
     lambda t: data.simulate_users(_tiny_catalog().attributes, ["kind"], events_per_user=(3, 1)),
     ValueError, "events_per_user: low 3 is above high 1"),
    ("simulate: not a table", lambda t: data.simulate_users(IMAGES, ["kind"]), DataError,
     "attributes must be a pandas DataFrame"),
    ("image: bad max_pixels", lambda t: data.load_image(JPEG, max_pixels=0), ValueError, "max_pixels"),
    ("image folder: size 0", lambda t: data.load_image_folder(t, size=0), ValueError, "size must be"),
    ("split: n_test 0", lambda t: splits.leave_last_out(pd.DataFrame({"user": [0], "item": [1]}), n_test=0),
     ValueError, "n_test"),
    ("table: empty", lambda t: splits.leave_last_out(pd.DataFrame({"user": [], "item": []}, dtype=int)), DataError, "empty"),
    ("table: missing column", lambda t: splits.leave_last_out(pd.DataFrame({"user": [1]})), DataError, "item"),
    # --- indexes -----------------------------------------------------------------------------------
    *[(f"index {kind}: NaN vectors", lambda t, kind=kind: index.build_index(NAN_VECTORS, kind=kind), ValueError, "NaN")
      for kind in ("exact", "faiss-flat", "hnsw")],
    *[(f"index {kind}: k too large", lambda t, kind=kind: index.build_index(VECTORS, kind=kind).search(VECTORS[:2], 51),
       ValueError, "k=51|larger")
      for kind in ("exact", "faiss-flat", "hnsw")],
    *[(f"index {kind}: k = 0", lambda t, kind=kind: index.build_index(VECTORS, kind=kind).search(VECTORS[:2], 0),
       ValueError, "k must be")
      for kind in ("exact", "faiss-flat", "hnsw")],
    *[(f"index {kind}: dimension mismatch", lambda t, kind=kind: index.build_index(VECTORS, kind=kind).search(np.ones((1, 3)), 2),
       ValueError, "dimension")
      for kind in ("exact", "faiss-flat", "hnsw")],
    ("index: infinite query", lambda t: index.build_index(VECTORS).search(INF_VECTORS[:2], 2), ValueError, "NaN or infinite"),
    ("topk: k too large", lambda t: index.topk_cosine(VECTORS[:1], VECTORS, 99), ValueError, "larger"),
    # --- recommenders -----------------------------------------------------------------------------
    *[(f"{name}: fit on empty matrix", lambda t, cls=cls: cls().fit(sp.csr_matrix((3, 4))), ValueError, "empty")
      for name, cls in [("popularity", recommenders.Popularity), ("itemknn", recommenders.ItemKNN),
                        ("userknn", recommenders.UserKNN), ("als", recommenders.ALS), ("bpr", recommenders.BPR)]],
    *[(f"{name}: fit with NaN weights", lambda t, cls=cls: cls().fit(NAN_USER_ITEMS), ValueError, "NaN")
      for name, cls in [("popularity", recommenders.Popularity), ("itemknn", recommenders.ItemKNN),
                        ("als", recommenders.ALS), ("bpr", recommenders.BPR)]],
    *[(f"{name}: unknown user", lambda t, m=m: m.recommend([0, 99], k=2), ValueError, "unknown user")
      for name, m in FITTED.items()],
    *[(f"{name}: k = 0", lambda t, m=m: m.recommend([0], k=0), ValueError, "k must be")
      for name, m in FITTED.items()],
    *[(f"{name}: k larger than the catalog", lambda t, m=m: m.recommend([0], k=13), ValueError, "larger than the catalog")
      for name, m in FITTED.items()],
    ("profile: NaN features", lambda t: recommenders.ProfileRecommender().fit(USER_ITEMS, item_features=np.full((12, 4), np.nan)),
     ValueError, "NaN"),
    ("profile: wrong feature rows", lambda t: recommenders.ProfileRecommender().fit(USER_ITEMS, item_features=np.ones((5, 4))),
     ValueError, "n_items"),
    ("vbpr: NaN features", lambda t: recommenders.VBPR().fit(USER_ITEMS, item_features=np.full((12, 4), np.inf)), ValueError,
     "NaN|infinite|finite"),
    ("not fitted", lambda t: recommenders.Popularity().recommend([0]), RuntimeError, "not fitted"),
    # --- metrics --------------------------------------------------------------------------------
    ("ndcg: k = 0", lambda t: metrics.ndcg_at_k([1, 2], {1}, 0), ValueError, "k must be"),
    ("evaluate: length mismatch", lambda t: metrics.evaluate([[1, 2]], [{1}, {2}], 2), ValueError, "recommendation lists"),
    ("evaluate: nobody relevant", lambda t: metrics.evaluate([[1, 2]], [set()], 2), ValueError, "no user"),
    # --- training ----------------------------------------------------------------------------------
    ("train: no examples", lambda t: training.train_classifier(_cnn(), training.images_to_tensor(IMAGES)[:0],
                                                               torch.zeros(0, dtype=torch.long)),
     ValueError, "no training examples|empty"),
    ("train: length mismatch", lambda t: training.train_classifier(_cnn(), training.images_to_tensor(IMAGES),
                                                                   torch.zeros(3, dtype=torch.long)),
     ValueError, "rows"),
    ("checkpoint: corrupt", lambda t: training.load_checkpoint(_cnn(), _corrupt(t)), training.CheckpointError, "not a readable"),
    ("checkpoint: missing", lambda t: training.load_checkpoint(_cnn(), t / "none.pt"), training.CheckpointError, "does not exist"),
]


def _tiny_catalog():
    imgs = IMAGES.copy()
    return data.Catalog("tiny", imgs, np.arange(6) % 2, ["a", "b"], pd.DataFrame({"kind": list("ababab")}),
                        [["a"], ["b"]] * 3)


def _cnn():
    from visrec_helpers.vision.models import DigitCNN

    return DigitCNN()


def _corrupt(tmp_path):
    p = tmp_path / "broken.pt"
    p.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    return p


def _big_png() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (200, 200)).save(buf, "PNG")
    return buf.getvalue()


GUARDED = [VECTORS, NAN_VECTORS, INF_VECTORS, USER_ITEMS, NAN_USER_ITEMS, IMAGES]


@pytest.mark.parametrize("name, call, exc, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_a_clear_error_and_leaves_data_alone(name, call, exc, message, tmp_path):
    before = copy.deepcopy(GUARDED)
    with pytest.raises(exc, match=message):
        call(tmp_path)
    for old, new in zip(before, GUARDED):
        if sp.issparse(old):
            assert np.array_equal(old.indices, new.indices) and np.array_equal(old.indptr, new.indptr)
            assert np.array_equal(old.data, new.data, equal_nan=True), f"{name} changed the caller's data"
        else:
            assert np.array_equal(old, new, equal_nan=True), f"{name} changed the caller's data"


def test_successful_calls_do_not_modify_inputs():
    vecs, ui, imgs = VECTORS.copy(), USER_ITEMS.copy(), IMAGES.copy()
    features.l2_normalize(vecs * 3)
    features.embed(features.HANDCRAFTED["HOG"], imgs)
    index.build_index(vecs, kind="faiss-flat").search(vecs[:3], 5)
    recommenders.ItemKNN(k_neighbors=5).fit(ui).recommend([0, 1], k=3)
    recommenders.ALS(factors=4, iterations=2).fit(ui).recommend([0, 1], k=3)
    assert np.array_equal(vecs, VECTORS) and np.array_equal(imgs, IMAGES)
    assert (ui != USER_ITEMS).nnz == 0


# --- files a user's work lives in are replaced atomically, never over an edit made meanwhile ------

def test_export_sync_never_overwrites_a_file_edited_meanwhile(tmp_path):
    from visrec_book import export

    path = tmp_path / "module.py"
    path.write_text("X = 1\n")
    export._replace_file(path, "X = 1\n", "X = 2\n")
    assert path.read_text() == "X = 2\n" and [p.name for p in tmp_path.iterdir()] == ["module.py"]
    path.write_text("X = 3  # the user's edit\n")
    with pytest.raises(export.ExportError, match="changed while syncing; nothing was written"):
        export._replace_file(path, "X = 2\n", "X = 4\n")
    assert path.read_text() == "X = 3  # the user's edit\n"

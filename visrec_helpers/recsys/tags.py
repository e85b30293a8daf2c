"""Tag-based recommendation: user-tag profiles with TF-IDF weighting, tag co-occurrence
expansion, and tags for untagged items borrowed from their visual neighbours.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from visrec_helpers.recsys.base import Recommender, RecsysError, check_user_items


def check_tags(item_tags) -> list[list[str]]:
    """``item_tags`` checked and copied: one list of non-empty tag strings per item (``RecsysError`` otherwise)."""
    if isinstance(item_tags, (str, bytes)) or not hasattr(item_tags, "__len__"):
        raise RecsysError("item_tags must be a list with one list of tag strings per item")
    out = []
    for i, ts in enumerate(item_tags):
        if isinstance(ts, str) or not all(isinstance(t, str) and t for t in ts):
            raise RecsysError(f"item_tags[{i}] must be a list of non-empty strings, got {ts!r}")
        out.append(list(ts))
    return out


def tag_matrix(item_tags, vocabulary=None, idf: bool = True) -> tuple[sp.csr_matrix, list[str]]:
    """Items x tags matrix: 1 per (item, tag), times ``log(n_items / df_t)`` with ``idf``; rows L2-normalised.

    Rare tags (a digit's class: 10% of items) then weigh more than common ones (a stroke
    style shared by a third). Untagged items are all-zero rows. Returns ``(matrix, vocabulary)``.
    """
    tags = check_tags(item_tags)
    vocab = sorted({t for ts in tags for t in ts}) if vocabulary is None else list(vocabulary)
    if not vocab:
        raise RecsysError("no tags at all: every item is untagged")
    index = {t: j for j, t in enumerate(vocab)}
    rows = [i for i, ts in enumerate(tags) for t in set(ts) if t in index]
    cols = [index[t] for ts in tags for t in set(ts) if t in index]
    m = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(tags), len(vocab)))
    if idf:
        df = np.asarray((m > 0).sum(axis=0)).ravel()
        m = m @ sp.diags(np.log(len(tags) / np.maximum(df, 1)))
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    return sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ m), vocab


def tag_cooccurrence(item_tag: sp.csr_matrix) -> np.ndarray:
    """Tag-tag cosine similarity from co-occurrence on items, ``(n_tags, n_tags)``, zero diagonal."""
    b = (item_tag > 0).astype(np.float64)
    c = np.asarray((b.T @ b).todense())
    d = np.sqrt(np.diag(c))
    sim = c / np.maximum(np.outer(d, d), 1e-12)
    np.fill_diagonal(sim, 0.0)
    return sim


class TagRecommender(Recommender):
    """Scores items by the cosine between the user's tag profile and the item's tag vector.

    Profile = interaction-weighted sum of the tag vectors of the user's items
    (``tag_matrix``, TF-IDF when ``idf``), plus ``expansion`` times its spread over
    co-occurring tags (``profile + expansion * profile @ cooc``), so a user of "seven" and
    "thick" also reaches tags that often appear with them. Untagged items score 0: fill
    their tags first with ``propagate_tags``.
    """

    def __init__(self, idf: bool = True, expansion: float = 0.0):
        self.idf = idf
        self.expansion = expansion

    def fit(self, X, *, item_features=None, timestamps=None):
        """``X`` users x items weights; ``item_features``: the item tags, one list of tag strings
        per item (required; ``[]`` for an untagged item); ``timestamps`` unused."""
        m = check_user_items(X)
        if item_features is None:
            raise RecsysError("TagRecommender.fit needs item_features: one list of tag strings per item")
        tags = check_tags(item_features)
        if len(tags) != m.shape[1]:
            raise RecsysError(f"item_features has tags for {len(tags)} items but X has {m.shape[1]} items")
        if not (np.isfinite(self.expansion) and self.expansion >= 0):
            raise RecsysError(f"expansion must be >= 0, got {self.expansion!r}")
        self.item_tag_, self.vocabulary_ = tag_matrix(tags, idf=self.idf)
        self.cooccurrence_ = tag_cooccurrence(self.item_tag_)
        self.user_items_ = m
        return self

    def profiles(self, users) -> np.ndarray:
        """``(len(user_ids), n_tags)`` L2-normalised tag profiles."""
        users = self._check_users(users)
        p = np.asarray((self.user_items_[users] @ self.item_tag_).todense())
        if self.expansion:
            p = p + self.expansion * p @ self.cooccurrence_
        return p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)

    def score(self, users):
        return np.asarray(self.item_tag_ @ self.profiles(users).T).T

    def top_tags(self, user_id: int, n: int = 5) -> list[tuple[str, float]]:
        """The ``n`` heaviest tags of one user's profile, for explanations."""
        p = self.profiles([user_id])[0]
        order = np.argsort(-p, kind="stable")[:n]
        return [(self.vocabulary_[j], float(p[j])) for j in order if p[j] > 0]


def hide_tags(item_tags, fraction: float = 0.3, seed: int = 0) -> tuple[list[list[str]], np.ndarray]:
    """Remove every tag of a random ``fraction`` of items (untagged uploads). Returns ``(tags, hidden_ids)``."""
    tags = check_tags(item_tags)
    if not 0.0 <= fraction < 1.0:
        raise RecsysError(f"fraction must be in [0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    hidden = np.sort(rng.choice(len(tags), size=round(fraction * len(tags)), replace=False))
    out = [list(ts) for ts in tags]
    for i in hidden:
        out[i] = []
    return out, hidden


def propagate_tags(item_tags, embeddings, k: int = 10, min_share: float = 0.5) -> list[list[str]]:
    """Give every untagged item the tags of its ``k`` nearest tagged items (cosine on ``embeddings``).

    A tag is kept when the similarity-weighted share of neighbours carrying it reaches
    ``min_share``; the single best tag is always kept, so no item stays untagged.
    Tagged items are returned unchanged.
    """
    tags = check_tags(item_tags)
    e = np.asarray(embeddings, dtype=np.float64)
    if e.ndim != 2 or len(e) != len(tags):
        raise RecsysError(f"embeddings must be (n_items={len(tags)}, d), got shape {e.shape}")
    if not np.isfinite(e).all():
        raise RecsysError("embeddings contain NaN or infinite values")
    if k < 1 or not 0.0 < min_share <= 1.0:
        raise RecsysError(f"k must be >= 1 and min_share in (0, 1], got k={k}, min_share={min_share}")
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    tagged = np.array([len(ts) > 0 for ts in tags])
    if not tagged.any():
        raise RecsysError("no item has tags to propagate")
    known = np.flatnonzero(tagged)
    out = [list(ts) for ts in tags]
    for i in np.flatnonzero(~tagged):
        sims = e[known] @ e[i]
        nn = np.argsort(-sims, kind="stable")[: min(k, len(known))]
        w = np.maximum(sims[nn], 0.0) + 1e-12
        votes: dict[str, float] = {}
        for j, wj in zip(known[nn], w):
            for t in tags[j]:
                votes[t] = votes.get(t, 0.0) + wj / w.sum()
        ranked = sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))
        out[i] = [t for t, s in ranked if s >= min_share] or [ranked[0][0]]
    return out

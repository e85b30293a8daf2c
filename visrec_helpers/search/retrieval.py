"""Retrieval: metrics for labelled queries, a keyword (tag) index with TF-IDF ranking,
visual expansion of its hits, and a small learned text-image joint embedding.

Data flows one way: this module uses ``index`` (nearest neighbours) and plain arrays
of embeddings from ``features``; it never trains image encoders itself.
"""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np
import pandas as pd
import torch
from torch import nn

from visrec_helpers.core.rng import init_weights_, torch_generator
from visrec_helpers.search.index import IndexInputError, build_index

# ---------------------------------------------------------------------------
# Metrics for labelled queries (query excluded from its own results)
# ---------------------------------------------------------------------------


def average_precision_of_flags(retrieved_relevant, n_relevant: int, k: int) -> float:
    """AP@k of one ranked list of relevance flags: mean of precision@i over the ranks i <= k that
    hold a relevant item, divided by ``min(k, n_relevant)`` (so a list that finds every reachable
    item scores 1). ``recsys.metrics.average_precision_at_k`` is the same measure on item ids.
    """
    rel = np.asarray(retrieved_relevant, dtype=bool)[:k]
    if n_relevant < 0:
        raise ValueError(f"n_relevant={n_relevant} must be >= 0")
    if n_relevant == 0:
        return 0.0
    hits = np.cumsum(rel)
    prec = hits / np.arange(1, len(rel) + 1)
    return float((prec * rel).sum() / min(k, n_relevant))


def labelled_retrieval(embeddings: np.ndarray, labels: np.ndarray, k: int = 10, queries=None,
                       index_kind: str = "exact") -> dict:
    """Precision@k and mAP@k when every item (or each id in ``queries``) queries all the others.

    ``embeddings`` ``(n, d)`` L2-normalised; an item is relevant to a query when it has
    the same label. The query itself is removed from its own result list (by id, so a
    duplicate image elsewhere in the catalog still counts). Returns
    ``{"precision@k": .., "map@k": .., "queries": q}``.
    """
    emb = np.asarray(embeddings, dtype=np.float32)
    labels = np.asarray(labels)
    if emb.ndim != 2 or len(emb) != len(labels):
        raise ValueError(f"embeddings {emb.shape} and labels {labels.shape} must have one row per item")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k > len(emb) - 1:
        raise ValueError(f"k={k} is larger than the {len(emb) - 1} other items")
    q = np.arange(len(emb)) if queries is None else _item_ids(queries, len(emb), "queries")
    if len(q) == 0:
        raise ValueError("no queries given")
    _, ids = build_index(emb, kind=index_kind).search(emb[q], k, exclude=q[:, None])
    counts = pd.Series(labels).value_counts()
    precs, aps = [], []
    for qi, row in zip(q, ids):
        rel = labels[row] == labels[qi]
        n_rel = int(counts[labels[qi]]) - 1
        precs.append(rel.mean())
        aps.append(average_precision_of_flags(rel, n_rel, k))
    return {f"precision@{k}": float(np.mean(precs)), f"map@{k}": float(np.mean(aps)), "queries": len(q)}


# ---------------------------------------------------------------------------
# Keyword retrieval: inverted tag index with TF-IDF ranking
# ---------------------------------------------------------------------------

def tokenize(text: str) -> list[str]:
    """Lower-case words of a query; hyphenated tags ("right-slant") stay one word."""
    if not isinstance(text, str):
        raise TypeError(f"query must be a string, got {type(text).__name__}")
    return re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", text.lower())


_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def cjk_ngrams(text: str) -> list[str]:
    """Chinese (CJK) characters and overlapping character bigrams of ``text``, in order.

    Chinese has no spaces between words, so a whole-word tokeniser finds nothing in it;
    indexing every character and every pair of neighbouring characters (Lucene's CJK
    analyser) matches a query word inside a longer name: "红心" -> ["红", "心", "红心"].
    Characters outside CJK runs (Latin letters, digits, punctuation) are skipped.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    out = []
    for run in _CJK_RUN.findall(text):
        out.extend(run)
        out.extend(run[i : i + 2] for i in range(len(run) - 1))
    return out


def multilingual_tokens(text: str) -> list[str]:
    """English words (``tokenize``) followed by Chinese characters and bigrams (``cjk_ngrams``)."""
    return tokenize(text) + cjk_ngrams(text)


class TagIndex:
    """Inverted index from tag to items, ranked by TF-IDF cosine.

    ``fit(tags)`` takes one list of tags per item (an empty list = an untagged item).
    An item's vector has weight ``idf(t) = log((1 + n) / (1 + df(t))) + 1`` for each of
    its tags, L2-normalised; a query is scored the same way, so items matching more of
    the rarer query words rank first. ``search(query, k) -> (scores, ids)``; items that
    match no query word are never returned (fewer than ``k`` ids may come back).
    ``analyzer`` turns a query into tokens (default ``tokenize``: English words; use
    ``multilingual_tokens`` for Chinese, with items tagged by ``cjk_ngrams``).
    """

    def __init__(self, analyzer=None):
        self.analyzer = analyzer

    def fit(self, tags):
        """Index one list of tags per item; returns ``self``."""
        tags = [list(t) for t in tags]
        if not tags:
            raise ValueError("no items to index")
        self.n_items_ = len(tags)
        postings = defaultdict(list)
        for i, ts in enumerate(tags):
            for t in set(ts):
                postings[t].append(i)
        self.postings_ = {t: np.array(ids, dtype=np.int64) for t, ids in postings.items()}
        self.idf_ = {t: float(np.log((1 + self.n_items_) / (1 + len(ids))) + 1) for t, ids in self.postings_.items()}
        self.norms_ = np.zeros(self.n_items_)
        for i, ts in enumerate(tags):
            self.norms_[i] = np.sqrt(sum(self.idf_[t] ** 2 for t in set(ts)))
        return self

    @property
    def vocabulary(self) -> list[str]:
        return sorted(self.postings_)

    def scores(self, query: str) -> np.ndarray:
        """TF-IDF cosine of every item with ``query``: ``(n_items,)`` float64 (0 = no shared word)."""
        if not hasattr(self, "postings_"):
            raise RuntimeError("TagIndex is not fitted: call fit(tags) first")
        words = (self.analyzer or tokenize)(query)
        if not words:
            raise ValueError(f"query {query!r} has no words")
        known = [w for w in dict.fromkeys(words) if w in self.postings_]
        if not known:
            raise KeyError(f"none of the query words {words} is a tag of any item; "
                           f"vocabulary: {self.vocabulary}")
        q_norm = np.sqrt(sum(self.idf_[w] ** 2 for w in known))
        s = np.zeros(self.n_items_)
        for w in known:
            s[self.postings_[w]] += self.idf_[w] ** 2
        return s / (np.maximum(self.norms_, 1e-12) * q_norm)

    def search(self, query: str, k: int = 10):
        s = self.scores(query)
        if not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        ids = np.argsort(-s, kind="stable")[:k]
        ids = ids[s[ids] > 0]
        return s[ids].astype(np.float32), ids.astype(np.int64)


def _item_ids(ids, n: int, name: str) -> np.ndarray:
    """``ids`` as ``(m,)`` int64 item ids in ``0..n-1``; boolean masks and non-integers are refused."""
    a = np.atleast_1d(np.asarray(ids))
    if a.dtype == bool:
        raise IndexInputError(f"{name} is a boolean mask; pass item ids (np.flatnonzero(mask))")
    if a.size and (a.ndim != 1 or not np.issubdtype(a.dtype, np.integer)):
        raise IndexInputError(f"{name} must be a 1-D array of integer item ids, got dtype {a.dtype}, shape {a.shape}")
    a = a.astype(np.int64)
    if len(a) and (a.min() < 0 or a.max() >= n):
        raise IndexInputError(f"{name} must be item ids in 0..{n - 1}, got min {a.min()} max {a.max()}")
    return a


def _restrict(final: np.ndarray, candidates, k: int):
    ids = np.arange(len(final)) if candidates is None else np.unique(_item_ids(candidates, len(final), "candidates"))
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k > len(ids):
        raise ValueError(f"k={k} is larger than the number of candidate items ({len(ids)})")
    top = ids[np.argsort(-final[ids], kind="stable")[:k]]
    return final[top].astype(np.float32), top.astype(np.int64)


def visual_expansion(tag_index: TagIndex, embeddings: np.ndarray, query: str, k: int = 10, n_seeds: int = 5,
                     alpha: float = 0.5, candidates=None):
    """Keyword search whose top ``n_seeds`` hits become a visual query (their mean embedding).

    Final score = ``alpha * tag score + (1 - alpha) * cosine to the seed centroid``, so
    untagged items that look like the hits can be returned. ``candidates`` (item ids)
    restricts the results, for example to untagged items. Returns ``(scores, ids)`` of the
    top ``k``.
    """
    emb = np.asarray(embeddings, dtype=np.float32)
    if len(emb) != tag_index.n_items_:
        raise ValueError(f"{len(emb)} embeddings for a tag index of {tag_index.n_items_} items")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha={alpha} must be in [0, 1]")
    if n_seeds < 1:
        raise ValueError(f"n_seeds={n_seeds} must be >= 1")
    tag_scores = tag_index.scores(query)
    seeds = np.argsort(-tag_scores, kind="stable")[:n_seeds]
    seeds = seeds[tag_scores[seeds] > 0]
    centroid = emb[seeds].mean(axis=0)
    centroid /= max(np.linalg.norm(centroid), 1e-12)
    final = alpha * tag_scores + (1 - alpha) * (emb @ centroid)
    return _restrict(final, candidates, k)


# ---------------------------------------------------------------------------
# A small learned text-image joint embedding (CLIP-style, on tags)
# ---------------------------------------------------------------------------

class _TextTower(nn.Module):
    """A text's vector: the sum of one learned vector per word, L2-normalised.

    ``forward(ids, offsets)`` takes a batch of word bags in ``nn.EmbeddingBag`` form (all
    word ids in one flat tensor, ``offsets`` where each text starts) -> ``(b, dim)``.
    """

    def __init__(self, n_words: int, dim: int):
        super().__init__()
        self.words = nn.EmbeddingBag(n_words, dim, mode="sum")

    def forward(self, ids, offsets):
        return nn.functional.normalize(self.words(ids, offsets), dim=1)


def text_image_loss(z_image: torch.Tensor, z_text: torch.Tensor, target: torch.Tensor,
                    temperature: float = 0.1) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP) loss of a batch of ``b`` (image, text) pairs.

    ``z_image``, ``z_text``: ``(b, d)`` L2-normalised; row ``i`` of both is one item.
    ``target``: ``(b, b)``, rows summing to 1, positive where text ``j`` describes image
    ``i`` (the diagonal, spread over items that share the exact tag set). Each image must
    pick its text among the batch's ``b`` texts, and each text its image.
    """
    logits = z_image @ z_text.T / temperature
    return 0.5 * (nn.functional.cross_entropy(logits, target) + nn.functional.cross_entropy(logits.T, target))


def joint_embedding_step(image_tower: nn.Module, text_tower: nn.Module, opt: torch.optim.Optimizer,
                         x: torch.Tensor, bag: tuple, target: torch.Tensor, temperature: float = 0.1) -> float:
    """One contrastive step: image features ``x`` ``(b, d_in)`` and their texts ``bag``
    (``(ids, offsets)`` for ``text_tower``) are pulled together, the other pairs of the batch
    pushed apart (``text_image_loss``). Returns the batch's loss."""
    zi = nn.functional.normalize(image_tower(x), dim=1)
    zt = text_tower(*bag)
    loss = text_image_loss(zi, zt, target, temperature)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


class JointEmbedding:
    """Text and images in one space, trained contrastively on (image, its tags) pairs.

    Text side: the sum of one learned vector per tag (so a query is the sum of its
    words, which lets it answer tag combinations never seen together in training).
    Image side: a two-layer MLP over fixed image features (``(n, d)`` from any encoder).
    Both sides are L2-normalised; training minimises the symmetric InfoNCE loss of a
    batch (CLIP) with temperature ``temperature``. ``analyzer`` turns a query into tokens
    (default ``tokenize``; ``multilingual_tokens`` for Chinese, as in ``TagIndex``).
    """

    def __init__(self, dim: int = 32, hidden: int = 128, epochs: int = 30, batch_size: int = 256,
                 lr: float = 3e-3, temperature: float = 0.1, seed: int = 0, analyzer=None):
        self.dim, self.hidden, self.epochs, self.batch_size = dim, hidden, epochs, batch_size
        self.lr, self.temperature, self.seed, self.analyzer = lr, temperature, seed, analyzer

    def _bag(self, tag_lists):
        ids, offsets = [], []
        for ts in tag_lists:
            offsets.append(len(ids))
            ids.extend(self.vocab_[t] for t in ts)
        return torch.tensor(ids, dtype=torch.long), torch.tensor(offsets, dtype=torch.long)

    def fit(self, features: np.ndarray, tags, progress: bool = False) -> JointEmbedding:
        """Learn from items with at least one tag; ``features`` ``(n, d)``, ``tags`` n lists."""
        from tqdm.auto import tqdm

        X = np.asarray(features, dtype=np.float32)
        tags = [list(t) for t in tags]
        if X.ndim != 2 or len(X) != len(tags):
            raise ValueError(f"features {X.shape} and {len(tags)} tag lists must have one row per item")
        if not np.isfinite(X).all():
            raise ValueError("features contain NaN or infinite values")
        keep = [i for i, t in enumerate(tags) if t]
        if len(keep) < 2:
            raise ValueError("need at least 2 tagged items to train")
        self.vocab_ = {t: i for i, t in enumerate(sorted({t for i in keep for t in tags[i]}))}
        # Weights and batch order from local generators: fitting never touches torch's global RNG.
        init = torch_generator(self.seed)
        gen = torch_generator(self.seed)
        self.mean_ = X[keep].mean(axis=0)
        self.scale_ = X[keep].std(axis=0) + 1e-6
        with torch.random.fork_rng(devices=[]):  # torch's constructors draw from the global generator
            image = nn.Sequential(nn.Linear(X.shape[1], self.hidden), nn.ReLU(), nn.Linear(self.hidden, self.dim))
            self.text_ = _TextTower(len(self.vocab_), self.dim)
        self.image_ = init_weights_(image, init)
        with torch.no_grad():  # nn.EmbeddingBag's default: standard normal
            self.text_.words.weight.copy_(torch.randn(self.text_.words.weight.shape, generator=init))
        opt = torch.optim.Adam(list(self.image_.parameters()) + list(self.text_.parameters()), lr=self.lr)
        Xt = torch.from_numpy((X[keep] - self.mean_) / self.scale_)
        kept_tags = [tags[i] for i in keep]
        set_ids = {}
        key_of = torch.tensor([set_ids.setdefault(tuple(sorted(set(t))), len(set_ids)) for t in kept_tags])
        self.history_ = []
        for _ in tqdm(range(self.epochs), desc="joint embedding", disable=not progress, leave=False):
            perm = torch.randperm(len(keep), generator=gen).tolist()
            tot = 0.0
            for s in range(0, len(perm), self.batch_size):
                b = perm[s : s + self.batch_size]
                if len(b) < 2:
                    continue
                # Items sharing the exact tag set are true matches too: spread the target over them.
                keys = key_of[b]
                same = (keys[:, None] == keys[None, :]).float()
                target = same / same.sum(1, keepdim=True)
                loss = joint_embedding_step(self.image_, self.text_, opt, Xt[b],
                                            self._bag([kept_tags[j] for j in b]), target, self.temperature)
                tot += loss * len(b)
            self.history_.append(tot / len(keep))
        return self

    def _check(self):
        if not hasattr(self, "vocab_"):
            raise RuntimeError("JointEmbedding is not fitted: call fit(features, tags) first")

    @torch.no_grad()
    def embed_images(self, features: np.ndarray) -> np.ndarray:
        """``(n, dim)`` float32 L2-normalised image vectors in the joint space."""
        self._check()
        X = np.asarray(features, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != len(self.mean_):
            raise ValueError(f"features must be (n, {len(self.mean_)}), got {X.shape}")
        z = self.image_(torch.from_numpy((X - self.mean_) / self.scale_))
        return nn.functional.normalize(z, dim=1).numpy()

    @torch.no_grad()
    def embed_text(self, query: str) -> np.ndarray:
        """``(dim,)`` float32 L2-normalised vector of a text query (known words only)."""
        self._check()
        words = (self.analyzer or tokenize)(query)
        known = [w for w in words if w in self.vocab_]
        if not known:
            raise KeyError(f"none of the query words {words} was seen in training; vocabulary: {sorted(self.vocab_)}")
        return self.text_(*self._bag([known]))[0].numpy()

    def search(self, query: str, image_vectors: np.ndarray, k: int = 10, candidates=None):
        """Top ``k`` images (rows of ``image_vectors`` from ``embed_images``) for a text query,
        best first, as ``(scores (k,), ids (k,))``; ``candidates`` restricts the ids."""
        vecs = np.asarray(image_vectors, dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape[1] != self.dim:
            raise ValueError(f"image_vectors must be (n, {self.dim}) from embed_images, got {vecs.shape}")
        return _restrict(vecs @ self.embed_text(query), candidates, k)


def relevant_items(tags, query: str) -> np.ndarray:
    """Ids of items whose (true) tags contain every word of ``query``."""
    words = set(tokenize(query))
    if not words:
        raise ValueError(f"query {query!r} has no words")
    return np.array([i for i, ts in enumerate(tags) if words <= set(ts)], dtype=np.int64)

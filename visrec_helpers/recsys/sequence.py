"""Deep learning for recognition and recommendation (notebook q10).

Two parts:

1. ``MetricDigitNet``: one ``DigitCNN`` with a classification head and an embedding,
   trained with cross-entropy plus a supervised contrastive loss on the L2-normalised
   embedding (Khosla et al. 2020). ``metric_weight=0`` gives the plain classifier,
   whose penultimate layer is the usual "take the features before the logits"
   embedding; both run the same loop, so they differ only in the metric term.
2. Sessions and next-item prediction: ``simulate_sessions`` draws browsing sessions
   whose sequential signal is real and documented (a first-order Markov chain over
   classes, see its docstring); ``GRURecommender`` reads a session's item embeddings
   with a GRU and scores every catalog item for the next step (``sessions_to_matrix`` turns
   sessions into the recommender contract's ``X`` and ``timestamps``); ``mean_profile_scores``
   (average of the history's embeddings) and ``last_item_scores`` are the baselines;
   ``next_item_hit_rate`` scores held-out next items.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn import functional as F

from visrec_helpers.core.device import get_device
from visrec_helpers.core.rng import init_weights_, torch_generator
from visrec_helpers.recsys.base import (
    Recommender,
    RecsysError,
    check_hyper,
    check_ids,
    check_item_features,
    check_recommendations,
    check_timestamps,
    check_user_items,
    top_k_items,
)
from visrec_helpers.vision.models import DigitCNN
from visrec_helpers.vision.training import images_to_tensor, predict

_BIG = np.iinfo(np.int64).max  # item ids of a truth vector: checked >= 0, the catalog size is not known

# ---------------------------------------------------------------------------
# One network that classifies and embeds
# ---------------------------------------------------------------------------


def supervised_contrastive_loss(z: torch.Tensor, y: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SupCon loss for L2-normalised embeddings ``z`` ``(b, d)`` with labels ``y`` ``(b,)``.

    For each anchor, the mean over its same-label batch mates of
    ``-log softmax(z_a . z_p / temperature)`` over all other batch items. Anchors with
    no batch mate of their class are skipped; a batch with none at all gives 0.
    """
    if z.ndim != 2 or len(z) != len(y):
        raise RecsysError(f"z must be (b, d) with one label per row, got {tuple(z.shape)} and {tuple(y.shape)}")
    if temperature <= 0:
        raise RecsysError(f"temperature must be > 0, got {temperature}")
    sim = z @ z.T / temperature
    self_mask = torch.eye(len(z), dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(self_mask, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    pos = (y[:, None] == y[None, :]) & ~self_mask
    n_pos = pos.sum(1)
    has = n_pos > 0
    if not has.any():
        return z.sum() * 0.0
    per_anchor = -(log_prob.masked_fill(~pos, 0.0)).sum(1)[has] / n_pos[has]
    return per_anchor.mean()


class MetricDigitNet:
    """A ``DigitCNN`` trained with cross-entropy + ``metric_weight`` x supervised contrastive loss.

    ``fit(X, y)`` on ``(n, 28, 28) uint8`` images; ``embed(X)`` gives ``(n, d)`` float32
    L2-normalised embeddings (the layer before the logits); ``predict(X)`` class ids.
    Learned state: ``model_`` (eval mode, CPU, batch-norm statistics re-estimated on the
    training images) and ``history_`` (per-epoch losses).
    """

    def __init__(self, metric_weight: float = 1.0, temperature: float = 0.1, epochs: int = 4, batch_size: int = 64,
                 lr: float = 2e-3, embed_dim: int = 64, seed: int = 0, device: str = "auto", progress: bool = True):
        self.metric_weight = metric_weight
        self.temperature = temperature
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.embed_dim = embed_dim
        self.seed = seed
        self.device = device
        self.progress = progress

    def fit(self, X: np.ndarray, y: np.ndarray):
        import pandas as pd
        from tqdm.auto import tqdm

        from visrec_helpers.vision.domain import adapt_batchnorm

        if self.metric_weight < 0:
            raise RecsysError(f"metric_weight must be >= 0, got {self.metric_weight}")
        if self.epochs < 1 or self.batch_size < 2:
            raise RecsysError(f"epochs ({self.epochs}) must be >= 1 and batch_size ({self.batch_size}) >= 2")
        Xt = images_to_tensor(X)
        yt = torch.as_tensor(np.asarray(y), dtype=torch.long)
        if len(Xt) != len(yt):
            raise RecsysError(f"X has {len(Xt)} images but y has {len(yt)} labels")
        dev = get_device(self.device)
        with torch.random.fork_rng(devices=[]):  # torch's constructors draw from the global generator
            model = DigitCNN(embed_dim=self.embed_dim)
        model = init_weights_(model, self.seed).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=self.lr, weight_decay=1e-4)
        gen = torch_generator(self.seed)
        rows = []
        for epoch in tqdm(range(self.epochs), desc="epochs", disable=not self.progress, leave=False):
            model.train()
            order = torch.randperm(len(Xt), generator=gen)
            ce_sum = m_sum = 0.0
            n_b = 0
            for s in range(0, len(Xt), self.batch_size):
                idx = order[s : s + self.batch_size]
                xb, yb = Xt[idx].to(dev), yt[idx].to(dev)
                emb = model.embed(xb)
                ce = F.cross_entropy(model.head(emb), yb)
                loss = ce
                if self.metric_weight > 0:
                    metric = supervised_contrastive_loss(F.normalize(emb, dim=1), yb, self.temperature)
                    loss = ce + self.metric_weight * metric
                    m_sum += metric.item()
                opt.zero_grad()
                loss.backward()
                opt.step()
                ce_sum += ce.item()
                n_b += 1
            rows.append({"epoch": epoch + 1, "ce_loss": ce_sum / n_b, "metric_loss": m_sum / n_b})
        self.model_ = adapt_batchnorm(model.cpu(), X)
        self.history_ = pd.DataFrame(rows)
        return self

    def _check_fitted(self):
        if not hasattr(self, "model_"):
            raise RuntimeError("MetricDigitNet is not fitted: call fit() first")

    def embed(self, X: np.ndarray) -> np.ndarray:
        from visrec_helpers.vision.features import embed

        self._check_fitted()
        return embed(self.model_, X, device=self.device)

    def predict(self, X: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return predict(self.model_, images_to_tensor(X), device=self.device).argmax(1)


# ---------------------------------------------------------------------------
# Sessions with a known sequential signal
# ---------------------------------------------------------------------------

def simulate_sessions(labels: np.ndarray, n_sessions: int = 2000, length: int = 8, p_next: float = 0.6,
                      p_stay: float = 0.2, seed: int = 0) -> tuple[np.ndarray, dict]:
    """Browsing sessions over a catalog whose items have class ``labels`` ``(n_items,)``.

    The generative model (so the sequential signal is known, not hoped for):

    1. A fixed random cycle over the classes gives each class a *successor*
       (for example 3 -> 7 -> 0 -> ...), the same for every session.
    2. A session starts in a uniformly random class. At each step the next class is the
       successor of the current class with probability ``p_next``, the same class with
       ``p_stay``, and a uniformly random class otherwise (a first-order Markov chain).
    3. The item is drawn uniformly among the items of that class not yet in the session.

    Only the order carries the successor signal: the set of classes in a session's
    history does not say which one came last. Returns ``(sessions, info)``: sessions
    ``(n_sessions, length) int64`` item ids; info holds ``successor`` ``(n_classes,)``
    and the transition matrix ``transition`` ``(n_classes, n_classes)``.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise RecsysError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
    if not (0 <= p_next and 0 <= p_stay and p_next + p_stay <= 1):
        raise RecsysError(f"p_next={p_next} and p_stay={p_stay} must be >= 0 with p_next + p_stay <= 1")
    if n_sessions < 1 or length < 2:
        raise RecsysError(f"n_sessions={n_sessions} must be >= 1 and length={length} >= 2")
    classes = np.unique(labels)
    n_c = len(classes)
    by_class = [np.flatnonzero(labels == c) for c in classes]
    if min(len(b) for b in by_class) < length:
        raise RecsysError(f"every class needs at least length={length} items so a session can stay in it")
    rng = np.random.default_rng(seed)
    cycle = rng.permutation(n_c)
    successor = np.empty(n_c, dtype=np.int64)
    successor[cycle] = np.roll(cycle, -1)
    transition = np.full((n_c, n_c), (1 - p_next - p_stay) / n_c)
    transition[np.arange(n_c), successor] += p_next
    transition[np.arange(n_c), np.arange(n_c)] += p_stay
    sessions = np.empty((n_sessions, length), dtype=np.int64)
    for s in range(n_sessions):
        c = int(rng.integers(n_c))
        seen: set[int] = set()
        for t in range(length):
            if t > 0:
                c = int(rng.choice(n_c, p=transition[c]))
            pool = [i for i in by_class[c] if i not in seen]
            item = int(rng.choice(pool))
            seen.add(item)
            sessions[s, t] = item
    return sessions, {"successor": classes[successor], "transition": transition, "classes": classes}


def _check_sessions(sessions, n_items: int) -> np.ndarray:
    s = np.asarray(sessions)
    if s.ndim != 2 or s.shape[0] == 0 or s.shape[1] == 0:
        raise RecsysError(f"sessions must be a non-empty (n, length) array of item ids, got shape {s.shape}")
    if not np.issubdtype(s.dtype, np.integer):
        raise RecsysError(f"sessions must hold integer item ids, got dtype {s.dtype}")
    if (s < 0).any() or (s >= n_items).any():
        raise RecsysError(f"sessions hold unknown item ids (catalog has {n_items} items, ids 0..{n_items - 1})")
    return s


def mean_profile_scores(histories: np.ndarray, item_emb: np.ndarray) -> np.ndarray:
    """Cosine of every item to the mean embedding of each history: ``(n, n_items)``."""
    from visrec_helpers.vision.features import l2_normalize

    h = _check_sessions(histories, len(item_emb))
    prof = l2_normalize(item_emb[h].mean(axis=1))
    return prof @ item_emb.T


def last_item_scores(histories: np.ndarray, item_emb: np.ndarray) -> np.ndarray:
    """Cosine of every item to the last item of each history: ``(n, n_items)``."""
    h = _check_sessions(histories, len(item_emb))
    return item_emb[h[:, -1]] @ item_emb.T


def _history_matrix(histories: np.ndarray, n_items: int) -> sp.csr_matrix:
    """``(n, t)`` item ids as an ``(n, n_items)`` 0/1 CSR (the items each row has seen)."""
    h = np.asarray(histories)
    rows = np.repeat(np.arange(h.shape[0]), h.shape[1])
    m = sp.csr_matrix((np.ones(h.size), (rows, h.ravel())), shape=(h.shape[0], n_items))
    m.data[:] = 1.0
    return m


def top_k(scores: np.ndarray, k: int, exclude: np.ndarray | None = None, candidates=None) -> np.ndarray:
    """Top-``k`` item ids per row of ``scores`` ``(n, n_items)``, best first; ``exclude`` ``(n, m)`` ids are skipped.

    The package's one ranking path (``recsys.base.top_k_items``): finite scores, ``exclude``
    ids in range (a ``-1`` is refused, not read as the last item), distinct ``candidates``.
    """
    s = np.asarray(scores)
    if s.ndim != 2:
        raise RecsysError(f"scores must be (n, n_items), got shape {s.shape}")
    seen = None
    if exclude is not None:
        ex = np.asarray(exclude)
        if ex.ndim != 2 or len(ex) != len(s):
            raise RecsysError(f"exclude must be (n={len(s)}, m) item ids, got shape {ex.shape}")
        if ex.size:
            check_ids(ex.ravel(), s.shape[1], "exclude", unique=False)
        seen = _history_matrix(ex, s.shape[1])
    return top_k_items(s, k, seen=seen, candidates=candidates)


def next_item_hit_rate(recommended: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    """Share of rows whose true next item ``truth[i]`` is among ``recommended[i, :k]``."""
    rec = check_recommendations(recommended, "recommended")
    truth = np.asarray(truth)
    if truth.ndim != 1 or len(rec) != len(truth):
        raise RecsysError(f"recommended must be (n, >=k) with one truth per row, got {rec.shape} and {truth.shape}")
    check_ids(truth, _BIG, "truth", unique=False)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= rec.shape[1]:
        raise RecsysError(f"k must be an integer between 1 and {rec.shape[1]}, got {k!r}")
    return float((rec[:, :k] == truth[:, None]).any(axis=1).mean())


class _GRUNet(nn.Module):
    def __init__(self, item_emb: torch.Tensor, hidden: int):
        super().__init__()
        self.register_buffer("items", item_emb)
        self.gru = nn.GRU(item_emb.shape[1], hidden, batch_first=True)
        self.out = nn.Linear(hidden, item_emb.shape[1])
        self.scale = nn.Parameter(torch.tensor(10.0))

    def reset_parameters(self, generator: torch.Generator) -> None:
        """torch's default initialisation, drawn from ``generator`` instead of the global one: the GRU's
        and the output layer's weights and biases uniform in ``+-1/sqrt(hidden)``; ``scale`` 10."""
        bound = 1.0 / np.sqrt(self.gru.hidden_size)
        with torch.no_grad():
            for p in list(self.gru.parameters()) + list(self.out.parameters()):
                p.uniform_(-bound, bound, generator=generator)
            self.scale.fill_(10.0)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        h, _ = self.gru(self.items[seq])  # (b, t, hidden)
        return self.scale * self.out(h) @ self.items.T  # (b, t, n_items)


def sessions_to_matrix(sessions: np.ndarray, n_items: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Sessions ``(n, length)`` of item ids as the recommender contract's input: ``(X, timestamps)``.

    ``X``: ``(n, n_items)`` CSR, 1 where the session holds the item; ``timestamps``: the
    same pattern holding each item's position in its session, counted from 1 (a sparse
    matrix cannot store a time of 0). A session that repeats an item is refused: one
    entry of ``X`` cannot hold two positions.
    """
    s = _check_sessions(sessions, n_items)
    srt = np.sort(s, axis=1)
    rep = (srt[:, 1:] == srt[:, :-1]).any(axis=1)
    if rep.any():
        row = int(np.flatnonzero(rep)[0])
        raise RecsysError(f"sessions row {row} repeats an item ({s[row].tolist()}): "
                          "a session must hold distinct items")
    rows = np.repeat(np.arange(len(s)), s.shape[1])
    pos = np.tile(np.arange(1, s.shape[1] + 1, dtype=np.float64), len(s))
    x = sp.csr_matrix((np.ones(s.size), (rows, s.ravel())), shape=(len(s), n_items))
    t = sp.csr_matrix((pos, (rows, s.ravel())), shape=(len(s), n_items))
    x.sort_indices()
    t.sort_indices()
    return x, t


def gru_train_step(net: nn.Module, opt: torch.optim.Optimizer, batch: torch.Tensor) -> float:
    """One step of next-item training on ``batch`` ``(b, t)`` item ids (sessions of one length).

    The net reads positions ``0..t-2`` and returns ``(b, t-1, n_items)`` scores; every position
    is trained to put the item that actually came next first (cross-entropy over the whole
    catalog). Returns the batch's mean loss.
    """
    logits = net(batch[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


class GRURecommender(Recommender):
    """Next-item model: a GRU over the session's (frozen) item embeddings.

    At every step the GRU state is mapped into the embedding space and scored against
    every catalog item (dot product), trained with cross-entropy on the actual next item
    of each position of the training sessions. Because items are scored through their
    image embeddings, not per-id weights, the model can rank items it never saw in a
    training session.

    The recommender contract: ``fit(X, *, item_features, timestamps)`` with ``X`` sessions
    (or users) x items, ``item_features`` ``(n_items, d)`` embeddings and ``timestamps``
    ordering each row's items (``sessions_to_matrix`` builds both from an ``(n, length)``
    array); interaction weights are not used, only which items a row holds and in what
    order. ``score(users)`` / ``recommend(users, k, exclude_seen, candidates)`` predict the
    item after each fitted row's history. Beyond the contract, ``score_sessions(histories)``
    and ``recommend_sessions(histories, k, ...)`` do the same for new histories ``(n, t)``.
    Weights are drawn from a local generator seeded with ``seed`` (the global seed is untouched).
    """

    def __init__(self, hidden: int = 64, epochs: int = 10, batch_size: int = 128, lr: float = 5e-3, seed: int = 0,
                 device: str = "auto", progress: bool = True):
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.seed = seed
        self.device = device
        self.progress = progress

    def fit(self, X, *, item_features=None, timestamps=None):
        import pandas as pd
        from tqdm.auto import tqdm

        check_hyper("hidden", self.hidden, 1, integer=True)
        check_hyper("epochs", self.epochs, 1, integer=True)
        check_hyper("batch_size", self.batch_size, 1, integer=True)
        check_hyper("lr", self.lr, 0.0, strict=True)
        m = check_user_items(X)
        emb = check_item_features(item_features, m.shape[1], type(self).__name__, np.float32)
        ts = check_timestamps(timestamps, m, type(self).__name__)
        seqs = []
        for u in range(m.shape[0]):
            lo, hi = ts.indptr[u], ts.indptr[u + 1]
            order = np.lexsort((ts.indices[lo:hi], ts.data[lo:hi]))  # by time, then item id
            seqs.append(ts.indices[lo:hi][order].astype(np.int64))
        # Rows of one length train together (no padding); a row needs 2 items to have a next item.
        groups = {}
        for seq in seqs:
            if len(seq) >= 2:
                groups.setdefault(len(seq), []).append(seq)
        if not groups:
            raise RecsysError("X has no row with at least 2 items: nothing to learn a next item from")
        groups = [torch.as_tensor(np.stack(groups[n]), dtype=torch.long) for n in sorted(groups)]
        dev = get_device(self.device)
        gen = torch_generator(self.seed)
        with torch.random.fork_rng(devices=[]):  # torch's constructors draw weights from the global generator
            net = _GRUNet(torch.from_numpy(emb), self.hidden)
        net.reset_parameters(gen)
        net = net.to(dev)
        opt = torch.optim.Adam(net.parameters(), lr=self.lr)
        rows = []
        for epoch in tqdm(range(self.epochs), desc="epochs", disable=not self.progress, leave=False):
            net.train()
            tot, n_b = 0.0, 0
            for s in groups:
                order = torch.randperm(len(s), generator=gen)
                for b in range(0, len(s), self.batch_size):
                    batch = s[order[b : b + self.batch_size]].to(dev)
                    tot += gru_train_step(net, opt, batch)
                    n_b += 1
            rows.append({"epoch": epoch + 1, "loss": tot / n_b})
        self.net_ = net.cpu().eval()
        self.user_items_ = m
        self.sequences_ = seqs
        self.history_ = pd.DataFrame(rows)
        return self

    @torch.no_grad()
    def score_sessions(self, histories: np.ndarray) -> np.ndarray:
        """Scores ``(n, n_items)`` for the item that follows each history ``(n, t)`` of item ids."""
        self._check_fitted()
        h = torch.as_tensor(_check_sessions(histories, self.n_items_), dtype=torch.long)
        return self.net_(h)[:, -1].numpy().astype(np.float64)

    def recommend_sessions(self, histories: np.ndarray, k: int = 10, exclude_seen: bool = True,
                           candidates=None) -> np.ndarray:
        """Top-``k`` next items per history ``(n, t)``, best first, ``(n, k)`` int64 (items in it skipped by default)."""
        if not isinstance(exclude_seen, (bool, np.bool_)):
            raise RecsysError(f"exclude_seen must be True or False, got {exclude_seen!r}")
        scores = self.score_sessions(histories)
        return top_k(scores, k, np.asarray(histories) if exclude_seen else None, candidates)

    def score(self, users) -> np.ndarray:
        """Next-item scores ``(len(users), n_items)`` after each fitted row's whole history."""
        users = self._check_users(users)
        out = np.empty((len(users), self.n_items_))
        lengths = np.array([len(self.sequences_[u]) for u in users])
        if (lengths == 0).any():
            u = int(users[np.flatnonzero(lengths == 0)[0]])
            raise RecsysError(f"user {u} has no history: the GRU needs at least one item to predict the next")
        for n in np.unique(lengths):  # one forward pass per history length
            idx = np.flatnonzero(lengths == n)
            out[idx] = self.score_sessions(np.stack([self.sequences_[users[i]] for i in idx]))
        return out


def next_item_probabilities(histories: np.ndarray, labels: np.ndarray, transition: np.ndarray,
                            classes: np.ndarray | None = None) -> np.ndarray:
    """The simulator's true ``P(next item | history)``: ``(n, n_items)``, rows sum to 1.

    ``P(class c follows the last item's class) / (items of c not yet in the history)`` for
    unseen items, 0 for seen ones (``simulate_sessions`` never repeats an item). Uses the
    ``transition`` matrix from ``simulate_sessions``' info, which a real system never sees.
    """
    labels = np.asarray(labels)
    h = _check_sessions(histories, len(labels))
    classes = np.unique(labels) if classes is None else np.asarray(classes)
    pos = np.searchsorted(classes, labels)
    n_c = len(classes)
    seen = np.zeros((len(h), len(labels)), dtype=bool)
    np.put_along_axis(seen, h, True, axis=1)
    unseen_per_class = np.stack([(~seen[:, pos == c]).sum(1) for c in range(n_c)], axis=1)  # (n, n_c)
    p_class = np.asarray(transition)[pos[h[:, -1]]]  # (n, n_c)
    per_item = p_class / np.maximum(unseen_per_class, 1)
    probs = per_item[:, pos]
    probs[seen] = 0.0
    return probs


def markov_oracle_scores(histories: np.ndarray, labels: np.ndarray, transition: np.ndarray,
                         classes: np.ndarray | None = None) -> np.ndarray:
    """The ceiling: every item scored by its true next-item probability (``next_item_probabilities``).

    Its top-k maximises the expected HitRate@k; ties inside a class are broken by item id.
    """
    return next_item_probabilities(histories, labels, transition, classes)


def expected_hit_rate(recommended: np.ndarray, probabilities: np.ndarray, k: int = 10) -> float:
    """Mean over rows of the true probability that the next item is in ``recommended[i, :k]``.

    A noise-free version of ``next_item_hit_rate`` for simulated sessions: it averages over every
    possible next item instead of the one that was drawn. ``recommended`` must not repeat ids
    within a row.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2:
        raise RecsysError(f"probabilities must be (n, n_items), got shape {p.shape}")
    rec = check_recommendations(recommended, "recommended", p.shape[1])
    if len(rec) != len(p):
        raise RecsysError(f"recommended {rec.shape} and probabilities {p.shape} need one row per history")
    if not np.isfinite(p).all() or (p < 0).any() or (p.sum(axis=1) > 1 + 1e-6).any():
        raise RecsysError("probabilities must be finite, >= 0, each row summing to at most 1")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= rec.shape[1]:
        raise RecsysError(f"k must be an integer between 1 and {rec.shape[1]}, got {k!r}")
    return float(np.take_along_axis(p, rec[:, :k], axis=1).sum(1).mean())


def learned_transition_scores(train_sessions: np.ndarray, histories: np.ndarray, groups: np.ndarray,
                              smoothing: float = 1.0) -> np.ndarray:
    """A learned first-order baseline: next-item scores from group-to-group transition counts.

    ``train_sessions`` ``(n_train, length)`` and ``histories`` ``(n, t)`` are item ids;
    ``groups`` ``(n_items,)`` gives each item a group id (for a fair baseline, clusters of
    the item embeddings, never the simulator's own classes). From the training sessions it
    counts how often a group follows another, ``P(g' | g) = (count(g -> g') + smoothing) /
    (count(g -> .) + smoothing * G)``, and scores each unseen item ``j`` after a history by
    ``P(group(j) | group(last item)) / (unseen items of group(j))``: the probability of
    that item if the next group follows the learned chain and the item is uniform in it.
    Items already in the history score 0. Returns ``(n, n_items)`` float64, rows summing to 1
    (up to groups with no unseen item left). With ``groups`` equal to the simulator's classes
    and enough sessions it approaches ``markov_oracle_scores``.
    """
    g = np.asarray(groups)
    if g.ndim != 1 or len(g) == 0 or not np.issubdtype(g.dtype, np.integer) or (g < 0).any():
        raise RecsysError(f"groups must be a non-empty 1-D array of non-negative integer ids, got shape {g.shape} "
                          f"dtype {g.dtype}")
    if isinstance(smoothing, bool) or not np.isfinite(smoothing) or smoothing < 0:
        raise RecsysError(f"smoothing must be a finite number >= 0, got {smoothing!r}")
    train = _check_sessions(train_sessions, len(g))
    h = _check_sessions(histories, len(g))
    _, pos = np.unique(g, return_inverse=True)
    n_g = int(pos.max()) + 1
    counts = np.zeros((n_g, n_g))
    np.add.at(counts, (pos[train[:, :-1]].ravel(), pos[train[:, 1:]].ravel()), 1.0)
    totals = counts.sum(axis=1, keepdims=True) + smoothing * n_g
    p_group = np.where(totals > 0, (counts + smoothing) / np.maximum(totals, 1e-300), 1.0 / n_g)
    seen = np.zeros((len(h), len(g)), dtype=bool)
    np.put_along_axis(seen, h, True, axis=1)
    unseen = np.stack([(~seen[:, pos == c]).sum(1) for c in range(n_g)], axis=1)  # (n, n_g)
    per_item = p_group[pos[h[:, -1]]] / np.maximum(unseen, 1)
    scores = per_item[:, pos]
    scores[seen] = 0.0
    return scores

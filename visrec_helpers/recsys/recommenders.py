"""Every recommender of the workbook under one name (``visrec_helpers.recommenders`` is this module).

The models live in modules named for what they hold:

- ``recsys.base``: the ``Recommender`` contract and the shared input checks.
- ``recsys.baselines``: ``RandomRecommender`` and ``Popularity``.
- ``recsys.neighbours``: ``ItemKNN``, ``UserKNN`` and their shrunk cosine similarity.
- ``recsys.factorisation``: ``ALS`` (``als_half_step``, ``als_loss``), ``BPR`` (``bpr_step``),
  ``VBPR`` and the ``implicit`` reference ``ImplicitALS``.
- ``recsys.content``: ``ProfileRecommender`` (mean, recency and multi-interest profiles).
- ``recsys.oracle``: ``OracleRecommender``, the ceiling row on simulated data (ranks by true utility).
"""

from visrec_helpers.recsys.base import Recommender, check_user_items
from visrec_helpers.recsys.baselines import Popularity, RandomRecommender
from visrec_helpers.recsys.content import ProfileRecommender
from visrec_helpers.recsys.factorisation import (
    ALS,
    BPR,
    VBPR,
    ImplicitALS,
    als_half_step,
    als_loss,
    bpr_step,
)
from visrec_helpers.recsys.neighbours import ItemKNN, UserKNN, cosine_similarity_sparse
from visrec_helpers.recsys.oracle import OracleRecommender

__all__ = [
    "ALS", "BPR", "VBPR", "ImplicitALS", "ItemKNN", "OracleRecommender", "Popularity", "ProfileRecommender",
    "RandomRecommender", "Recommender", "UserKNN", "als_half_step", "als_loss", "bpr_step",
    "check_user_items", "cosine_similarity_sparse",
]

"""Helper package of the Visual Recommendation Workbook, in layers.

Each sub-package may import only the layers listed before it (``tests/test_layers.py``
enforces this):

1. ``core``: device, random generators, the cache and its model registry, safe checkpoints,
   errors, array conversions, records of figures, plotting helpers.
2. ``data``: bundled images, catalogs, simulated interactions, your own files, splits.
3. ``vision``: networks, training, encoders and features, detection, restoration,
   segmentation, style transfer, generation, transfer and domain adaptation.
4. ``search``: nearest-neighbour indexes, compression, labelled and keyword retrieval.
5. ``recsys``: the recommender contract and its models, cold start, sessions, tags,
   metrics, A/B tests.
6. ``serving``: the real-time path, widgets, Spark jobs, the capacity plan.

The workbook's own machinery (notebook runner, hygiene, network guard, book site, benchmarks,
exercises, flashcards, mock interview) is a separate package, ``visrec_book``; no library
module imports it.

``visrec_helpers.index``, ``.recommenders`` and ``.metrics`` re-export their layer's
modules under the names the README and older notebooks use.
"""

from visrec_helpers.core.records import read_records, record, record_all, recorded

__all__ = ["record", "record_all", "read_records", "recorded"]
__version__ = "0.1.0"

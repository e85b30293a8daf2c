"""Helper package of the Visual Recommendation Workbook.

Modules mirror the chapters: ``data`` (bundled images, catalogs, interactions),
``features`` (encoders, embeddings), ``index`` (nearest-neighbour search),
``recommenders``, ``metrics``, ``splits``, ``training``, ``viz``. Data flows one way:
data -> features -> index/recommenders -> metrics -> viz.
"""

from .records import read_records, record, recorded

__all__ = ["record", "read_records", "recorded"]
__version__ = "0.1.0"

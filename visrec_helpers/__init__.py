"""Helper package of the Visual Recommendation Workbook.

Modules are named for what they hold, and a reader can find the helper behind a notebook by
topic: ``data`` (bundled images, catalogs, simulated interactions, your own files),
``features`` (encoders, embeddings), ``index`` (nearest-neighbour search), ``retrieval``
(labelled and keyword retrieval), ``recommenders``, ``metrics``, ``splits``, ``coldstart``,
``abtest``, ``tags``, ``models`` and ``training`` (networks and the one training loop),
``transfer``, ``semisupervised``, ``domain``, ``sequence``, ``detection``, ``restoration``,
``segmentation``, ``style``, ``generative``, ``realtime``, ``widgets``, ``spark`` and
``architecture`` (q15), ``viz``; the workbook's own machinery is in ``workbook``, ``records``,
``hygiene``, ``netguard``, ``book``, ``bench``, ``exercises`` and ``flashcards``.
Data flows one way: data -> features -> index/recommenders -> metrics -> viz.
"""

from .records import read_records, record, recorded

__all__ = ["record", "read_records", "recorded"]
__version__ = "0.1.0"

"""Layer 1: what every other layer uses.

``device`` (``get_device``), ``rng`` (local generators; ``set_seed`` for notebooks), ``cache``
(cache folder, keys, the cached-model registry), ``checkpoints`` (safe save/load), ``errors``,
``arrays`` (``to_uint8``, ``as_matrix``), ``validation`` (ids, masks, ``k``,
``exclude`` and name lists: the one check path), ``records`` (figures a notebook records) and ``viz`` (plots).
``runtime`` re-exports ``get_device``, ``set_seed``, ``cache_dir`` and ``cache_key``.
"""

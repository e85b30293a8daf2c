"""Kept for notebooks written against it: ``from visrec_helpers.core.runtime import get_device, set_seed``.

The code lives in modules named for what they hold: ``core.device`` (``get_device``), ``core.rng``
(``set_seed`` and local generators) and ``core.cache`` (``cache_dir``, ``cache_key``, ``cached_model``).
"""

from visrec_helpers.core.cache import cache_dir, cache_key
from visrec_helpers.core.device import get_device
from visrec_helpers.core.rng import set_seed

__all__ = ["cache_dir", "cache_key", "get_device", "set_seed"]

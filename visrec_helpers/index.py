"""Kept name: the same module object as `visrec_helpers.search.index`."""

import sys

from visrec_helpers.search import index as _module

sys.modules[__name__] = _module

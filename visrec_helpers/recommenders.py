"""Kept name: the same module object as `visrec_helpers.recsys.recommenders`."""

import sys

from visrec_helpers.recsys import recommenders as _module

sys.modules[__name__] = _module

"""Kept name: the same module object as `visrec_helpers.recsys.metrics`."""

import sys

from visrec_helpers.recsys import metrics as _module

sys.modules[__name__] = _module

"""Kept name: the same module object as `visrec_helpers.vision.features` (encoders, and the
ImageNet backbone `pretrained_encoder` re-exported from `vision.pretrained`)."""

import sys

from visrec_helpers.vision import features as _module

sys.modules[__name__] = _module

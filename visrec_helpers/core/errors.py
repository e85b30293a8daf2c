"""The package's shared error classes (one definition each).

Data errors (``DataError``, ``ImageLoadError``) live with the loaders in ``visrec_helpers.data``.
"""

from __future__ import annotations


class InputError(ValueError):
    """A bad argument (an id, a mask, ``k``, ``exclude``, a name list): the message names the
    argument and the value. Raised by ``core.validation`` when a caller passes no class of its own."""


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, does not fit the model, or cannot be written safely."""


class WeightsNotFoundError(FileNotFoundError):
    """Pretrained weights are not on this machine; the message names the path and how to get them."""


class DeviceError(ValueError, RuntimeError):
    """A device string that torch does not know, or a device this machine does not have.

    Also a ``RuntimeError`` so code written against the earlier ``get_device`` still catches it.
    """

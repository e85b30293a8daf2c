"""Randomness: local generators for the library, and the one global seeding call for notebooks.

Library code takes a ``seed`` (or ``random_state``) argument and draws only from generators made
here: ``np_rng(seed)`` for NumPy, ``torch_generator(seed)`` for torch (data order, augmentation,
noise) and ``init_weights_(module, seed)`` for network weights. None of them seeds or reads the
global random state, so a library result depends only on its seed. (Building an ``nn.Module``
still draws its default weights from torch's global generator; ``init_weights_`` then replaces
them, so those draws never reach a result.)

``set_seed`` is the only function in the package that touches global state (Python's ``random``,
NumPy's legacy global generator and torch's default generators); only notebooks call it.
"""

from __future__ import annotations

import math
import numbers
import random

import numpy as np


def _check_seed(seed, name: str = "seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or int(seed) < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {seed!r}")
    return int(seed)


def set_seed(seed: int) -> np.random.Generator:
    """For notebooks only: seed Python, NumPy and torch globally; return ``np_rng(seed)``.

    Library functions never call this (a test checks): they take a seed and use local generators.
    """
    seed = _check_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # torch is a hard dependency, but keep data-only use light
        pass
    return np.random.default_rng(seed)


def np_rng(seed) -> np.random.Generator:
    """A NumPy ``Generator`` of its own: ``seed`` (int >= 0), or an existing Generator passed through."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(_check_seed(seed))


def torch_generator(seed, device="cpu"):
    """A ``torch.Generator`` on ``device`` (default CPU) seeded with ``seed``; draws from it leave
    torch's global generator untouched. Pass ``generator=`` to ``torch.rand``/``randn``/``randperm``
    and to ``DataLoader``. An existing ``torch.Generator`` is passed through."""
    import torch

    if isinstance(seed, torch.Generator):
        return seed
    return torch.Generator(device=device).manual_seed(_check_seed(seed))


_WEIGHTS_STREAM = 0x5EED  # spawn key of the weight-initialisation stream


def weights_generator(seed):
    """The CPU ``torch.Generator`` that ``init_weights_(module, seed)`` draws from: a stream of its
    own derived from ``seed`` (NumPy ``SeedSequence``), so a model's initial weights and its data
    order (``torch_generator(seed)``) never share numbers."""
    import torch

    state = np.random.SeedSequence([_check_seed(seed), _WEIGHTS_STREAM]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state >> np.uint64(1)))


def _uniform_(t, bound: float, g) -> None:
    import torch

    with torch.no_grad():
        t.copy_((torch.rand(t.shape, generator=g, dtype=torch.float64) * 2 - 1).mul_(bound).to(t.dtype))


def init_weights_(module, seed):
    """Re-initialise every parameter of ``module`` in place from a local generator; returns ``module``.

    The same distributions as torch's defaults (``reset_parameters``): convolution and linear
    weights Kaiming-uniform with ``a = sqrt(5)`` and biases uniform in ``+-1/sqrt(fan_in)``;
    embeddings standard normal; normalisation layers to weight 1, bias 0 and fresh running
    statistics. ``seed`` is an int (its own stream, derived from the seed with NumPy's
    ``SeedSequence``, distinct from ``torch_generator(seed)``) or a CPU ``torch.Generator``;
    modules are visited in registration order, so the same seed gives the same weights. A layer
    type with parameters of its own that is not covered raises ``TypeError`` (rather than keeping weights drawn from the
    global generator).
    """
    import torch
    from torch import nn

    g = seed if isinstance(seed, torch.Generator) else weights_generator(seed)
    convs = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
             nn.ConvTranspose3d, nn.Bilinear)
    norms = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.modules.instancenorm._InstanceNorm)
    for m in module.modules():
        own = list(m.parameters(recurse=False))
        if isinstance(m, convs):
            fan_in = nn.init._calculate_fan_in_and_fan_out(m.weight)[0]
            if isinstance(m, nn.Bilinear):
                fan_in = m.weight.size(1)
            # kaiming_uniform_(a=sqrt(5)) is uniform in +-sqrt(6 / ((1 + a^2) fan_in)) = +-1/sqrt(fan_in)
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            _uniform_(m.weight, bound, g)
            if getattr(m, "bias", None) is not None:
                _uniform_(m.bias, bound, g)
        elif isinstance(m, norms):
            m.reset_parameters()  # deterministic: ones, zeros and fresh running statistics
        elif isinstance(m, nn.Embedding):
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=g, dtype=torch.float64).to(m.weight.dtype))
                if m.padding_idx is not None:
                    m.weight[m.padding_idx].zero_()
        elif own:
            raise TypeError(f"init_weights_: {type(m).__name__} has parameters of its own and no generator-based "
                            "initialisation; initialise it explicitly from torch_generator(seed)")
    return module

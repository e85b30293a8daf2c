"""Randomness: local generators for the library, and the one global seeding call for notebooks.

Library code takes a ``seed`` (or ``random_state``) argument and draws only from generators made
here: ``np_rng(seed)`` for NumPy, ``torch_generator(seed)`` for torch (data order, augmentation,
noise) and ``init_weights_(module, seed)`` for network weights; ``seeded(seed)`` runs a block
whose draws from torch's default generator come from ``seed`` (``fork_rng``). None of them seeds or reads the
global random state, so a library result depends only on its seed. (Building an ``nn.Module``
still draws its default weights from torch's global generator; ``init_weights_`` then replaces
them, so those draws never reach a result.)

``set_seed`` is the only function in the package that touches global state (Python's ``random``,
NumPy's legacy global generator and torch's default generators); only notebooks call it.
"""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def seeded(seed):
    """A block whose draws from torch's global generator come from ``seed``, with the global state
    restored afterwards (``torch.random.fork_rng`` + ``manual_seed``): code that draws from the
    default generator (``reset_parameters``, dropout) becomes a function of ``seed`` and leaves
    the caller's random state as it was.

    ``seed``: an int >= 0, or a CPU ``torch.Generator`` whose state is used and then advanced by
    the draws made in the block (so successive blocks continue one stream).
    """
    import torch

    gen = seed if isinstance(seed, torch.Generator) else None
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []  # all: manual_seed seeds all
    with torch.random.fork_rng(devices=devices):
        if gen is None:
            torch.manual_seed(_check_seed(seed))
        else:
            torch.set_rng_state(gen.get_state())
        yield
        if gen is not None:
            gen.set_state(torch.get_rng_state())


def _fan_in(m) -> int:
    """The fan-in torch's default initialisation uses: one output unit's weights (a Bilinear: ``in1``)."""
    from torch import nn

    return m.weight.size(1) if isinstance(m, nn.Bilinear) else m.weight[0].numel()


def init_weights_(module, seed):
    """Re-initialise every parameter of ``module`` in place from ``seed``; returns ``module``.

    The same distributions as torch's defaults (``reset_parameters``): convolution and linear
    weights Kaiming-uniform with ``a = sqrt(5)`` and biases uniform in ``+-1/sqrt(fan_in)``;
    embeddings standard normal; any other layer with parameters (normalisation layers: weight 1,
    bias 0, fresh running statistics) through its own ``reset_parameters``. Every draw happens
    inside ``seeded(...)``, so it comes from ``seed`` and leaves the global generator as it was.
    ``seed`` is an int (its own stream, ``weights_generator(seed)``, distinct from
    ``torch_generator(seed)``) or a CPU ``torch.Generator``; modules are visited in registration
    order, so the same seed gives the same weights. A layer with parameters and no
    ``reset_parameters`` raises ``TypeError`` (rather than keeping weights drawn from the global
    generator).
    """
    import torch
    from torch import nn

    g = seed if isinstance(seed, torch.Generator) else weights_generator(seed)
    affine = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
              nn.ConvTranspose3d, nn.Bilinear)

    def uniform_(t, bound):
        t.copy_((torch.rand(t.shape, dtype=torch.float64) * 2 - 1).mul_(bound).to(t.dtype))

    with seeded(g), torch.no_grad():
        for m in module.modules():
            own = list(m.parameters(recurse=False))
            if isinstance(m, affine):
                fan_in = _fan_in(m)
                # kaiming_uniform_(a=sqrt(5)) is uniform in +-sqrt(6 / ((1 + a^2) fan_in)) = +-1/sqrt(fan_in)
                bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                uniform_(m.weight, bound)
                if getattr(m, "bias", None) is not None:
                    uniform_(m.bias, bound)
            elif isinstance(m, nn.Embedding):
                m.weight.copy_(torch.randn(m.weight.shape, dtype=torch.float64).to(m.weight.dtype))
                if m.padding_idx is not None:
                    m.weight[m.padding_idx].zero_()
            elif own or hasattr(m, "reset_running_stats"):
                if not hasattr(m, "reset_parameters"):
                    raise TypeError(f"init_weights_: {type(m).__name__} has parameters of its own and no "
                                    "reset_parameters; initialise it explicitly inside core.rng.seeded(seed)")
                m.reset_parameters()
    return module

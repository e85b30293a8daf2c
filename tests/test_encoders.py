"""The one encoder contract (``vision.encoder``): every class of the package with an ``embed``
method is found from the source with ``ast`` and run through ``check_embeddings``.

An encoder's own ``embed(images)`` must return ``(n, d)`` float32 unit rows; a network's
(``nn.Module``) ``embed(x)`` maps a float tensor batch to ``(b, d)`` and becomes an encoder
through ``ModuleEncoder``. A class with ``embed`` that the registry below does not know fails
the test, so a new encoder cannot skip the contract.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from visrec_helpers.vision.encoder import Encoder, ModuleEncoder, check_embeddings

PACKAGE = Path(__file__).resolve().parents[1] / "visrec_helpers"
GREY = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
RGB = np.random.default_rng(1).integers(0, 256, (5, 40, 40, 3), dtype=np.uint8)


def _metric_digit_net():
    from visrec_helpers.data import digits_catalog
    from visrec_helpers.recsys.sequence import MetricDigitNet

    cat = digits_catalog(n_items=60)
    return MetricDigitNet(epochs=1, batch_size=32, embed_dim=16, device="cpu", progress=False).fit(cat.images,
                                                                                                    cat.labels)


def _pretrained():
    from visrec_helpers.vision.pretrained import pretrained_encoder

    return pretrained_encoder(device="cpu", input_size=64, fast=False)


def _feature_encoders():
    from visrec_helpers.vision.features import HANDCRAFTED

    return list(HANDCRAFTED.values())


def _networks():
    from visrec_helpers.vision.features import ImageEncoder, SmallCNN
    from visrec_helpers.vision.models import DigitCNN, TinyCNN

    return {
        "vision.models.DigitCNN": [(DigitCNN(), GREY)],
        "vision.models.TinyCNN": [(TinyCNN(), GREY)],
        "vision.features.SmallCNN": [(SmallCNN(in_channels=3), RGB)],
        "vision.features.ImageEncoder": [(ImageEncoder(SmallCNN(in_channels=3), 32), RGB)],
    }


#: "module.Class" -> builder of [(instance, images)], for every class with an ``embed`` method.
ENCODERS = {
    "vision.pretrained.PretrainedEncoder": lambda: [(_pretrained(), RGB)],
    "vision.features.FeatureEncoder": lambda: [(enc, RGB) for enc in _feature_encoders()],
    "recsys.sequence.MetricDigitNet": lambda: [(_metric_digit_net(), GREY)],
    "vision.encoder.ModuleEncoder": lambda: [(ModuleEncoder(net, device="cpu"), x)
                                             for pairs in _networks().values() for net, x in pairs],
}
NETWORKS = {name: (lambda name=name: _networks()[name]) for name in (
    "vision.models.DigitCNN", "vision.models.TinyCNN", "vision.features.SmallCNN", "vision.features.ImageEncoder")}


def classes_with_embed(root: Path = PACKAGE) -> set[str]:
    """``module.Class`` (relative to the package) of every class defining a method ``embed``."""
    found = set()
    for path in root.rglob("*.py"):
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_") and any(
                    isinstance(f, ast.FunctionDef) and f.name == "embed" for f in node.body):
                if node.name != "Encoder" or module != "vision.encoder":  # the Protocol itself
                    found.add(f"{module}.{node.name}")
    return found


def test_every_class_with_embed_is_checked_against_the_contract():
    assert classes_with_embed() == set(ENCODERS) | set(NETWORKS)


def test_the_finder_sees_a_planted_encoder(tmp_path):
    (tmp_path / "planted.py").write_text("class Sneaky:\n    def embed(self, images):\n        return images\n")
    assert classes_with_embed(tmp_path) == {"planted.Sneaky"}


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_encoders_return_float32_unit_rows(name):
    for encoder, images in ENCODERS[name]():
        assert isinstance(encoder, Encoder)
        z = check_embeddings(encoder.embed(images), n=len(images), name=f"{name}.embed")
        assert z.shape[1] >= 1
        np.testing.assert_allclose(encoder.embed(images[:2]), z[:2], rtol=1e-4, atol=1e-5)  # a batch of one's own


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_networks_map_a_tensor_batch_and_become_encoders(name):
    for network, images in NETWORKS[name]():
        from visrec_helpers.vision.training import images_to_tensor

        x = images_to_tensor(images)
        if name == "vision.features.SmallCNN":  # no resizing inside: feed it the size it is built for
            x = torch.nn.functional.interpolate(x, size=(32, 32))
        with torch.no_grad():
            out = network.eval().embed(x)
        assert isinstance(out, torch.Tensor) and out.shape[0] == len(images) and out.ndim == 2
        check_embeddings(ModuleEncoder(network, device="cpu").embed(images), n=len(images))


@pytest.mark.parametrize("bad, match", [
    (np.ones((3, 4), dtype=np.float64), "float32"),
    (np.ones((3,), dtype=np.float32), r"shape \(n, d\)"),
    (np.full((3, 4), 0.3, dtype=np.float32), "not 1"),
    (np.array([[np.nan, 1.0]], dtype=np.float32), "NaN"),
    ([[1.0, 0.0]], "numpy array"),
])
def test_check_embeddings_refuses_what_breaks_the_contract(bad, match):
    with pytest.raises(ValueError, match=match):
        check_embeddings(bad)


def test_check_embeddings_counts_rows_and_allows_a_zero_row():
    z = np.array([[1.0, 0.0], [0.0, 0.0]], dtype=np.float32)
    assert check_embeddings(z, n=2) is z
    with pytest.raises(ValueError, match="2 rows for 3 images"):
        check_embeddings(z, n=3)


def test_module_encoder_refuses_what_is_not_a_network():
    with pytest.raises(TypeError, match="nn.Module with an embed"):
        ModuleEncoder(object())

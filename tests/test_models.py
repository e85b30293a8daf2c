"""Small network definitions: shapes, parameter counts, input checks."""

import pytest
import torch

from visrec_helpers.vision.models import DigitCNN, TinyCNN, count_parameters


@pytest.mark.parametrize("pool_size", [1, 3])
def test_digit_cnn_shapes(pool_size):
    m = DigitCNN(n_classes=7, embed_dim=16, width=8, pool_size=pool_size).eval()
    x = torch.rand(5, 1, 28, 28)
    assert m(x).shape == (5, 7)
    assert m.embed(x).shape == (5, 16)
    assert (m.embed(x) >= 0).all()  # ReLU embedding


def test_digit_cnn_default_signature_and_size():
    m = DigitCNN()
    # conv 1->32 (320) + bn (64) + conv 32->64 (18,496) + bn (128) + conv 64->64 (36,928) + bn (128)
    # + project 64->64 (4,160) + head 64->10 (650): the documented "about 60k"
    assert count_parameters(m) == 60_874
    assert DigitCNN(in_channels=3)(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_global_pooling_accepts_any_input_size():
    m = DigitCNN(width=8).eval()
    assert m(torch.rand(2, 1, 8, 8)).shape == (2, 10)
    assert m(torch.rand(2, 1, 64, 40)).shape == (2, 10)


def test_tiny_cnn_is_much_smaller():
    tiny, big = TinyCNN(), DigitCNN(pool_size=3)
    assert tiny(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    assert count_parameters(tiny) * 20 < count_parameters(big)


def test_bad_arguments_and_inputs_raise():
    with pytest.raises(ValueError, match="width"):
        DigitCNN(width=0)
    with pytest.raises(ValueError, match="c1"):
        TinyCNN(c1=-1)
    with pytest.raises(ValueError, match=r"\(n, C, H, W\)"):
        DigitCNN().embed(torch.rand(28, 28))
    with pytest.raises(ValueError, match=r"\(n, C, H, W\)"):
        TinyCNN()(torch.rand(1, 28, 28))

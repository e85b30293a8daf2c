"""Specification of visrec_helpers.vision.domain: the two domains, gradient reversal, AdaBN,
fine-tuning and retrieval mAP (in one domain and across domains)."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from visrec_helpers.vision import domain as D
from visrec_helpers.vision.models import DigitCNN


@pytest.fixture(scope="module")
def domains():
    return D.load_domains(pad=4)


# --- Data ---------------------------------------------------------------------

def test_domains_are_real_and_28x28(domains):
    (Xm, ym), (Xd, yd) = domains["mnist"], domains["digits8x8"]
    assert Xm.shape == (5000, 28, 28) and Xd.shape == (1797, 28, 28)
    assert Xm.dtype == Xd.dtype == np.uint8
    assert set(ym.tolist()) == set(yd.tolist()) == set(range(10))


def test_framing_leaves_an_empty_border(domains):
    Xd = domains["digits8x8"][0]
    assert Xd[:, :4].max() == 0 and Xd[:, -4:].max() == 0
    from visrec_helpers.data import load_digits_8x8

    stretched = D.resize_digits(load_digits_8x8()[0], 28, pad=0)
    assert stretched[:, :4].max() > 0


def test_resize_digits_rejects_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        D.resize_digits(np.zeros((2, 8, 8), np.float32))
    with pytest.raises(ValueError, match="non-empty"):
        D.resize_digits(np.zeros((0, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="no room"):
        D.resize_digits(np.zeros((1, 8, 8), np.uint8), size=8, pad=4)


def test_few_label_indices_are_balanced_and_seeded():
    y = np.repeat(np.arange(10), 20)
    idx = D.few_label_indices(y, 3, seed=1)
    assert np.bincount(y[idx]).tolist() == [3] * 10
    assert (idx == D.few_label_indices(y, 3, seed=1)).all()
    with pytest.raises(ValueError, match="fewer than per_class"):
        D.few_label_indices(y, 21)
    with pytest.raises(ValueError, match="per_class"):
        D.few_label_indices(y, 0)


# --- Gradient reversal and DANN ---------------------------------------------------

def test_grad_reverse_is_identity_forward_and_negates_gradient():
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    out = D.grad_reverse(x, 0.7)
    assert torch.equal(out, x)
    (out * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert torch.allclose(x.grad, torch.tensor([-0.7, -1.4, -2.1]))


def test_dann_schedule_ramps_from_zero_to_max():
    assert D.dann_schedule(0.0, 0.5) == 0.0
    assert D.dann_schedule(1.0, 0.5) == pytest.approx(0.5, abs=1e-4)
    vals = [D.dann_schedule(p) for p in np.linspace(0, 1, 11)]
    assert all(a < b for a, b in zip(vals, vals[1:]))


def test_dann_needs_target_images(domains):
    Xm, ym = domains["mnist"]
    with pytest.raises(ValueError, match="X_target"):
        D.DomainAdaptedClassifier(adapt="dann", epochs=1, progress=False).fit(Xm[:40], ym[:40])
    with pytest.raises(ValueError, match="adapt"):
        D.DomainAdaptedClassifier(adapt="coral", epochs=1, progress=False).fit(Xm[:40], ym[:40])
    with pytest.raises(ValueError, match="labels"):
        D.DomainAdaptedClassifier(adapt="none", epochs=1, progress=False).fit(Xm[:40], ym[:30])


def test_predict_before_fit_raises():
    with pytest.raises(RuntimeError, match="not fitted"):
        D.DomainAdaptedClassifier().predict(np.zeros((2, 28, 28), np.uint8))


def test_dann_fit_runs_and_records_domain_accuracy(domains):
    Xm, ym = domains["mnist"]
    Xd = domains["digits8x8"][0]
    clf = D.DomainAdaptedClassifier(adapt="dann", epochs=2, batch_size=32, progress=False, device="cpu")
    clf.fit(Xm[:96], ym[:96], Xd[:64])
    assert list(clf.history_.columns) == ["epoch", "class_loss", "domain_loss", "domain_acc", "lambda"]
    assert clf.history_["lambda"].iloc[-1] > clf.history_["lambda"].iloc[0] >= 0
    assert clf.predict(Xd[:5]).shape == (5,)


def test_same_seed_same_model(domains):
    Xm, ym = domains["mnist"]
    a = D.DomainAdaptedClassifier(adapt="none", epochs=1, progress=False, device="cpu").fit(Xm[:64], ym[:64])
    b = D.DomainAdaptedClassifier(adapt="none", epochs=1, progress=False, device="cpu").fit(Xm[:64], ym[:64])
    for p, q in zip(a.model_.parameters(), b.model_.parameters()):
        assert torch.equal(p, q)


# --- AdaBN and fine-tuning ----------------------------------------------------------

def test_adabn_sets_statistics_to_the_target_and_keeps_weights(domains):
    torch.manual_seed(0)
    model = DigitCNN().eval()
    Xd = domains["digits8x8"][0][:200]
    adapted = D.adapt_batchnorm(model, Xd)
    for p, q in zip(model.parameters(), adapted.parameters()):
        assert torch.equal(p, q)
    # the first batch-norm layer now holds the mean of its input over the target images
    x = torch.from_numpy(Xd).float().unsqueeze(1) / 255.0
    with torch.no_grad():
        first_conv = model.features[0](x)
    expected = first_conv.mean(dim=(0, 2, 3))
    assert torch.allclose(adapted.features[1].running_mean, expected, atol=1e-4)
    assert not torch.allclose(model.features[1].running_mean, expected, atol=1e-4)


def test_adabn_restores_momentum_so_later_training_updates_statistics(domains):
    model = DigitCNN()
    adapted = D.adapt_batchnorm(model, domains["digits8x8"][0][:64])
    assert [m.momentum for m in adapted.modules() if isinstance(m, torch.nn.BatchNorm2d)] == [0.1, 0.1, 0.1]


def test_adabn_refuses_a_model_without_batchnorm():
    with pytest.raises(ValueError, match="batch-norm"):
        D.adapt_batchnorm(torch.nn.Linear(3, 2), np.zeros((2, 28, 28), np.uint8))


def test_fine_tune_returns_a_changed_copy(domains):
    torch.manual_seed(0)
    model = DigitCNN()
    Xd, yd = domains["digits8x8"]
    tuned = D.fine_tune(model, Xd[:20], yd[:20], epochs=1, device="cpu")
    assert tuned is not model
    assert any(not torch.equal(p, q) for p, q in zip(model.parameters(), tuned.parameters()))
    with pytest.raises(ValueError, match="labels"):
        D.fine_tune(model, Xd[:20], yd[:10])


# --- Retrieval mAP ---------------------------------------------------------------------

def test_retrieval_map_golden_value():
    # query label 0; gallery ranked by similarity: [0, 1, 0, 1] -> AP = (1/1 + 2/3) / 2
    q = np.array([[1.0, 0.0]])
    g = np.array([[1.0, 0.0], [0.9, 0.436], [0.5, 0.866], [0.0, 1.0]])
    assert D.retrieval_map(q, [0], g, [0, 1, 0, 1]) == pytest.approx((1 + 2 / 3) / 2)
    assert D.retrieval_map(q, [0], g, [0, 1, 0, 1], k=1) == pytest.approx(1.0)


def test_retrieval_map_matches_in_domain_labelled_retrieval():
    from visrec_helpers.search.retrieval import labelled_retrieval

    rng = np.random.default_rng(0)
    e = rng.normal(size=(60, 5)).astype(np.float32)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    y = rng.integers(0, 4, 60)
    ours = D.retrieval_map(e, y, e, y, k=10, exclude_self=True)
    assert ours == pytest.approx(labelled_retrieval(e, y, k=10)["map@10"], abs=1e-6)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 5), st.integers(0, 1000))
def test_retrieval_map_is_one_for_perfectly_separated_classes(n_classes, seed):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), 4)
    e = np.eye(8)[y] + 0.01 * rng.normal(size=(len(y), 8))
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    assert D.retrieval_map(e, y, e, y, exclude_self=True) == pytest.approx(1.0)


def test_retrieval_map_rejects_bad_input():
    e = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match="dimension"):
        D.retrieval_map(e, [0, 1, 2], np.eye(4)[:3], [0, 1, 2])
    with pytest.raises(ValueError, match="NaN"):
        D.retrieval_map(np.full((1, 3), np.nan), [0], e, [0, 1, 2])
    with pytest.raises(ValueError, match="k must be"):
        D.retrieval_map(e, [0, 1, 2], e, [0, 1, 2], k=5)
    with pytest.raises(ValueError, match="no relevant"):
        D.retrieval_map(e[:1], [7], e, [0, 1, 2])
    with pytest.raises(ValueError, match="labels"):
        D.retrieval_map(e, [0, 1], e, [0, 1, 2])


# ---------------------------------------------------------------------------
# Adaptation over frozen features (q09's emoji styles)
# ---------------------------------------------------------------------------

def _feature_domains(n=120, d=16, n_classes=3, shift=2.0, seed=0):
    """Two domains of class-separated features; the target is the source shifted and scaled."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    centres = rng.normal(size=(n_classes, d)) * 3
    Xs = (centres[y] + rng.normal(size=(n, d))).astype(np.float32)
    Xt = (1.5 * (centres[y] + rng.normal(size=(n, d))) + shift).astype(np.float32)
    return Xs, Xt, y


def test_dann_step_reverses_the_domain_gradient_into_the_encoder():
    from visrec_helpers.core.rng import init_weights_

    def parts():
        enc = init_weights_(torch.nn.Linear(4, 3), 0)
        clf, disc = init_weights_(torch.nn.Linear(3, 2), 1), init_weights_(torch.nn.Linear(3, 2), 2)
        opt = torch.optim.SGD([*enc.parameters(), *clf.parameters(), *disc.parameters()], lr=0.1)
        return enc, clf, disc, opt

    g = torch.Generator().manual_seed(0)
    xs, xt, ys = torch.randn(8, 4, generator=g), torch.randn(8, 4, generator=g), torch.randint(0, 2, (8,), generator=g)
    a, b = parts(), parts()
    out = D.dann_step(*a, xs, ys, xt, 0.0)   # lambda 0: the encoder sees only the class loss
    D.dann_step(*b, xs, ys, xt, 1.0)
    assert set(out) == {"class_loss", "domain_loss", "domain_acc"} and 0 <= out["domain_acc"] <= 1
    assert torch.equal(a[2].weight, b[2].weight), "the discriminator's own update does not depend on lambda"
    assert not torch.equal(a[0].weight, b[0].weight), "lambda changes what the encoder receives"


def test_features_to_tensor_rejects_bad_input():
    with pytest.raises(ValueError, match="non-empty"):
        D.features_to_tensor(np.zeros((0, 3)))
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        D.features_to_tensor(np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        D.features_to_tensor(np.array([[np.nan, 1.0]]))


def test_adabn_on_features_sets_the_input_statistics_to_the_target():
    Xs, Xt, y = _feature_domains()
    model, _ = D.train_feature_adapter(Xs, y, epochs=2, seed=0)
    adapted = D.adapt_batchnorm(model, Xt)
    bn = adapted.embed[0]
    np.testing.assert_allclose(bn.running_mean.numpy(), Xt.mean(0), atol=1e-4)
    np.testing.assert_allclose(model.embed[0].running_mean.numpy(), Xs.mean(0), atol=1e-4)
    assert torch.equal(adapted.head.weight, model.head.weight), "AdaBN changes no weight"


def test_train_feature_adapter_learns_the_source_and_is_seeded():
    Xs, _, y = _feature_domains()
    m1, hist = D.train_feature_adapter(Xs, y, epochs=10, batch_size=32, seed=3)
    m2, _ = D.train_feature_adapter(Xs, y, epochs=10, batch_size=32, seed=3)
    _, pred = D.embed_features(m1, Xs)
    assert (pred == y).mean() > 0.9
    assert list(hist.columns) == ["epoch", "class_loss"] and len(hist) == 10
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))


def test_dann_adapter_records_the_adversarial_game_and_needs_target_features():
    Xs, Xt, y = _feature_domains()
    _, hist = D.train_feature_adapter(Xs, y, Xt, adapt="dann", epochs=3, batch_size=32, lambda_max=1.0)
    assert list(hist.columns) == ["epoch", "class_loss", "domain_loss", "domain_acc", "lambda"]
    assert hist["lambda"].is_monotonic_increasing and 0 < hist["lambda"].iloc[-1] <= 1.0
    with pytest.raises(ValueError, match="X_target"):
        D.train_feature_adapter(Xs, y, adapt="dann")
    with pytest.raises(ValueError, match="adapt"):
        D.train_feature_adapter(Xs, y, adapt="coral")


def test_fine_tuning_from_init_keeps_the_original_untouched():
    Xs, Xt, y = _feature_domains()
    base, _ = D.train_feature_adapter(Xs, y, epochs=2, seed=0)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    tuned, _ = D.train_feature_adapter(Xt[:30], y[:30], init=base, epochs=2, batch_size=10, seed=0)
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())
    assert not torch.equal(tuned.head.weight, base.head.weight)
    with pytest.raises(ValueError, match="y_source"):
        D.train_feature_adapter(Xs, y + 5, init=base, epochs=1)


def test_embed_features_returns_unit_rows_and_predictions():
    Xs, _, y = _feature_domains()
    model, _ = D.train_feature_adapter(Xs, y, epochs=1, seed=0, embed_dim=8)
    emb, pred = D.embed_features(model, Xs[:5])
    assert emb.shape == (5, 8) and pred.shape == (5,)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_pair_hits_golden_values():
    q = np.array([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6]])
    g = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])   # own pair ranked 1st, 2nd and 3rd
    np.testing.assert_array_equal(D.pair_hits(q, g, 1), [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(D.pair_hits(q, g, 2), [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(D.pair_hits(q, g, 3), [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="row i the same item"):
        D.pair_hits(q, g[:2])
    with pytest.raises(ValueError, match="k must be"):
        D.pair_hits(q, g, 0)

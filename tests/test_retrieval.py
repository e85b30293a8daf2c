"""Specification of retrieval: metrics on worked examples, the query never counts as its
own result, TF-IDF ranking of the tag index, visual expansion, the joint embedding."""

import numpy as np
import pytest
import torch

from visrec_helpers.search import retrieval
from visrec_helpers.search.retrieval import (
    JointEmbedding,
    TagIndex,
    average_precision_of_flags,
    labelled_retrieval,
    relevant_items,
    tokenize,
    visual_expansion,
)


def test_average_precision_golden():
    # hits at ranks 1 and 3 of 3 reachable: (1/1 + 2/3) / min(3, 3)
    assert average_precision_of_flags([1, 0, 1], n_relevant=3, k=3) == pytest.approx((1 + 2 / 3) / 3)
    assert average_precision_of_flags([1, 1, 0, 0], n_relevant=2, k=4) == 1.0
    assert average_precision_of_flags([0, 0], n_relevant=0, k=2) == 0.0


def test_query_is_excluded_from_its_own_results():
    # Two tight pairs: with the query removed, each item's nearest other item shares its label.
    emb = np.array([[1, 0], [0.99, 0.14], [0, 1], [0.14, 0.99]], dtype=np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    out = labelled_retrieval(emb, np.array([0, 0, 1, 1]), k=1)
    assert out["precision@1"] == 1.0 and out["map@1"] == 1.0 and out["queries"] == 4
    # If the query were counted it would fill rank 1 itself; a wrong label at rank 1 proves it is not.
    out = labelled_retrieval(emb, np.array([0, 1, 0, 1]), k=1)
    assert out["precision@1"] == 0.0


def test_duplicate_images_still_count_as_results():
    emb = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
    out = labelled_retrieval(emb, np.array([0, 0, 1]), k=1, queries=[0])
    assert out["precision@1"] == 1.0


def test_labelled_retrieval_bad_input():
    emb = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match="one row per item"):
        labelled_retrieval(emb, np.array([0, 1]))
    with pytest.raises(ValueError, match="larger than"):
        labelled_retrieval(emb, np.array([0, 1, 1]), k=3)
    with pytest.raises(ValueError, match="queries must be item ids"):
        labelled_retrieval(emb, np.array([0, 1, 1]), k=1, queries=[5])


TAGS = [["cat", "orange"], ["cat", "gray"], ["dog", "orange"], ["car"], []]


def test_tag_index_ranks_items_matching_more_and_rarer_words_first():
    idx = TagIndex().fit(TAGS)
    scores, ids = idx.search("orange cat", k=5)
    assert ids[0] == 0  # both words
    assert set(ids[1:].tolist()) == {1, 2}  # one word each; the untagged item and "car" never appear
    assert scores[0] > scores[1] >= scores[2] > 0


def test_tag_index_idf_prefers_the_rarer_word():
    idx = TagIndex().fit([["a", "common"], ["b", "common"], ["c", "common"], ["rare"]])
    s = idx.scores("common rare")
    assert s[3] > s[0]


def test_tag_index_errors():
    idx = TagIndex().fit(TAGS)
    with pytest.raises(KeyError, match="zebra"):
        idx.search("zebra", 3)
    with pytest.raises(ValueError, match="no words"):
        idx.search("  !! ", 3)
    with pytest.raises(RuntimeError, match="not fitted"):
        TagIndex().scores("cat")


def test_tokenize_keeps_hyphenated_tags():
    assert tokenize("Thick, RIGHT-slant seven") == ["thick", "right-slant", "seven"]


def test_visual_expansion_finds_an_untagged_look_alike():
    emb = np.array([[1, 0], [0, 1], [0.9, 0.1], [0.1, 0.9], [0.98, 0.02]], dtype=np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    idx = TagIndex().fit(TAGS)
    _, ids = visual_expansion(idx, emb, "orange cat", k=3, n_seeds=1, alpha=0.5)
    assert 4 in ids.tolist()  # untagged, but it looks like the top hit (item 0)
    with pytest.raises(ValueError, match="embeddings"):
        visual_expansion(idx, emb[:3], "cat")


def test_relevant_items_needs_every_word():
    assert relevant_items(TAGS, "orange cat").tolist() == [0]


def test_joint_embedding_composes_words_it_never_saw_together():
    # Features: one axis per attribute; training never shows "big" with "red".
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 2, 400)  # 0 blue, 1 red
    size = rng.integers(0, 2, 400)  # 0 small, 1 big
    feats = np.stack([colour, size], 1) + 0.05 * rng.standard_normal((400, 2))
    words = [["red" if c else "blue", "big" if s else "small"] for c, s in zip(colour, size)]
    train = [w if w != ["red", "big"] else [] for w in words]
    model = JointEmbedding(dim=16, hidden=64, epochs=40, batch_size=128, seed=0).fit(feats, train)
    _, ids = model.search("big red", model.embed_images(feats), k=10)
    assert np.mean([words[i] == ["red", "big"] for i in ids]) >= 0.9
    with pytest.raises(KeyError, match="purple"):
        model.embed_text("purple")


def test_joint_embedding_errors():
    with pytest.raises(RuntimeError, match="not fitted"):
        JointEmbedding().embed_text("x")
    with pytest.raises(ValueError, match="one row per item"):
        JointEmbedding().fit(np.zeros((3, 2)), [["a"]])
    with pytest.raises(ValueError, match="NaN"):
        JointEmbedding().fit(np.full((2, 2), np.nan), [["a"], ["b"]])


def test_candidates_restrict_results_and_k_is_checked():
    emb = np.eye(5, dtype=np.float32)
    idx = TagIndex().fit(TAGS)
    _, ids = visual_expansion(idx, emb, "cat", k=2, candidates=[3, 4])
    assert set(ids.tolist()) == {3, 4}
    with pytest.raises(ValueError, match="larger than"):
        visual_expansion(idx, emb, "cat", k=3, candidates=[3, 4])


def test_joint_embedding_fit_leaves_the_global_torch_rng_alone_and_is_reproducible():
    import torch

    feats = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    tags = [["a"], ["b"], ["a", "b"], ["c"], ["a"], ["c"]]
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    one = JointEmbedding(dim=4, hidden=8, epochs=2, seed=5).fit(feats, tags)
    after = torch.rand(3)
    two = JointEmbedding(dim=4, hidden=8, epochs=2, seed=5).fit(feats, tags)
    assert torch.equal(after, expected)
    np.testing.assert_array_equal(one.embed_images(feats), two.embed_images(feats))


# ---------------------------------------------------------------------------
# Chinese text, the contrastive loss and step (t02)
# ---------------------------------------------------------------------------

def test_cjk_ngrams_gives_characters_then_bigrams_of_each_run():
    assert retrieval.cjk_ngrams("红心") == ["红", "心", "红心"]
    assert retrieval.cjk_ngrams("OK手势 男") == ["手", "势", "手势", "男"], "Latin letters and spaces split runs"
    assert retrieval.cjk_ngrams("cat face") == []
    with pytest.raises(TypeError, match="string"):
        retrieval.cjk_ngrams(None)


def test_multilingual_tokens_keeps_english_words_and_chinese_ngrams():
    assert retrieval.multilingual_tokens("red 红心") == ["red", "红", "心", "红心"]


def test_tag_index_with_the_chinese_analyzer_finds_a_word_inside_a_longer_name():
    names = ["笑出眼泪的猫", "猫脸", "狗", "满月"]
    index = retrieval.TagIndex(retrieval.multilingual_tokens).fit([retrieval.cjk_ngrams(n) for n in names])
    _, ids = index.search("猫", 5)
    assert sorted(ids.tolist()) == [0, 1]
    assert index.search("猫脸", 5)[1][0] == 1, "the bigram ranks the exact name first"
    with pytest.raises(ValueError, match="no words"):
        retrieval.TagIndex().fit([retrieval.cjk_ngrams(n) for n in names]).search("猫", 5)


def test_text_image_loss_golden_value_and_symmetry():
    zi = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    target = torch.eye(2)
    # logits = I / 0.5: each row is [2, 0] -> loss = log(1 + e^-2) on both sides
    want = float(np.log1p(np.exp(-2.0)))
    assert torch.isclose(retrieval.text_image_loss(zi, zi, target, 0.5), torch.tensor(want))
    g = torch.Generator().manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(6, 4, generator=g), dim=1)
    b = torch.nn.functional.normalize(torch.randn(6, 4, generator=g), dim=1)
    t6 = torch.eye(6)
    assert torch.isclose(retrieval.text_image_loss(a, b, t6), retrieval.text_image_loss(b, a, t6))


def test_joint_embedding_step_lowers_the_loss_on_its_batch():
    from visrec_helpers.search.retrieval import _TextTower

    g = torch.Generator().manual_seed(0)
    image = torch.nn.Linear(5, 4)
    text = _TextTower(3, 4)
    opt = torch.optim.Adam([*image.parameters(), *text.parameters()], lr=0.05)
    x = torch.randn(3, 5, generator=g)
    bag = (torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]))
    losses = [retrieval.joint_embedding_step(image, text, opt, x, bag, torch.eye(3)) for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]


def test_joint_embedding_answers_chinese_queries_with_the_analyzer():
    rng = np.random.default_rng(0)
    feats = np.concatenate([rng.normal(0, 0.1, (20, 4)) + [3, 0, 0, 0], rng.normal(0, 0.1, (20, 4)) + [0, 3, 0, 0]])
    tags = [retrieval.cjk_ngrams("猫")] * 20 + [retrieval.cjk_ngrams("狗")] * 20
    model = retrieval.JointEmbedding(dim=8, hidden=16, epochs=20, batch_size=20,
                                     analyzer=retrieval.multilingual_tokens).fit(feats, tags)
    _, ids = model.search("猫", model.embed_images(feats), k=10)
    assert (ids < 20).all()

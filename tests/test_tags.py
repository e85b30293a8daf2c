"""Tag-based recommendation: TF-IDF, co-occurrence, propagation of tags to untagged items."""

import numpy as np
import pytest
import scipy.sparse as sp

from visrec_helpers.recsys import tags as T

TAGS = [["cat", "orange"], ["cat", "grey"], ["dog", "grey"], ["dog", "orange"], ["cat", "orange"], []]


def test_tag_matrix_idf_weights_rare_tags_more():
    m, vocab = T.tag_matrix([["a", "b"], ["b"], ["b"], ["c"]])
    row = dict(zip(vocab, m.toarray()[0]))
    assert row["a"] > row["b"] > 0  # a: 1 of 4 items, b: 3 of 4
    np.testing.assert_allclose(np.linalg.norm(m.toarray(), axis=1), 1.0)


def test_untagged_item_scores_zero_and_tagged_match_profile():
    m = sp.csr_matrix(np.array([[1, 0, 0, 0, 0, 0]], dtype=float))
    model = T.TagRecommender().fit(m, item_features=TAGS)
    s = model.score([0])[0]
    assert s[5] == 0.0
    assert s[4] == pytest.approx(s[0]) and s[4] > s[2]  # item 4 has the same tags as item 0
    assert model.top_tags(0, 1)[0][0] in {"cat", "orange"}


def test_cooccurrence_expansion_reaches_related_tags():
    tags = [["a", "b"], ["a", "b"], ["c"], ["b"]]
    m = sp.csr_matrix(np.array([[0, 0, 0, 1.0]]))  # the user only saw a "b" item
    plain = T.TagRecommender(expansion=0.0).fit(m, item_features=tags).profiles([0])[0]
    expanded = T.TagRecommender(expansion=1.0).fit(m, item_features=tags)
    p = expanded.profiles([0])[0]
    a = expanded.vocabulary_.index("a")
    assert plain[a] == 0.0 and p[a] > 0.0


def test_hide_and_propagate_tags_from_visual_neighbours():
    emb = np.array([[1, 0], [1, 0.1], [0, 1], [0.1, 1], [1, 0.05], [0.05, 1]], dtype=float)
    tags = [["cat"], ["cat"], ["dog"], ["dog"], ["cat"], ["dog"]]
    hidden = [list(t) for t in tags]
    hidden[4], hidden[5] = [], []
    filled = T.propagate_tags(hidden, emb, k=2)
    assert filled[4] == ["cat"] and filled[5] == ["dog"]
    assert filled[:4] == tags[:4]


def test_hide_tags_counts_and_is_seeded():
    a, ida = T.hide_tags(TAGS * 10, 0.3, seed=1)
    b, idb = T.hide_tags(TAGS * 10, 0.3, seed=1)
    assert len(ida) == 18 and all(a[i] == [] for i in ida)
    np.testing.assert_array_equal(ida, idb)


def test_bad_inputs_raise():
    m = sp.csr_matrix(np.ones((1, 6)))
    with pytest.raises(ValueError, match="tags for 5 items but X has 6"):
        T.TagRecommender().fit(m, item_features=TAGS[:5])
    with pytest.raises(ValueError, match="list of non-empty strings"):
        T.TagRecommender().fit(m, item_features=TAGS[:5] + ["cat"])
    with pytest.raises(ValueError, match="every item is untagged"):
        T.tag_matrix([[], []])
    with pytest.raises(ValueError, match="embeddings must be"):
        T.propagate_tags(TAGS, np.ones((3, 2)))
    with pytest.raises(ValueError, match="expansion"):
        T.TagRecommender(expansion=-1).fit(m, item_features=TAGS)


def test_check_tags_copies_good_lists_and_names_the_bad_item():
    tags = [("a", "b"), []]
    assert T.check_tags(tags) == [["a", "b"], []]
    with pytest.raises(T.RecsysError, match=r"item_tags\[1\]"):
        T.check_tags([["a"], "ab"])
    with pytest.raises(T.RecsysError, match="one list of tag strings per item"):
        T.check_tags("a b")

"""Reciprocal-rank fusion of the rankings of the retrievers (`_rrf`): exact scores, order, ties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.retrieval import RRF_K, _rrf


def test_one_ranking_keeps_its_order_with_reciprocal_scores() -> None:
    fused = _rrf([["a", "b", "c"]])
    assert list(fused) == ["a", "b", "c"]
    assert fused == pytest.approx({"a": 1 / 61, "b": 1 / 62, "c": 1 / 63})
    assert RRF_K == 60


def test_a_passage_both_retrievers_find_beats_one_only_one_ranks_first() -> None:
    dense = ["only-dense", "both", "x"]
    lexical = ["only-lexical", "y", "both"]
    fused = _rrf([dense, lexical])
    assert next(iter(fused)) == "both"
    assert fused["both"] == pytest.approx(1 / 62 + 1 / 63)
    assert fused["only-dense"] == fused["only-lexical"] == pytest.approx(1 / 61)


def test_scores_add_up_over_rankings_and_come_best_first() -> None:
    fused = _rrf([["a", "b"], ["b", "c"], ["c", "b"]])
    assert fused == pytest.approx({"b": 1 / 62 + 1 / 61 + 1 / 62, "c": 1 / 62 + 1 / 61, "a": 1 / 61})
    assert list(fused) == ["b", "c", "a"]


def test_a_third_ranking_lifts_the_passages_it_holds() -> None:
    """The date boost: a ranking of the passages published in the named time reorders the others."""
    dense, lexical = ["old", "recent"], ["old", "recent"]
    assert list(_rrf([dense, lexical])) == ["old", "recent"]
    assert list(_rrf([dense, lexical, ["recent"]])) == ["recent", "old"]


def test_ties_keep_the_order_of_first_appearance() -> None:
    assert list(_rrf([["a", "b"], ["b", "a"]])) == ["a", "b"]
    assert list(_rrf([["b", "a"], ["a", "b"]])) == ["b", "a"]


def test_nothing_to_fuse() -> None:
    assert _rrf([]) == {} and _rrf([[], []]) == {}


_ids = st.lists(st.sampled_from("abcdefghij"), unique=True, max_size=10)


@given(st.lists(_ids, max_size=4))
def test_fusion_properties(rankings: list[list[str]]) -> None:
    fused = _rrf(rankings)
    assert set(fused) == {pid for ranking in rankings for pid in ranking}
    scores = list(fused.values())
    assert scores == sorted(scores, reverse=True)
    for pid, score in fused.items():
        expected = sum(1 / (RRF_K + r.index(pid) + 1) for r in rankings if pid in r)
        assert score == pytest.approx(expected)

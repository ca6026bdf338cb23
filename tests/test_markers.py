"""The one citation-marker grammar (assistant.markers): what the guards accept is what the evals score."""

from __future__ import annotations

import pytest

from assistant.context import ContextPassage
from assistant.grounding import ground
from assistant.markers import cited, marker_numbers, markers_before_period, single_markers, strip_markers
from evals.metrics import markers as scored_markers
from evals.metrics import strip_markers as scored_strip

JOBS = "The biopharma project is expected to create more than 180 permanent jobs."
PLANT = "The biopharma plant will be built in the Almaty region."
PASSAGES = [
    ContextPassage(1, "p-jobs", JOBS, "Biopharma hub", {}),
    ContextPassage(2, "p-plant", PLANT, "Biopharma hub", {}),
]


@pytest.mark.parametrize(
    ("text", "numbers", "first_seen"),
    [
        ("X [2] and Y [1, 2] and [10].", [2, 1, 2, 10], [2, 1, 10]),
        ("A [1][3] B [3 ,1]", [1, 3, 3, 1], [1, 3]),
        ("Since [2024] nothing; no [n] here.", [], []),
        ("", [], []),
    ],
)
def test_marker_numbers_and_first_seen(text: str, numbers: list[int], first_seen: list[int]) -> None:
    assert marker_numbers(text) == numbers
    assert cited(text) == first_seen == scored_markers(text)  # the evals read markers the same way


def test_strip_single_and_move_markers() -> None:
    assert strip_markers("X is 5 [1][2].") == "X is 5."
    assert strip_markers("X is 5. [1, 3]") == "X is 5."
    assert scored_strip(" X is 5. [1, 3] ") == "X is 5."
    assert single_markers("A [1, 3]. B [2].") == "A [1][3]. B [2]."
    assert markers_before_period("X is 5. [1] Y is 6. [2][3]") == "X is 5 [1]. Y is 6 [2][3]."
    assert markers_before_period("Since 2024. Nothing") == "Since 2024. Nothing"


def test_the_guards_accept_a_group_marker() -> None:
    """A model writing "[1, 2]" cites both passages; before one grammar, the guards read "1, 2" as
    numbers of the claim and removed the sentence."""
    draft = "The biopharma plant in the Almaty region will create 180 permanent jobs [1, 2]."
    got = ground(draft, PASSAGES, "The articles do not say.")
    assert not got.refused
    assert sorted(c.passage.passage_id for c in got.citations) == ["p-jobs", "p-plant"]
    assert got.text == "The biopharma plant in the Almaty region will create 180 permanent jobs [1][2]."

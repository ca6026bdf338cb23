"""The one sentence splitter (ingest.sentences), used by ingest's titles, the assistant and the evals."""

from __future__ import annotations

import pytest

from ingest.readers import first_sentence_title
from ingest.sentences import first_sentence, sentence_spans, sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The plant opens. It employs 180.", ["The plant opens.", "It employs 180."]),
        ("It opened on Jan. 5, 2024 in Almaty.", ["It opened on Jan. 5, 2024 in Almaty."]),
        ("The U.S. Senate voted. Then it rested.", ["The U.S. Senate voted.", "Then it rested."]),
        ("Dr. Yuri Pya spoke. J. Smith listened.", ["Dr. Yuri Pya spoke.", "J. Smith listened."]),
        ("It grew (see e.g. the report).", ["It grew (see e.g. the report)."]),
        ("He said: “Go.” Then he left!", ["He said: “Go.”", "Then he left!"]),
        ("Завод откроется. Он даст 180 мест.", ["Завод откроется.", "Он даст 180 мест."]),
        ("A heading\nThe first line. the rest", ["A heading", "The first line. the rest"]),
        ("", []),
        ("  \n ", []),
    ],
)  # fmt: skip
def test_sentences(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected
    assert [text[a:b] for a, b in sentence_spans(text)] == expected


def test_an_untitled_article_is_titled_by_the_same_first_sentence() -> None:
    text = "Officials met on Jan. 5 in Astana to sign it. More followed."
    assert (
        first_sentence(text) == first_sentence_title(text) == "Officials met on Jan. 5 in Astana to sign it."
    )
    assert first_sentence("") == ""

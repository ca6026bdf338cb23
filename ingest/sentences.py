"""Where sentences end: the one sentence splitter of the product.

Ingest takes an untitled article's first sentence as its title; the assistant ranks, quotes and checks
passages sentence by sentence; the evals score answers sentence by sentence. All three split here.

A sentence ends at `.`, `!` or `?` (closing quotes and brackets may follow) before whitespace and a
capital letter (Latin or Cyrillic, Kazakh letters included), a digit, or an opening quote or bracket; and
at every line break. A full stop after an abbreviation ("Dr.", "Jan.", "e.g.") or an initial ("U.S.",
"J. Smith") ends nothing.

Deliberately not here: statistical sentence models (news prose does not need one, and it would be a model
to ship), and citation markers in answers (`assistant.markers`).
"""

from __future__ import annotations

import re

__all__ = ["first_sentence", "sentence_spans", "sentences"]

_END = re.compile(r"(?<=[.!?])([\"”’')\]]*)\s+(?=[\"“‘(\[]?[A-Z0-9А-ЯЁӘҒҚҢӨҰҮҺІ])|\n+")
_ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof st jr sr gen col lt sen rep gov inc ltd co corp no nos vs etc eg ie approx dept est
    fig jan feb mar apr jun jul aug sep sept oct nov dec mt ft
    """.split()
)
_INITIALS = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")  # "U.S", "e.g" (the final stop is the candidate end)


def _after_abbreviation(before: str) -> bool:
    """Does `before` (text up to a full stop) end in an abbreviation or an initial?"""
    words = before.rstrip(".").split()
    if not words:
        return False
    last = words[-1].lstrip("\"'“‘([")
    if len(last) == 1 and last.isalpha():
        return True  # "J. Smith"
    return bool(_INITIALS.fullmatch(last)) or last.lower() in _ABBREVIATIONS


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text`, whitespace trimmed, empty ones left out."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _END.finditer(text):
        before = text[start : match.start()]
        if "\n" not in match.group(0) and before.endswith(".") and _after_abbreviation(before):
            continue  # "Dr. Yuri Pya", "Jan. 5": not a sentence end
        spans.append((start, match.start() + len(match.group(1) or "")))  # closing quotes stay
        start = match.end()
    spans.append((start, len(text)))
    out = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            out.append((a, b))
    return out


def sentences(text: str) -> list[str]:
    """The sentences of `text` (see `sentence_spans`)."""
    return [text[a:b] for a, b in sentence_spans(text)]


def first_sentence(text: str) -> str:
    """The first sentence of `text` ('' when it has none)."""
    spans = sentence_spans(text)
    return text[spans[0][0] : spans[0][1]] if spans else ""

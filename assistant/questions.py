"""What a question asks for, read by rules where the rules are exact: a yes/no verdict, and the sources
(publications) it names.

News questions often name where something was reported ("Did the Sporting News article ... while the
Guardian article ...?", "Between the report from 'The Verge' on 2023-11-24 and the report from 'Wired' ...").
Each named source is a part of the question that needs its own evidence; retrieval gives each one its own
search (see `HybridRetriever.retrieve`). Sources are matched against the archive's own list of sources, so
nothing here guesses which words are a publication's name.

Deliberately not here: splitting free-form questions into sub-questions (a model's job, not a regex's),
and dates (`dates.py`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_AUXILIARY = (
    r"(?:is|are|was|were|do|does|did|has|have|had|can|could|will|would|should|shall|may|might|must|"
    r"isn't|aren't|wasn't|weren't|doesn't|didn't|hasn't|haven't)\b"
)
# "Did ...?", or a leading phrase and then the verb: "Between the report of A and the report of B, was ...?"
_YES_NO_START = re.compile(
    r"^\W*(?:(?:so|and|but|then|also)\s+)?" + _AUXILIARY + r"|,\s*(?:then\s+)?" + _AUXILIARY, re.IGNORECASE
)
_WH_START = re.compile(r"^\W*(?:what|which|who|whom|whose|when|where|why|how)\b", re.IGNORECASE)
_ALTERNATIVE = re.compile(r"\bor\b(?!\s+not\b)", re.IGNORECASE)
# the publication part of a feed title: "The Independent - Life and Style" -> "The Independent"
_SOURCE_HEAD = re.compile(r"\s+(?:[-|–—:]\s+).*$")
_GENERIC_HEADS = frozenset({"the", "news", "the news", "the times", "sport", "sports", "business"})


def is_yes_no(question: str) -> bool:
    """A question whose answer is a verdict: its main clause opens with an auxiliary verb ("Did ...",
    "After the report of A, was ...") and it is neither a wh-question ("Which company, reported by A, is
    ...?") nor a choice between named alternatives ("Is it A or B?")."""
    if _WH_START.search(question) or not _YES_NO_START.search(question):
        return False
    return not _ALTERNATIVE.search(question) or bool(re.search(r"\bor not\b", question, re.IGNORECASE))


def _boundary(text: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w])" + re.escape(text) + r"(?![\w])")


def named_sources(question: str, sources: Iterable[str]) -> list[str]:
    """The archive's sources that the question names, in the order the question names them.

    A source matches by its full name, or by its head before " - " / " | " ("The Independent" names every
    "The Independent - ..." feed), case-sensitively at word boundaries so "the age of AI" does not name
    "The Age". Heads that are common words ("News") never match alone."""
    found: list[tuple[int, str]] = []
    for source in set(sources):
        name = source.strip()
        if not name:
            continue
        candidates = [name]
        head = _SOURCE_HEAD.sub("", name).strip()
        if head and head != name and head.lower() not in _GENERIC_HEADS:
            candidates.append(head)
        positions = [
            m.start() for c in candidates if c in question for m in [_boundary(c).search(question)] if m
        ]
        if positions:
            found.append((min(positions), source))
    return [source for _, source in sorted(found)]

"""The citation-marker grammar of answers, in one place: what the guards check and the evals score.

A marker is `[n]` (n: one to three digits) and cites the passage numbered n; a group `[n, m]` cites n and
m. A run of markers (`[1][2]`, `[1] [2]`) belongs to the sentence it follows, also when it comes after the
sentence's full stop ("X is 5. [1]" is "X is 5 [1]."). `cited_sentences` splits an answer into its
sentences on that grammar (with `ingest.sentences`, the one splitter): the guards check, and the evals
score, the same sentences.

Deliberately not here: other citation styles a stock pipeline writes ("[Source 1]": see
`evals.baseline.normalise_markers`), and what a marker must point at (the guards' business).
"""

from __future__ import annotations

import re

from ingest.sentences import sentences

_NUMBERS = r"\d{1,3}(?:\s*,\s*\d{1,3})*"
MARKER = re.compile(r"\[(" + _NUMBERS + r")\]")  # one marker or group; group(1) holds its numbers
MARKER_RUN = re.compile(r"(?:\s*\[" + _NUMBERS + r"\])+")  # markers one after another, with the space before
_WITH_SPACE = re.compile(r"\s*\[" + _NUMBERS + r"\]")
_AFTER_PERIOD = re.compile(r"([.!?])\s*((?:\[" + _NUMBERS + r"\]\s*)*\[" + _NUMBERS + r"\])")
_BULLET = re.compile(r"^\s*(?:[-*•·]|\d{1,2}[.)])\s+")
_HAS_WORD = re.compile(r"[^\W_]")


def marker_numbers(text: str) -> list[int]:
    """Every number each marker in `text` cites, in order with repeats: "[2] ... [1, 2]" -> [2, 1, 2]."""
    return [int(n) for match in MARKER.finditer(text) for n in match.group(1).split(",")]


def cited(text: str) -> list[int]:
    """The numbers `text` cites, each once, in order of first appearance: "[2] ... [1, 2]" -> [2, 1]."""
    return list(dict.fromkeys(marker_numbers(text)))


def strip_markers(text: str) -> str:
    """`text` without its markers and the space before each: "X is 5 [1][2]." -> "X is 5."."""
    return _WITH_SPACE.sub("", text)


def single_markers(text: str) -> str:
    """Groups written as single markers: "[1, 3]" -> "[1][3]" (the form answers are given in)."""
    return MARKER.sub(lambda m: "".join(f"[{n.strip()}]" for n in m.group(1).split(",")), text)


def markers_before_period(text: str) -> str:
    """A run of markers after a sentence's end moved before it: "X is 5. [1]" -> "X is 5 [1]."."""
    return _AFTER_PERIOD.sub(r" \2\1", text)


def cited_sentences(text: str) -> list[str]:
    """The sentences of an answer, each with its markers (groups written as single markers, one space
    before a run). Lines are split first (list answers) and their bullets dropped; a marker after a full
    stop belongs to the sentence before it; a piece that is only markers joins the sentence before it."""
    out: list[str] = []
    for raw_line in text.splitlines():
        line = _BULLET.sub("", raw_line).strip()
        if not line:
            continue
        line = MARKER_RUN.sub(lambda m: " " + m.group(0).strip(), single_markers(line))
        for sentence in sentences(markers_before_period(line)):
            if not _HAS_WORD.search(MARKER.sub("", sentence)):
                if out and MARKER.search(sentence):
                    out[-1] = f"{out[-1]} {sentence}"
                continue
            out.append(sentence)
    return out

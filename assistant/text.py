"""Small text tools shared by retrieval and the grounding guards: numbers, names, key words (and the
sentences of `ingest.sentences`, the one splitter)."""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from ingest.sentences import sentences

from .markers import strip_markers

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
_INVISIBLE = dict.fromkeys(
    c for c in range(0x110000) if unicodedata.category(chr(c)) in ("Cc", "Cf", "Cs") and chr(c) not in "\n\t"
)  # control, format (zero-width) and lone surrogate code points (undecodable bytes from a terminal)

STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers him his how i if in into is it its itself just me more most my no nor not
    now of off on once only or other our out over own same she should so some such than that the their
    them then there these they this those through to too under until up very was we were what when where
    which while who whom why will with would you your said says say according many much one per year
    years new also
    """.split()
)

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000,
}  # fmt: skip


def clean_question(text: str) -> str:
    """Drop control, zero-width and lone surrogate characters, collapse whitespace."""
    return " ".join(text.translate(_INVISIBLE).split())


def numbers(text: str) -> set[str]:
    """Numbers as digit strings ("12,000" and "12000" -> "12000"; "six" -> "6")."""
    found = {m.group(0).replace(",", "") for m in _NUMBER.finditer(text)}
    found = {n[:-2] if n.endswith(".0") else n for n in found}
    for word in _WORD.findall(text.lower()):
        if word in _NUMBER_WORDS and word not in ("hundred", "thousand"):
            found.add(str(_NUMBER_WORDS[word]))
    return found


@cache
def _stemmer() -> object:
    import Stemmer

    return Stemmer.Stemmer("english")


def stem(word: str) -> str:
    return str(_stemmer().stemWord(word))  # type: ignore[attr-defined]


def content_words(text: str) -> set[str]:
    """Stemmed, lower-cased words that carry meaning (no stopwords, no numbers)."""
    out = set()
    for word in _WORD.findall(strip_markers(text).lower()):
        word = word.replace("’", "'")
        if word.endswith("'s"):
            word = word[:-2]
        if len(word) < 2 or word in STOPWORDS or word.isdigit():
            continue
        out.add(stem(word))
    return out


def names(text: str) -> set[str]:
    """Capitalised words that are not at the start of a sentence (lower-cased): people, places, bodies."""
    out = set()
    for sentence in sentences(strip_markers(text)):
        words = _WORD.findall(sentence)
        for word in words[1:]:
            if word[:1].isupper() and word.lower() not in STOPWORDS and len(word) > 1:
                out.add(word.lower().replace("’", "'").removesuffix("'s"))
    return out

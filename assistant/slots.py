"""What a question asks for (its answer slot), and whether a sentence of the evidence fills it.

A grounded answer can still miss the question: "How many rural healthcare facilities were built in 2024?"
answered with "the project focuses on three key objectives [1]" has a number, and every word of it is in the
passage. So the question's slot is read by rules, and checked against the sentences the answer cites:

- a quantity ("How many rural healthcare facilities were built in 2024?"): the counted thing (its head noun,
  "facilities") and the years the question names. A sentence fills it with a number written next to the
  counted thing, in the clause of the year asked about: "... 99 facilities in 2023, 361 facilities in 2024
  and 195 facilities in 2025" fills it with 361 only.
- a person in a role ("Who signed the resolution?", "Who initiated the project?"): the role verb, as a
  lemma. A sentence fills it with a name standing in one clause with that verb ("Prime Minister Olzhas
  Bektenov has signed the respective resolution", "The project, initiated by President Kassym-Jomart
  Tokayev, ..."); a name that merely shares the passage with the question's words does not ("the Ministry
  ordered the project" is not what "Qazinform cites the Kazakh Healthcare Ministry" says).

Other questions have no slot checked here (a date and a yes/no verdict are checked elsewhere). Rules, not a
model: they either see the relation in one clause or leave the answer to the other guards; where they find
the slot unfilled, the engine looks for a sentence of the evidence that fills it, and refuses when none does.

Deliberately not here: parsing (a dependency parser is a model to ship); questions about several slots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from ingest.sentences import sentences

from .markers import strip_markers
from .text import STOPWORDS, content_words, names, numbers, stem

_HOW_MANY = re.compile(
    r"\bhow (?:many|much)\s+(?P<thing>(?:[\w'’-]+\s+){0,5}?[\w'’-]+?)\s+"
    r"(?=(?:were|was|are|is|will|would|did|does|do|has|have|had|can|could|in|on|at|by|for|from|of|to)\b)",
    re.I,
)
_WHO = re.compile(
    r"^\W*who\s+(?:(?:has|have|had|will|would|did|does|was|were|is)\s+(?:been\s+)?)?(?P<verb>[a-z]+)\b",
    re.I,
)
_NOT_ROLE_VERBS = frozenset(
    {"is", "was", "are", "were", "be", "been", "the", "a", "an", "it", "this", "that"}
)
_YEAR = re.compile(r"\b(19\d\d|20\d\d|2100)\b")
# clauses: split at commas, semicolons, "while"/"but", dashes, and an "and" that starts another figure
_CLAUSE = re.compile(r",|;|:|\s+(?:while|but|whereas|whilst)\s+|\s+and\s+(?=\d)|\s+[–—-]\s+")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
_NUMBER_TOKEN = re.compile(r"^\d+(?:[.,]\d+)*$")
MIN_ABOUT = 0.5  # share of the question's other key words a quoted sentence must hold
_NEAR = 5  # a number "next to" the counted thing: at most this many words before it ("13.5 million
_AFTER = 3  # square meters of housing"), or this many after it ("an investment of over 103 billion")


class SlotKind(StrEnum):
    QUANTITY = "quantity"
    ROLE = "role"


@dataclass(frozen=True)
class Slot:
    """What the question asks for: a quantity of `thing` (a lemma) in `years`, or the person who did
    `verb` (a lemma)."""

    kind: SlotKind
    thing: str = ""
    years: frozenset[str] = frozenset()
    verb: str = ""
    asked: frozenset[str] = frozenset()  # numbers and names the question itself gives (never a filler)


@cache
def _lemma(word: str) -> str:
    import simplemma

    return str(simplemma.lemmatize(word.lower(), lang="en"))


def _same_word(lemma: str, word: str) -> bool:
    """`word` is `lemma` or a word made from it ("chair" / "Chairman", "lead" / "leader")."""
    found = _lemma(word)
    return found == lemma or (len(lemma) >= 4 and found.startswith(lemma[: max(4, len(lemma) - 1)]))


def slot_of(question: str) -> Slot | None:
    """The slot the question asks to fill, or None when no rule here reads it."""
    asked = frozenset(numbers(question) | names(question))
    if m := _HOW_MANY.search(question):
        words = [w for w in _WORD.findall(m.group("thing")) if w.lower() not in STOPWORDS]
        if words:
            years = frozenset(_YEAR.findall(question))
            return Slot(SlotKind.QUANTITY, thing=_lemma(words[-1]), years=years, asked=asked)
    verb = m.group("verb") if (m := _WHO.match(question)) else ""
    if verb.islower() and verb not in _NOT_ROLE_VERBS:  # "Who is Gizzat ...?" asks who he is
        return Slot(SlotKind.ROLE, verb=_lemma(verb), asked=asked)
    return None


def fillers(slot: Slot, sentence: str) -> set[str]:
    """What `sentence` fills the slot with: numbers attached to the counted thing (in a clause of the year
    asked about, when one is asked), or names in one clause with the role verb. Empty when it does not."""
    clauses = [c for c in _CLAUSE.split(strip_markers(sentence)) if c.strip()]
    found: set[str] = set()
    if slot.kind is SlotKind.QUANTITY:
        in_sentence = {year for clause in clauses for year in _YEAR.findall(clause)}
        if slot.years and not in_sentence & slot.years:
            return set()  # the sentence is not about the year asked
        for clause in clauses:
            years = set(_YEAR.findall(clause))
            # a clause of another year, or of none in a sentence that also names other years, is not the
            # year asked: "All 655 facilities ..., including ... 361 facilities in 2024 and 195 in 2025"
            if slot.years and not (years & slot.years or (not years and in_sentence <= slot.years)):
                continue
            found |= _numbers_before(slot, _WORD.findall(clause), years)
        return found
    for clause in clauses:
        if any(_same_word(slot.verb, word) for word in _WORD.findall(clause)):
            found |= {name for name in names("X " + clause) if name not in slot.asked}
    return found


def _numbers_before(slot: Slot, words: list[str], years: set[str]) -> set[str]:
    """Numbers written next to the counted thing: at most `_NEAR` words before it ("180 permanent jobs") or
    `_AFTER` words after it ("a total investment of over 103 billion tenge")."""
    found: set[str] = set()
    for i, word in enumerate(words):
        if not _same_word(slot.thing, word):
            continue
        for near in [*words[max(0, i - _NEAR) : i], *words[i + 1 : i + 1 + _AFTER]]:
            value = near.replace(",", "")
            if _NUMBER_TOKEN.match(near) and value not in years and value not in slot.asked:
                found.add(value)
            elif near.lower() in _SMALL_NUMBERS:
                found.add(_SMALL_NUMBERS[near.lower()])
    return found


def about(question: str, slot: Slot, text: str) -> bool:
    """Whether `text` (a sentence with its article's title) is about what the question asks, beside the
    slot: at least half the question's other key words are in it. A sentence that fills the slot of another
    question ("Khadzhiyeva was appointed ..." for "Who was appointed to replace Suindikov?") is not."""
    own = {stem(slot.verb), stem(slot.thing)} if slot.verb or slot.thing else set()
    wanted = content_words(question) - own
    return not wanted or len(wanted & content_words(text)) >= MIN_ABOUT * len(wanted)


def says(lemma: str, text: str) -> bool:
    """Whether `text` uses the word `lemma` (or one made from it)."""
    return any(_same_word(lemma, word) for word in _WORD.findall(strip_markers(text)))


def evidence_fillers(slot: Slot, evidence: list[str]) -> set[str]:
    """Everything the sentences of `evidence` (passage texts) fill the slot with."""
    return {value for text in evidence for sentence in sentences(text) for value in fillers(slot, sentence)}


def filled_by(slot: Slot, answer: str, evidence: list[str]) -> bool:
    """Whether the answer gives what the slot asks for, as the cited passages (`evidence`) state it.

    A quantity: one of the numbers the evidence attaches to the counted thing (where it attaches none, the
    rules cannot see the relation and leave the answer to the other guards, unless the evidence gives the
    thing's figures for other years than the one asked). A person: a name the evidence puts in one clause
    with the role verb; where the evidence puts nobody with it, an answer that says someone did it (the
    verb and a name) does not fill it, while one in other words ("assigned to", for "given") may."""
    found = evidence_fillers(slot, evidence)
    if slot.kind is SlotKind.QUANTITY:
        if found:
            return bool(numbers(strip_markers(answer)) & found)
        # nothing for the year asked: unfilled when the evidence gives the thing year by year (other years)
        return not (slot.years and evidence_fillers(Slot(slot.kind, slot.thing, asked=slot.asked), evidence))
    given = names("X " + strip_markers(answer)) - slot.asked
    if found:  # the evidence says who did it: the answer must name that person
        return bool(given & found)
    # the evidence puts nobody with that verb: an answer that says someone did it asserts a relation the
    # evidence does not state ("the Ministry ordered the project"); one in the evidence's own words may stand
    return not (given and says(slot.verb, answer))


_SMALL_NUMBERS = {
    "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
    "ten": "10", "eleven": "11", "twelve": "12",
}  # fmt: skip

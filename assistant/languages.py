"""The languages questions come in: English, Russian and Kazakh (Cyrillic, and Kazakh's Latin script).

The archive, the prompt and the grounding guards work in English. A question in another language is
translated into English, answered and checked in English, and the checked answer is translated back; the
translation must keep every [n] marker and every number of the checked answer, or the English answer is
given instead (with a note). Refusals come in the question's language from fixed texts.

Which language a question is in is told by its letters: three languages with different alphabets do not
need a statistical detector, and a short question ("Кто?") is where such detectors guess.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from .text import marker_numbers


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1
    name: str  # in English, as the translation prompt names it
    refusal: str  # "the articles do not say", in this language
    untranslated: str  # the note before an English answer whose translation failed its checks


ENGLISH = Language("en", "English", "", "")
RUSSIAN = Language(
    "ru",
    "Russian",
    "В статьях об этом не сказано.",
    "(Перевод ответа не прошёл проверку, поэтому ответ дан на английском.)",
)
KAZAKH = Language(
    "kk",
    "Kazakh",
    "Мақалаларда бұл туралы айтылмаған.",
    "(Жауаптың аудармасы тексеруден өтпеді, сондықтан жауап ағылшын тілінде берілді.)",
)
LANGUAGES = {lang.code: lang for lang in (ENGLISH, RUSSIAN, KAZAKH)}

_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_KAZAKH_CYRILLIC = re.compile(r"[әғқңөұүһіӘҒҚҢӨҰҮҺІ]")
# letters of the 2021 Kazakh Latin alphabet that English never uses, and Kazakh words written in it
_KAZAKH_LATIN = re.compile(r"[ǵńúıýǴŃÚÝ]|\b(?:qansha|qaı|qashan|kim|nege|qalaı|jyl|bolady|jáne)\b", re.I)


def detect(text: str) -> Language:
    """The language of `text` by its letters: Cyrillic with Kazakh letters (ә, ғ, қ, ң, ө, ұ, ү, һ, і)
    is Kazakh, other Cyrillic Russian; Latin with letters of Kazakh's Latin alphabet is Kazakh; the rest
    is English."""
    cyrillic = len(_CYRILLIC.findall(text))
    latin = len(_LATIN.findall(text))
    if cyrillic > latin:
        return KAZAKH if _KAZAKH_CYRILLIC.search(text) else RUSSIAN
    if latin and len(_KAZAKH_LATIN.findall(text)) >= 2:
        return KAZAKH
    return ENGLISH


def language_of(code: str) -> Language:
    return LANGUAGES.get(code, ENGLISH)


_DIGITS = re.compile(r"\d(?:[\d\s\u00a0\u202f.,]*\d)?")


def _values(text: str) -> Counter[str]:
    """Numbers as values, whatever the separators: "12,000", "12 000" and "12000" are one; "1,5" is 1.5."""
    found: Counter[str] = Counter()
    for match in _DIGITS.finditer(re.sub(r"\[\d{1,3}\]", " ", text)):
        token = re.sub(r"[\s\u00a0\u202f]", "", match.group(0))
        token = re.sub(r"[.,](?=\d{3}(?:\D|$))", "", token)  # thousands separators
        found[token.replace(",", ".").rstrip(".")] += 1
    return found


def faithful(source: str, translation: str) -> bool:
    """True when `translation` keeps the markers and the numbers of `source`: the same [n] markers the
    same number of times, and the same numbers (as values)."""
    if not translation.strip():
        return False
    if Counter(marker_numbers(source)) != Counter(marker_numbers(translation)):
        return False
    return set(_values(source)) == set(_values(translation))

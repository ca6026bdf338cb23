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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from difflib import SequenceMatcher

from .dates import DateRange, describe
from .dates import day as english_day
from .markers import marker_numbers
from .text import names


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1
    name: str  # in English, as the translation prompt names it
    refusal: str  # "the articles do not say", in this language
    untranslated: str  # the note before an English answer whose translation failed its checks
    # "the archive has nothing from that period; its newest article is from ...": {period}, {newest}
    empty_range: str = "The archive has no articles from {period}; the newest is from {newest}."
    empty_archive: str = "The archive has no dated articles from {period}."
    periods: dict[str, str] = field(default_factory=dict)  # a range's label -> its words here
    any_period: str = ""  # the words of a period not in `periods` ('' : English `describe`)
    day_format: str = ""  # "{day} {month} {year}"; '' : English ("1 January 2026")
    months: tuple[str, ...] = ()

    def no_articles(self, date_range: DateRange, newest: int | None) -> str:
        """The refusal of a question about a period the archive holds nothing from, naming the newest
        article's date (epoch seconds; None when no article is dated)."""
        period = self.periods.get(date_range.label) or self.any_period or describe(date_range)
        if newest is None:
            return self.empty_archive.format(period=period)
        return self.empty_range.format(period=period, newest=self.day(newest))

    def day(self, ts: int) -> str:
        if not self.day_format:
            return english_day(ts)
        moment = datetime.fromtimestamp(ts, UTC)
        return self.day_format.format(day=moment.day, month=self.months[moment.month - 1], year=moment.year)


ENGLISH = Language("en", "English", "", "")
RUSSIAN = Language(
    "ru",
    "Russian",
    "В статьях об этом не сказано.",
    "(Перевод ответа не прошёл проверку, поэтому ответ дан на английском.)",
    empty_range="В архиве нет статей {period}; самая свежая статья опубликована {newest}",
    empty_archive="В архиве нет датированных статей {period}.",
    periods={
        "today": "за сегодня",
        "yesterday": "за вчера",
        "this week": "за эту неделю",
        "last week": "за прошлую неделю",
        "past week": "за последнюю неделю",
        "this month": "за этот месяц",
        "last month": "за прошлый месяц",
        "past month": "за последний месяц",
        "this year": "за этот год",
        "last year": "за прошлый год",
        "recently": "за последние 30 дней",
    },
    any_period="за этот период",
    day_format="{day} {month} {year} г.",
    months=tuple("января февраля марта апреля мая июня июля августа сентября октября ноября декабря".split()),
)
KAZAKH = Language(
    "kk",
    "Kazakh",
    "Мақалаларда бұл туралы айтылмаған.",
    "(Жауаптың аудармасы тексеруден өтпеді, сондықтан жауап ағылшын тілінде берілді.)",
    empty_range="Мұрағатта {period} мақалалар жоқ; ең жаңа мақала {newest} жарияланған.",
    empty_archive="Мұрағатта {period} күні көрсетілген мақалалар жоқ.",
    periods={
        "today": "бүгінгі",
        "yesterday": "кешегі",
        "this week": "осы аптадағы",
        "last week": "өткен аптадағы",
        "past week": "соңғы аптадағы",
        "this month": "осы айдағы",
        "last month": "өткен айдағы",
        "past month": "соңғы айдағы",
        "this year": "биылғы",
        "last year": "былтырғы",
        "recently": "соңғы 30 күндегі",
    },
    any_period="сұралған кезеңдегі",
    day_format="{year} жылғы {day} {month}",
    months=tuple(  # the locative: "2026 жылғы 1 қаңтарда"
        "қаңтарда ақпанда наурызда сәуірде мамырда маусымда шілдеде тамызда қыркүйекте қазанда "
        "қарашада желтоқсанда".split()
    ),
)
LANGUAGES = {lang.code: lang for lang in (ENGLISH, RUSSIAN, KAZAKH)}

_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_KAZAKH_CYRILLIC = re.compile(r"[әғқңөұүһіӘҒҚҢӨҰҮҺІ]")
# letters of the 2021 Kazakh Latin alphabet that English never uses, and Kazakh words written in it
_KAZAKH_LATIN_LETTERS = re.compile("[ǵńúıýǴŃÚÝ]")  # case-sensitive: under IGNORECASE "ı" matches "i"
_KAZAKH_LATIN_WORDS = re.compile(r"\b(?:qansha|qaı|qashan|kim|nege|qalaı|jyl\w*|bolady|jáne)\b", re.I)


def detect(text: str) -> Language:
    """The language of `text` by its letters: Cyrillic with Kazakh letters (ә, ғ, қ, ң, ө, ұ, ү, һ, і)
    is Kazakh, other Cyrillic Russian; Latin with letters of Kazakh's Latin alphabet is Kazakh; the rest
    is English."""
    cyrillic = len(_CYRILLIC.findall(text))
    latin = len(_LATIN.findall(text))
    if cyrillic > latin:
        return KAZAKH if _KAZAKH_CYRILLIC.search(text) else RUSSIAN
    if latin and len(_KAZAKH_LATIN_LETTERS.findall(text)) + len(_KAZAKH_LATIN_WORDS.findall(text)) >= 2:
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


# Capitalised words that name a role or a kind of body rather than someone: translated, not transliterated
_TITLES = frozenset(
    "president prime minister ministry deputy head state government governor mayor akim chairman chair "
    "committee council agency center centre department office national republic region city district "
    "parliament senate mazhilis university hospital company bank fund zone special economic international "
    "health healthcare education science culture information sports tourism justice finance energy "
    "agriculture ecology defense defence foreign affairs internal industry trade labor labour digital "
    "january february march april may june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday".split()
)
_LATIN_OF = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюяәғқңөұүһі",
        "a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh shch  y  e yu ya a g k n o u u h i".split(
            " "
        ),
        strict=True,
    )
)
_WORDS = re.compile(r"[^\W\d_]+")


def _latin(word: str) -> str:
    return "".join(_LATIN_OF.get(c, c) for c in word.lower())


def _keeps_name(name: str, words: set[str]) -> bool:
    """The name is in the translation as written, or transliterated (Bektenov: Бектенов)."""
    if name in words:
        return True
    folded = _fold(name)
    return any(SequenceMatcher(None, folded, _fold(_latin(word))).ratio() >= 0.75 for word in words)


def _fold(latin: str) -> str:
    """A romanised name with the spellings that vary between conventions made one (Jomart / Zhomart)."""
    for many, one in (("shch", "s"), ("zh", "j"), ("kh", "h"), ("ts", "c"), ("ch", "c"), ("sh", "s")):
        latin = latin.replace(many, one)
    return latin.replace("y", "i")


def faithful(source: str, translation: str) -> bool:
    """True when `translation` keeps what the checks verified in `source`: the same [n] markers the same
    number of times, the same numbers (as values), and every name of a person, place or body (as written
    or transliterated from Cyrillic)."""
    if not translation.strip():
        return False
    if Counter(marker_numbers(source)) != Counter(marker_numbers(translation)):
        return False
    if set(_values(source)) != set(_values(translation)):
        return False
    if any(_LATIN.search(w) and _CYRILLIC.search(w) for w in _WORDS.findall(translation)):
        return False  # a word half transliterated ("Bektenов"): neither the name as written nor in Cyrillic
    if _roles(source, _ENGLISH_ROLES) != _roles(translation, _TRANSLATED_ROLES):
        return False  # "Prime Minister Olzhas Bektenov" must not become "Президент ..."
    words = {w.lower() for w in _WORDS.findall(translation)}
    return all(_keeps_name(name, words) for name in names(source) - _TITLES)


# The roles a translation must keep: what the English answer calls someone, and the same role in Russian or
# Kazakh (stems; a Kazakh translation may use the Russian loanword). "Minister" alone is not "Prime Minister".
_ENGLISH_ROLES = {
    "prime minister": re.compile(r"\bprime minister", re.I),
    "deputy": re.compile(r"\bdeputy\b|\bvice\b", re.I),
    "minister": re.compile(r"(?<!prime )\bminister\b", re.I),
    "president": re.compile(r"(?<!vice )(?<!vice-)\bpresident", re.I),
    "chairman": re.compile(r"\bchair(?:man|woman|person)?\b", re.I),
    "governor": re.compile(r"\b(?:governor|akim|mayor)\b", re.I),
}
_TRANSLATED_ROLES = {
    "prime minister": re.compile(r"премьер", re.I),
    "deputy": re.compile(r"заместител|вице|орынбасар", re.I),
    "minister": re.compile(r"(?<!премьер-)(?<!премьер )министр(?!лі)", re.I),
    "president": re.compile(r"(?<!вице-)президент", re.I),
    "chairman": re.compile(r"председател|төраға", re.I),
    "governor": re.compile(r"аким|әкім|губернатор|мэр", re.I),
}


def _roles(text: str, table: dict[str, re.Pattern[str]]) -> set[str]:
    return {role for role, pattern in table.items() if pattern.search(text)}


# How a translation writes the roles of `_ENGLISH_ROLES` (the forms `_TRANSLATED_ROLES` accepts)
_ROLE_IN = {
    "Russian": {
        "prime minister": "премьер-министр",
        "deputy": "заместитель",
        "minister": "министр",
        "president": "президент",
        "chairman": "председатель",
        "governor": "аким",
    },
    "Kazakh": {
        "prime minister": "премьер-министр",
        "deputy": "орынбасары",
        "minister": "министр",
        "president": "президент",
        "chairman": "төрағасы",
        "governor": "әкім",
    },
}
_VOWELS = frozenset("aeiouy")
# Latin letters (and pairs) of romanised Kazakh and Russian names, longest first
_CYRILLIC_OF = (
    ("shch", "щ"), ("zh", "ж"), ("kh", "х"), ("ts", "ц"), ("ch", "ч"), ("sh", "ш"), ("yu", "ю"), ("ya", "я"),
    ("yo", "ё"), ("a", "а"), ("b", "б"), ("c", "к"), ("d", "д"), ("e", "е"), ("f", "ф"), ("g", "г"),
    ("h", "х"), ("i", "и"), ("j", "ж"), ("k", "к"), ("l", "л"), ("m", "м"), ("n", "н"), ("o", "о"),
    ("p", "п"), ("q", "к"), ("r", "р"), ("s", "с"), ("t", "т"), ("u", "у"), ("v", "в"), ("w", "в"),
    ("x", "кс"), ("z", "з"),
)  # fmt: skip


def cyrillic(name: str) -> str:
    """A romanised Kazakh or Russian name in Cyrillic letters by a fixed table (Bektenov: Бектенов, Tokayev:
    Токаев, Kassym-Jomart: Кассым-Жомарт); other characters are kept."""
    latin, out, i = name.lower(), [], 0
    while i < len(latin):
        after_vowel = i > 0 and latin[i - 1] in _VOWELS
        if latin.startswith("ye", i) and (i == 0 or after_vowel):
            out.append("е")  # Yerlan: Ерлан, Tokayev: Токаев
            i += 2
            continue
        if latin[i] in "yi" and after_vowel and not latin.startswith(("ya", "yu", "yo"), i):
            out.append("й")  # Baiturssynov: Байтурссынов
            i += 1
            continue
        if latin[i] == "y" and not latin.startswith(("ya", "yu", "yo"), i):
            out.append("ы")  # Kassym: Кассым
            i += 1
            continue
        for many, one in _CYRILLIC_OF:
            if latin.startswith(many, i):
                out.append(one)
                i += len(many)
                break
        else:
            out.append(latin[i])
            i += 1
    parts = zip("".join(out).split("-"), name.split("-"), strict=False)
    return "-".join(part[:1].upper() + part[1:] if given[:1].isupper() else part for part, given in parts)


def glossary(text: str, language: Language) -> tuple[tuple[str, str], ...]:
    """The roles and names of the English `text` as its translation into `language` must write them: each
    role in the words the translation check accepts, each name in Cyrillic by `cyrillic` (the check finds
    either spelling). Empty for a language without a table."""
    roles = _ROLE_IN.get(language.name)
    if roles is None:
        return ()
    pairs = [(role.title(), roles[role]) for role in _roles(text, _ENGLISH_ROLES)]
    wanted = names(text) - _TITLES
    seen = set()
    for word in _WORDS.findall(text):
        key = word.lower()
        if key in wanted and key not in seen and not _CYRILLIC.search(word):
            seen.add(key)
            pairs.append((word, cyrillic(word)))
    return tuple(pairs)


def with_glossary(translation: str, source: str, keep: tuple[tuple[str, str], ...]) -> str:
    """`translation` with the names and the role of `keep` (`glossary(source, ...)`) put back where the model
    wrote them otherwise: a name left in Latin letters or half transliterated ("Olzhas Bektenов") becomes the
    glossary's Cyrillic, and one role put in place of another ("Президент" for the Prime Minister) becomes
    the glossary's. The result is checked by `faithful` like any translation; a meaning lost in other words
    is not found here."""
    cyrillic_of = {english.lower(): written for english, written in keep}

    def name(match: re.Match[str]) -> str:
        word = match.group(0)
        latin = "".join(_LATIN.findall(word)).lower()
        if not latin:
            return word
        for english, written in cyrillic_of.items():
            half = bool(_CYRILLIC.search(word)) and english.startswith(latin)  # "Bektenов"
            if " " not in english and (latin == english or half):
                return written
        return word

    out = _WORDS.sub(name, translation)
    missing = _roles(source, _ENGLISH_ROLES) - _roles(out, _TRANSLATED_ROLES)
    extra = _roles(out, _TRANSLATED_ROLES) - _roles(source, _ENGLISH_ROLES)
    if len(missing) == 1 and len(extra) == 1:
        wanted = cyrillic_of.get(next(iter(missing)))
        found = _TRANSLATED_ROLES[next(iter(extra))].search(out)
        if wanted and found:
            start = out.rfind(" ", 0, found.start()) + 1
            tail = _WORDS.match(out, found.end())
            end = tail.end() if tail else found.end()
            wrote = out[start:end]
            wanted = wanted[:1].upper() + wanted[1:] if wrote[:1].isupper() else wanted
            out = out[:start] + wanted + out[end:]
    return out

"""Time expressions in questions, turned into publication-date ranges.

Relative expressions ("this week", "yesterday", "last month") can only mean when the article was
published: they filter. Absolute ones ("in 2024", "in December 2025") may name the time of the event
rather than of the article, so they only favour articles published then; so does a named day ("on
January 1, 2026"). "Recently" is the past 30 days. Anything else: no range.

"Latest" ("the latest news", "the most recent articles") names no range: it asks for the archive's newest
articles, however old they are (`asks_for_latest`). `describe` and `day` put ranges and days into words
for answers and refusals ("this week", "1 January 2026").
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTH = "|".join(sorted((m for m in _MONTHS if len(m) > 3 or m == "may"), key=len, reverse=True))
# before a year a month may be abbreviated ("Dec. 2025"): no word of three letters is then ambiguous
_MONTH_OR_ABBR = "|".join(sorted(_MONTHS, key=len, reverse=True))


@dataclass(frozen=True)
class DateRange:
    start: int  # epoch seconds, inclusive
    end: int  # exclusive
    strict: bool  # True: only articles published in the range; False: prefer them
    label: str


_DAYS_RECENT = 30  # "recently", "lately", "in recent days"
_RECENT = re.compile(r"\b(?:recently|lately|of late|in recent (?:days|weeks))\b", re.IGNORECASE)
_LATEST = re.compile(
    r"\b(?:latest|newest|most recent|freshest|last few (?:articles|stories|reports))\b|"
    r"\bwhat(?:'s| is) new\b|\brecent (?:news|articles|stories|headlines|developments|reports|events)\b",
    re.IGNORECASE,
)
_NUMBER_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "ten": 10, "few": 3}
_ORDINAL = r"(\d{1,2})(?:st|nd|rd|th)?"


def _ts(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp())


def _month_range(year: int, month: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1)
    end = datetime(year + (month == 12), month % 12 + 1, 1)
    return start, end


def find_date_range(question: str, now: datetime | None = None) -> DateRange | None:
    """The publication-date range a question refers to, if any."""
    now = (now or datetime.now(UTC)).replace(tzinfo=None)
    today = datetime(now.year, now.month, now.day)
    q = question.lower()

    if re.search(r"\btoday\b", q):
        return DateRange(_ts(today), _ts(today + timedelta(days=1)), True, "today")
    if re.search(r"\byesterday\b", q):
        return DateRange(_ts(today - timedelta(days=1)), _ts(today), True, "yesterday")
    if m := re.search(
        r"\b(?:the )?(?:last|past) (\d{1,3}|two|three|four|five|six|seven|ten|few) (days|weeks)\b", q
    ):
        count = int(m.group(1)) if m.group(1).isdigit() else _NUMBER_WORDS[m.group(1)]
        days = count * (7 if m.group(2) == "weeks" else 1)
        start, end = today - timedelta(days=days), today + timedelta(days=1)
        return DateRange(_ts(start), _ts(end), True, m.group(0).removeprefix("the "))
    if m := re.search(r"\b(this|last|past) (week|month|year)\b", q):
        which, unit = m.groups()
        if unit == "week":
            monday = today - timedelta(days=today.weekday())
            start = monday if which == "this" else monday - timedelta(days=7)
            end = start + timedelta(days=7) if which == "last" else today + timedelta(days=1)
            if which == "past":
                start, end = today - timedelta(days=7), today + timedelta(days=1)
        elif unit == "month":
            if which == "past":
                start, end = today - timedelta(days=30), today + timedelta(days=1)
            else:
                year, month = (
                    (now.year, now.month)
                    if which == "this"
                    else ((now.year - 1, 12) if now.month == 1 else (now.year, now.month - 1))
                )
                start, end = _month_range(year, month)
        else:
            year = now.year if which == "this" else now.year - 1
            start, end = datetime(year, 1, 1), datetime(year + 1, 1, 1)
            if which == "past":
                start, end = today - timedelta(days=365), today + timedelta(days=1)
        return DateRange(_ts(start), _ts(end), True, m.group(0))
    if (m := _RECENT.search(q)) and not _describes(q, m):
        start, end = today - timedelta(days=_DAYS_RECENT), today + timedelta(days=1)
        return DateRange(_ts(start), _ts(end), True, "recently")
    if named := _named_day(q):
        return named
    m = re.search(rf"\b(last|this) ({_MONTH})\b", question, re.IGNORECASE)
    if m and m.group(2) in ("may", "MAY") and m.group(2) != "May":
        m = None  # "this may slow growth": the verb, not the month
    if m:
        which, name = m.group(1).lower(), m.group(2).lower()
        month = _MONTHS[name]
        year = now.year if (which == "this" or month < now.month) else now.year - 1
        start, end = _month_range(year, month)
        return DateRange(_ts(start), _ts(end), True, m.group(0).lower())
    if m := re.search(rf"\b(?:in|during|on|of) ({_MONTH_OR_ABBR})\.? (\d{{4}})\b", q):
        start, end = _month_range(int(m.group(2)), _MONTHS[m.group(1)])
        return DateRange(_ts(start), _ts(end), False, m.group(0))
    if m := re.search(r"\b(?:in|during) (\d{4})\b", q):
        year = int(m.group(1))
        if 1900 <= year <= 2100:
            return DateRange(_ts(datetime(year, 1, 1)), _ts(datetime(year + 1, 1, 1)), False, m.group(0))
    return None


# "recently" that describes a report or a thing rather than asking about a period: after a comma or a
# relative pronoun ("Which company, recently noted by TechCrunch, ...", "the team that also recently faced
# ...", "a club, featured in ..., has recently adjusted ..."), or before a participle naming who reported
# ("recently removed from", "recently reviewed by")
_DESCRIPTIVE_BEFORE = re.compile(r"(?:,|\w\s+(?:that|which|who|whose)\b)\s*(?:[\w'’-]+\s+){0,2}$")
_DESCRIPTIVE_AFTER = re.compile(r"^\s*[a-z]+(?:ed|en|wn)\s+(?:by|in|from|for|on|at|as)\b")


def _describes(question: str, match: re.Match[str]) -> bool:
    """Whether the time word of `match` describes something in the question rather than asking about a
    period: a question about the news of the past weeks says so in its main clause ("What happened
    recently?", "What did the ministry announce lately?")."""
    before, after = question[: match.start()], question[match.end() :]
    return bool(_DESCRIPTIVE_BEFORE.search(before) or _DESCRIPTIVE_AFTER.match(after))


def _named_day(q: str) -> DateRange | None:
    """A day named in full: "January 1, 2026", "1 January 2026", "2026-01-01" (with or without "on")."""
    found: tuple[int, int, int] | None = None
    if m := re.search(rf"\b({_MONTH_OR_ABBR})\.? {_ORDINAL},? (\d{{4}})\b", q):
        found = (int(m.group(3)), _MONTHS[m.group(1)], int(m.group(2)))
    elif m := re.search(rf"\b{_ORDINAL} (?:of )?({_MONTH_OR_ABBR})\.?,? (\d{{4}})\b", q):
        found = (int(m.group(3)), _MONTHS[m.group(2)], int(m.group(1)))
    elif m := re.search(r"\b(\d{4})-(\d{2})-(\d{2})\b", q):
        found = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
    if m is None or found is None:
        return None
    try:
        start = datetime(*found)
    except ValueError:  # "February 30, 2026"
        return None
    return DateRange(_ts(start), _ts(start + timedelta(days=1)), False, day(start))


def asks_for_latest(question: str) -> bool:
    """Whether the question asks for the newest articles ("the latest news", "what is new", "the most
    recent reports on X"): an order, not a range."""
    return bool(_LATEST.search(question))


def day(moment: datetime | int) -> str:
    """A day in words: "1 January 2026" (epoch seconds are read in UTC)."""
    if isinstance(moment, int):
        moment = datetime.fromtimestamp(moment, UTC)
    return f"{moment.day} {calendar.month_name[moment.month]} {moment.year}"


def describe(date_range: DateRange) -> str:
    """The range as the words of a sentence "The archive has no articles from ...": "this week", "the
    past week", "last December", "1 January 2026", "the past 30 days" (for "recently")."""
    label = date_range.label
    if label == "recently":
        return f"the past {_DAYS_RECENT} days"
    if re.match(r"past |last (?:\d|two|three|four|five|six|seven|ten|few)", label):
        return f"the {label}"
    months = [w for w in label.split() if w.rstrip(".") in _MONTHS and (len(w) > 3 or w == "may")]
    words = [w.capitalize() if w in months else w for w in label.split()]
    text = " ".join(words)
    return re.sub(r"^(?:in|during|on|of) ", "", text)

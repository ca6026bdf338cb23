"""Time expressions in questions, turned into publication-date ranges.

Relative expressions ("this week", "yesterday", "last month") can only mean when the article was
published: they filter. Absolute ones ("in 2024", "in December 2025") may name the time of the event
rather than of the article, so they only favour articles published then. Anything else: no range.
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

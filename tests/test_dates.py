"""assistant.dates: the publication-date range a question names, on a fixed clock (no archive, no model)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from assistant.dates import DateRange, asks_for_latest, day, describe, find_date_range

# Wednesday 7 January 2026, mid-afternoon: the Monday of its week is 5 January, its month follows December
NOW = datetime(2026, 1, 7, 15, 30)


def ts(year: int, month: int, day: int) -> int:
    """Epoch seconds of midnight UTC of a day."""
    return int(datetime(year, month, day, tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("question", "start", "end", "label"),
    [
        ("What was announced today?", (2026, 1, 7), (2026, 1, 8), "today"),
        ("What did today's session decide?", (2026, 1, 7), (2026, 1, 8), "today"),
        ("What did the ministry say yesterday?", (2026, 1, 6), (2026, 1, 7), "yesterday"),
        # a week: from its Monday up to the end of today
        ("What happened this week?", (2026, 1, 5), (2026, 1, 8), "this week"),
        ("What happened last week?", (2025, 12, 29), (2026, 1, 5), "last week"),
        ("Any news in the past week?", (2025, 12, 31), (2026, 1, 8), "past week"),
        # a month: the calendar month (last month crosses the new year), the past month is 30 days
        ("What opened this month?", (2026, 1, 1), (2026, 2, 1), "this month"),
        ("What opened last month?", (2025, 12, 1), (2026, 1, 1), "last month"),
        ("What opened in the past month?", (2025, 12, 8), (2026, 1, 8), "past month"),
        ("What was built this year?", (2026, 1, 1), (2027, 1, 1), "this year"),
        ("What was built last year?", (2025, 1, 1), (2026, 1, 1), "last year"),
        ("What was built in the past year?", (2025, 1, 7), (2026, 1, 8), "past year"),
        # a named month: the latest one before now ("last"), or the one of this year ("this")
        ("Who was appointed last December?", (2025, 12, 1), (2026, 1, 1), "last december"),
        ("Who was appointed last March?", (2025, 3, 1), (2025, 4, 1), "last march"),
        ("What is planned for this March?", (2026, 3, 1), (2026, 4, 1), "this march"),
    ],
)
def test_relative_times_filter_by_publication_date(
    question: str, start: tuple[int, int, int], end: tuple[int, int, int], label: str
) -> None:
    assert find_date_range(question, NOW) == DateRange(ts(*start), ts(*end), True, label)


@pytest.mark.parametrize(
    ("question", "start", "end", "label"),
    [
        ("What was decided in December 2025?", (2025, 12, 1), (2026, 1, 1), "in december 2025"),
        ("What happened during May 2024?", (2024, 5, 1), (2024, 6, 1), "during may 2024"),
        ("Which records were set in 2024?", (2024, 1, 1), (2025, 1, 1), "in 2024"),
        ("How did prices change during 1998?", (1998, 1, 1), (1999, 1, 1), "during 1998"),
    ],
)
def test_absolute_times_only_favour_articles_of_then(
    question: str, start: tuple[int, int, int], end: tuple[int, int, int], label: str
) -> None:
    """ "In 2024" may be when the event happened, not when the article about it came out: not a filter."""
    assert find_date_range(question, NOW) == DateRange(ts(*start), ts(*end), False, label)


def test_last_month_named_is_this_years_once_it_has_passed() -> None:
    may = datetime(2026, 5, 20)
    assert find_date_range("Who was appointed last March?", may) == DateRange(
        ts(2026, 3, 1), ts(2026, 4, 1), True, "last march"
    )
    # the month we are in: "last May" is a year ago
    assert find_date_range("What happened last May?", may) == DateRange(
        ts(2025, 5, 1), ts(2025, 6, 1), True, "last may"
    )


def test_a_week_that_starts_today() -> None:
    monday = datetime(2026, 1, 5, 9, 0)
    assert find_date_range("What happened this week?", monday) == DateRange(
        ts(2026, 1, 5), ts(2026, 1, 6), True, "this week"
    )


@pytest.mark.parametrize(
    "question",
    [
        "How many jobs will the biopharma plant create?",
        "What did the 2024 elections change?",  # a year, but not "in 2024"
        "What happened in 1850?",  # outside the years an archive of news can mean
        "What will happen in 10 years?",
        "Who is the mayor of Astana?",
    ],
)
def test_no_time_no_range(question: str) -> None:
    assert find_date_range(question, NOW) is None


def test_relative_times_win_over_absolute_ones() -> None:
    got = find_date_range("What was said yesterday about the plan made in 2019?", NOW)
    assert got is not None and got.label == "yesterday" and got.strict


def test_an_aware_clock_and_the_default_clock() -> None:
    late = datetime(2026, 1, 7, 23, 59, tzinfo=UTC)
    assert find_date_range("today", late) == DateRange(ts(2026, 1, 7), ts(2026, 1, 8), True, "today")
    before = datetime.now(UTC).timestamp()
    got = find_date_range("What happened today?")  # now: the machine's clock, in UTC
    after = datetime.now(UTC).timestamp()
    assert got is not None and got.end - got.start == 86_400
    assert got.start <= before + 1 and after < got.end + 1  # today's range holds the moment of the call


def test_the_verb_may_is_not_the_month() -> None:
    assert find_date_range("Why do analysts think this may slow growth?", NOW) is None


def test_an_abbreviated_month_is_a_month() -> None:
    assert find_date_range("What was decided in Dec. 2025?", NOW) == DateRange(
        ts(2025, 12, 1), ts(2026, 1, 1), False, "in dec. 2025"
    )


@pytest.mark.parametrize(
    ("question", "start", "end", "label", "words"),
    [
        ("What happened recently?", (2025, 12, 8), (2026, 1, 8), "recently", "the past 30 days"),
        ("Who resigned lately?", (2025, 12, 8), (2026, 1, 8), "recently", "the past 30 days"),
        ("What happened in the last 3 days?", (2026, 1, 4), (2026, 1, 8), "last 3 days", "the last 3 days"),
        (
            "Any news in the past two weeks?",
            (2025, 12, 24),
            (2026, 1, 8),
            "past two weeks",
            "the past two weeks",
        ),
        ("What happened this week?", (2026, 1, 5), (2026, 1, 8), "this week", "this week"),
        ("What happened in the past week?", (2025, 12, 31), (2026, 1, 8), "past week", "the past week"),
        ("What happened last December?", (2025, 12, 1), (2026, 1, 1), "last december", "last December"),
    ],
)
def test_new_relative_times_and_their_words(
    question: str, start: tuple[int, int, int], end: tuple[int, int, int], label: str, words: str
) -> None:
    got = find_date_range(question, NOW)
    assert got == DateRange(ts(*start), ts(*end), True, label)
    assert describe(got) == words


@pytest.mark.parametrize(
    "question",
    [
        "What happened on January 1, 2026?",
        "What happened on Jan. 1st, 2026?",
        "What happened on 1 January 2026?",
        "What was published on the 1st of January 2026?",
        "Which articles are from 2026-01-01?",
    ],
)
def test_a_named_day_favours_that_day(question: str) -> None:
    """A named day may be the day of the event, like a named month: it favours, it does not filter."""
    got = find_date_range(question, NOW)
    assert got == DateRange(ts(2026, 1, 1), ts(2026, 1, 2), False, "1 January 2026")
    assert describe(got) == "1 January 2026"


def test_an_impossible_day_is_no_day() -> None:
    assert find_date_range("What happened on February 30, 2026?", NOW) is None


@pytest.mark.parametrize(
    ("question", "latest"),
    [
        ("What is the latest news?", True),
        ("What is the latest on the biopharma plant?", True),
        ("Show me the most recent articles about taxis", True),
        ("What's new?", True),
        ("Any recent developments in healthcare?", True),
        ("How many jobs will the biopharma plant create?", False),
        ("What did the last report say?", False),
        ("Is the new plant in the Alatau zone?", False),
    ],
)
def test_latest_is_an_order_not_a_range(question: str, latest: bool) -> None:
    assert asks_for_latest(question) is latest
    if latest and "recent" not in question:
        assert find_date_range(question, NOW) is None


def test_days_in_words() -> None:
    assert day(datetime(2026, 1, 1, 16, 52)) == "1 January 2026"
    assert day(ts(2025, 12, 29) + 3600) == "29 December 2025"


@pytest.mark.parametrize(
    "question",
    [
        "Which company, recently noted by TechCrunch for its AI model, is also mentioned by The Verge?",
        "Which club is the dream purchase for Sir Jim Ratcliffe that also recently faced elimination?",
        "Who is the industry figure recently removed from OpenAI's leadership, according to TechCrunch?",
        "Which NFL team, featured in both articles, has recently adjusted their offensive strategy?",
    ],
)
def test_a_time_word_that_describes_a_report_filters_nothing(question: str) -> None:
    """ "Recently" in a clause describing a report says when it noted something, not which period the
    reader asks about: 6 of 80 unseen MultiHop-RAG questions were refused as "nothing in the past 30 days"."""
    assert find_date_range(question, NOW) is None


@pytest.mark.parametrize(
    "question",
    ["What did the ministry announce recently?", "What has the government recently announced about taxis?"],
)
def test_a_time_word_in_the_main_clause_still_asks_about_the_period(question: str) -> None:
    found = find_date_range(question, NOW)
    assert found is not None and found.label == "recently" and found.strict

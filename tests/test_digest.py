"""assistant.digest's rules: which questions ask for a digest, and what period and topic (no archive)."""

from __future__ import annotations

from datetime import datetime

import pytest

from assistant.digest import digest_request

NOW = datetime(2026, 1, 7, 15, 30)


@pytest.mark.parametrize(
    ("question", "topic", "label", "latest"),
    [
        ("What are the main news?", "", None, False),
        ("What is the latest news?", "", None, True),
        ("What's new?", "", None, True),
        ("What happened on January 1, 2026?", "", "1 January 2026", False),
        ("What happened this week?", "", "this week", False),
        ("What happened yesterday?", "", "yesterday", False),
        ("What were the top stories in December 2025?", "", "in december 2025", False),
        ("Summarize the news about healthcare", "healthcare", None, False),
        ("Give me a summary of the articles on energy", "energy", None, False),
        ("What is the latest on the biopharma plant?", "the biopharma plant", None, True),
        ("What is the latest news about Tokayev?", "Tokayev", None, True),
        ("What is the news about Tokayev from last week?", "Tokayev", "last week", False),
    ],
)
def test_digest_questions(question: str, topic: str, label: str | None, latest: bool) -> None:
    got = digest_request(question, NOW)
    assert got is not None
    assert got.topic == topic
    assert (got.date_range.label if got.date_range else None) == label
    assert got.latest is latest


@pytest.mark.parametrize(
    "question",
    [
        "What happened to the biopharma plant?",
        "What happened at the Security Council meeting?",
        "How many jobs will the biopharma plant create?",
        "Who is the latest minister to be relieved of duty?",
        "What did Tokayev say this week?",
        "Which news agency reported the biopharma deal?",
    ],
)
def test_questions_about_one_fact_are_not_digests(question: str) -> None:
    assert digest_request(question, NOW) is None

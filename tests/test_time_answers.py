"""Time-aware answers over the real seeded archive, on a fixed clock: digests of a period or a topic, the
refusal of a period the archive holds nothing from (naming its newest article's date), the latest first.

The seeds run from 29 December 2025 to 1 January 2026 (two articles that day), one article undated."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from assistant import Answer, Assistant, Settings
from assistant.prompts import Prompts
from ingest.embedding import ArchiveEmbedding

from .conftest import ScriptedChat

SOON = datetime(2026, 1, 2, 9, 0)  # the day after the newest seed
LATE = datetime(2026, 6, 10, 9, 0)  # months after it: "this week" holds nothing
LINE = re.compile(r"^- (\d{1,2} \w+ \d{4}|Undated): (.+) \[(\d)\]\.$")


def make_bot(
    seeded_dir: Path, embedder: ArchiveEmbedding, now: datetime, chat: ScriptedChat | None = None
) -> Assistant:
    settings = Settings(data_dir=seeded_dir, llm_backend="local" if chat else "extractive")
    return Assistant.from_settings(settings, embedder=embedder, chat_model=chat, clock=lambda: now)


def digest_lines(answer: Answer) -> list[tuple[str, str, int]]:
    """(date, quoted sentence, marker) of each line; every line must be one."""
    assert not answer.refused, answer.notes
    lines = answer.text.splitlines()
    parsed = []
    for line in lines:
        m = LINE.match(line)
        assert m, f"not a digest line: {line!r}"
        parsed.append((m.group(1), m.group(2), int(m.group(3))))
    return parsed


def check_grounded(answer: Answer) -> None:
    """One citation per line, in marker order, each quoting the line's sentence from its own passage,
    dated as the line says, one article per line."""
    lines = digest_lines(answer)
    assert [n for _, _, n in lines] == [c.n for c in answer.citations] == list(range(1, len(lines) + 1))
    assert len({c.article_id for c in answer.citations}) == len(lines) <= 5
    for (when, sentence, _), citation in zip(lines, answer.citations, strict=True):
        assert citation.supporting_text.rstrip(".") == sentence
        if when != "Undated":
            assert datetime.strptime(when, "%d %B %Y").date().isoformat() == citation.published[:10]
    dated = [c.published for c in answer.citations if c.published]
    assert dated == sorted(dated, reverse=True), "newest first"


def test_the_main_news_are_the_newest_articles(seeded_dir: Path, embedder: ArchiveEmbedding) -> None:
    answer = make_bot(seeded_dir, embedder, SOON).ask("What are the main news?")
    check_grounded(answer)
    assert answer.backend == "digest"
    assert [c.published[:10] for c in answer.citations] == [
        "2026-01-01", "2026-01-01", "2025-12-31", "2025-12-30", "2025-12-30",
    ]  # fmt: skip


def test_the_latest_news(seeded_dir: Path, embedder: ArchiveEmbedding) -> None:
    answer = make_bot(seeded_dir, embedder, SOON).ask("What is the latest news?")
    check_grounded(answer)
    assert answer.text.startswith("- 1 January 2026: ")
    assert "Kazakhstan to build full-cycle biopharma hub" in {c.title for c in answer.citations}


def test_what_happened_on_a_day_lists_that_days_articles(
    seeded_dir: Path, embedder: ArchiveEmbedding
) -> None:
    answer = make_bot(seeded_dir, embedder, SOON).ask("What happened on January 1, 2026?")
    check_grounded(answer)
    assert {c.title for c in answer.citations} == {
        "Kazakhstan to build full-cycle biopharma hub",
        "Tokayev congratulated the people of Kazakhstan on the New Year",
    }
    assert all(when == "1 January 2026" for when, _, _ in digest_lines(answer))


def test_a_topic_across_articles(seeded_dir: Path, embedder: ArchiveEmbedding) -> None:
    answer = make_bot(seeded_dir, embedder, SOON).ask("Summarize the news about healthcare")
    check_grounded(answer)
    titles = {c.title for c in answer.citations}
    assert len(answer.citations) >= 2, "more than one sentence"
    assert "Kazakhstan builds 655 rural healthcare facilities" in titles
    assert "Tokayev chairs Security Council meeting on energy resilience" not in titles
    assert all("health" in s.lower() or "medical" in s.lower() for _, s, _ in digest_lines(answer))


def test_the_latest_on_a_topic_prefers_the_newest_relevant_articles(
    seeded_dir: Path, embedder: ArchiveEmbedding
) -> None:
    """The most relevant article on Tokayev is the 30 December summary of his trips; the newest relevant one
    (his New Year address) leads, and nothing unrelated is listed."""
    answer = make_bot(seeded_dir, embedder, SOON).ask("What is the latest news about Tokayev?")
    check_grounded(answer)
    assert answer.citations[0].title == "Tokayev congratulated the people of Kazakhstan on the New Year"
    assert answer.text.startswith("- 1 January 2026: ")
    assert "Kazakhstan to build full-cycle biopharma hub" not in {c.title for c in answer.citations}


def test_this_week_on_a_stale_archive_names_the_newest_date(
    seeded_dir: Path, embedder: ArchiveEmbedding
) -> None:
    bot = make_bot(seeded_dir, embedder, LATE)
    answer = bot.ask("What happened this week?")
    assert answer.refused and not answer.citations
    assert answer.text == "The archive has no articles from this week; the newest is from 1 January 2026."
    # not a digest either: a question about one fact in an empty period says the same
    other = bot.ask("What did Tokayev say this week?")
    assert other.refused and other.text == answer.text


def test_this_week_is_answered_when_the_archive_holds_it(
    seeded_dir: Path, embedder: ArchiveEmbedding
) -> None:
    answer = make_bot(seeded_dir, embedder, datetime(2025, 12, 31, 12, 0)).ask("What happened this week?")
    check_grounded(answer)  # Monday 29 December to today: four of the seeds' days
    assert {c.published[:10] for c in answer.citations} <= {"2025-12-29", "2025-12-30", "2025-12-31"}


def test_a_russian_question_about_an_empty_week_is_refused_in_russian(
    seeded_dir: Path, embedder: ArchiveEmbedding
) -> None:
    chat = ScriptedChat("What happened this week?")  # the model's translation of the question
    answer = make_bot(seeded_dir, embedder, LATE, chat).ask("Что произошло на этой неделе?")
    assert answer.refused and answer.language == "ru"
    assert answer.text == (
        "В архиве нет статей за эту неделю; самая свежая статья опубликована 1 января 2026 г."
    )
    assert len(chat.prompts) == 1, "only the translation of the question: no answer was drafted"


def test_a_kazakh_refusal_names_the_newest_date_too(seeded_dir: Path, embedder: ArchiveEmbedding) -> None:
    chat = ScriptedChat("What happened this week?")
    answer = make_bot(seeded_dir, embedder, LATE, chat).ask("Осы аптада қандай жаңалықтар болды?")
    assert answer.refused and answer.language == "kk"
    assert "2026 жылғы 1 қаңтарда" in answer.text and "осы аптадағы" in answer.text


def test_a_russian_digest_goes_through_the_answers_translation(
    seeded_dir: Path, embedder: ArchiveEmbedding
) -> None:
    """The digest is translated like an answer: the model gets the checked English lines; a translation
    that loses a number (here 2026) is not given: the English digest comes with the Russian note."""
    chat = ScriptedChat(
        "What happened on January 1, 2026?", "— 1 января: статья [1]. — 1 января: статья [2]."
    )
    answer = make_bot(seeded_dir, embedder, SOON, chat).ask("Что произошло 1 января 2026 года?")
    assert "- 1 January 2026: " in chat.prompts[-1][-1]["content"], "the digest was sent for translation"
    assert not answer.refused and answer.backend == "digest" and answer.language == "en"
    assert answer.text.startswith("(Перевод ответа не прошёл проверку")
    assert answer.text.count("- 1 January 2026: ") == 2 and len(answer.citations) == 2


def test_the_prompt_says_what_day_it_is_for_questions_about_a_time(
    seeded_dir: Path, embedder: ArchiveEmbedding
) -> None:
    chat = ScriptedChat("The plant is expected to create more than 180 permanent jobs [1].", repeat=True)
    bot = make_bot(seeded_dir, embedder, SOON, chat)
    bot.ask("How many jobs will the biopharma plant create this year?")
    assert chat.prompts[-1][-1]["content"].startswith("Today is 2 January 2026.")
    bot.ask("How many jobs will the biopharma plant create?")  # no time named: no date (it cost answers)
    assert not chat.prompts[-1][-1]["content"].startswith("Today is")
    # the few-shot examples carry no day: the cached prefix never changes
    prefix = Prompts.load().answer_messages("warm up", [])[:-1]
    assert chat.prompts[-1][: len(prefix)] == prefix

"""The excerpt budget (assistant.context.with_excerpts): what of the passages the generator reads.

Hand-built passages and rankings (a word is a token here) for the rules; the real ranking over the seeded
archive for the one thing that matters in the end: the sentence that states a fact reaches the prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from assistant.context import ContextPassage, RankedSentence, numbered, rank_sentences, with_excerpts
from ingest.embedding import ArchiveEmbedding
from ingest.sentences import sentence_spans, sentences

HEADER = 16  # what with_excerpts charges for a passage's number, title and date

TEXTS = {
    1: "Kazakhstan will build a biopharma hub in Almaty. It is expected to create more than 180 permanent "
    "jobs. The plant will produce 58 medication items. Construction starts in March.",
    2: "The oncology center opened two hybrid operating rooms. Surgeons there perform more than 350 "
    "high-tech surgeries a year.",
    3: "Wired tested a power bank with a 10,000-mAh capacity. The reviewer liked its weight.",
}


def words(text: str) -> int:
    return len(text.split())


def passages() -> list[ContextPassage]:
    return [
        ContextPassage(n, f"p{n}", text, f"Title {n}", {"source": f"Source {n}"}) for n, text in TEXTS.items()
    ]


def ranked(order: Sequence[tuple[int, int]]) -> list[RankedSentence]:
    """Sentences in the given order of (passage, sentence index), scores falling."""
    out = []
    for i, (n, k) in enumerate(order):
        a, b = sentence_spans(TEXTS[n])[k]
        out.append(RankedSentence(n, a, b, TEXTS[n][a:b], 1.0 - i / 100))
    return out


# jobs first, then the surgeries, the medication items, ... the Wired review last
ORDER = [(1, 1), (2, 1), (1, 2), (2, 0), (1, 3), (3, 0), (3, 1), (1, 0)]


def chosen(p: ContextPassage) -> list[str]:
    """The sentences of a passage its excerpt holds."""
    return [s for s in sentences(p.text) if s in p.excerpt]


def spent(out: Sequence[ContextPassage]) -> int:
    return sum(HEADER + sum(words(s) + 1 for s in chosen(p)) for p in out)


@pytest.mark.parametrize("budget", range(40, 140, 7))
def test_the_excerpts_stay_within_the_budget(budget: int) -> None:
    out = with_excerpts(passages(), ranked(ORDER), budget, words)
    assert out and spent(out) <= budget
    # and the budget is used: no sentence left out would still have fitted
    left = [s for p in out for s in sentences(p.text) if s not in p.excerpt]
    assert all(spent(out) + words(s) + 1 > budget for s in left), (budget, left)


def test_the_best_sentence_is_kept_even_when_it_alone_is_over_the_budget() -> None:
    out = with_excerpts(passages(), ranked(ORDER), 10, words)
    assert [p.passage_id for p in out] == ["p1"]
    assert "180 permanent jobs" in out[0].excerpt


def test_excerpts_are_renumbered_in_passage_order_with_whole_texts() -> None:
    out = with_excerpts(passages(), ranked([(2, 1), (1, 2)]), 1000, words)
    assert [(p.n, p.passage_id) for p in out] == [(1, "p1"), (2, "p2")]
    assert [p.text for p in out] == [TEXTS[1], TEXTS[2]]  # the guards check against whole passages
    assert out[0].excerpt == "The plant will produce 58 medication items."
    assert out[1].title == "Title 2" and out[1].metadata == {"source": "Source 2"}


def test_an_excerpt_keeps_article_order_and_marks_what_it_leaves_out() -> None:
    out = with_excerpts(passages(), ranked([(1, 3), (1, 2), (1, 0)]), 1000, words)
    [p] = out
    assert p.excerpt == (
        "Kazakhstan will build a biopharma hub in Almaty. … The plant will produce 58 medication items. "
        "Construction starts in March."
    )


def test_a_sentence_opening_with_a_pronoun_brings_the_one_it_refers_to() -> None:
    """ "It is expected to create 180 jobs" is no fact without the sentence that says what "it" is."""
    [p] = with_excerpts(passages(), ranked([(1, 1)]), 1000, words)
    assert p.excerpt == sentences(TEXTS[1])[0] + " " + sentences(TEXTS[1])[1]


def test_a_covered_passage_gets_its_best_sentence_before_any_passage_a_second() -> None:
    """A question about several sources needs evidence from each: the budget that the top passages
    would fill alone leaves room for the covered passage's best sentence."""
    budget = 80
    plain = with_excerpts(passages(), ranked(ORDER), budget, words)
    assert "p3" not in [p.passage_id for p in plain]  # without the cover, the Wired passage is crowded out
    covered = with_excerpts(passages(), ranked(ORDER), budget, words, cover={1, 3})
    by_id = {p.passage_id: p for p in covered}
    assert "10,000-mAh" in by_id["p3"].excerpt and "180 permanent jobs" in by_id["p1"].excerpt
    assert spent(covered) <= budget


# --- the real ranking over the seeded archive --------------------------------------------------------------
@pytest.mark.parametrize(
    ("question", "fact"),
    [
        ("How many jobs will the biopharma plant create?", "180 permanent jobs"),
        ("How many medication items will the facility be equipped to produce?", "58"),
        ("How many high-tech surgeries a year do the hybrid operating rooms enable?", "350"),
        ("Who chairs the Digital Assets and Breakthrough Technologies Committee?", "Baiturssynov"),
    ],
)
def test_a_fact_stated_once_reaches_the_excerpt_at_the_default_budget(
    seeded_dir: Path, embedder: ArchiveEmbedding, question: str, fact: str
) -> None:
    from assistant.retrieval import HybridRetriever
    from assistant.settings import Settings
    from ingest.passages import count_tokens
    from ingest.store import PassageStore

    settings = Settings(data_dir=seeded_dir)
    hits = HybridRetriever(settings, PassageStore(settings), embedder).retrieve(question).hits
    candidates = numbered(hits, settings.max_sources)
    stating = [p for p in candidates if fact in p.text]
    assert len(stating) == 1, "the test needs a fact that exactly one candidate passage states"
    out = with_excerpts(
        candidates,
        rank_sentences(question, candidates, embedder),
        settings.context_tokens,
        count_tokens,
    )
    [reached] = [p for p in out if p.passage_id == stating[0].passage_id]
    assert fact in reached.excerpt
    assert sum(HEADER + sum(count_tokens(s) + 1 for s in chosen(p)) for p in out) <= settings.context_tokens

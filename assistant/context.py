"""What the generator reads: the best sentences of the best passages, within a token budget.

The local model reads about 55 prompt tokens/s on 2 cores, so every token of context costs time before
the first word of the answer. Rather than whole passages, the prompt holds excerpts: the sentences of
the top passages that are closest to the question (embedding similarity mixed with key-word overlap),
each with the sentence before it when it opens with a pronoun, kept in article order and grouped under
their passage's number. Citations still point at whole stored passages; the guards check against them.
The same ranking gives the extractive answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ingest.embedding import ArchiveEmbedding
from ingest.sentences import sentence_spans

from .retrieval import Hit
from .text import content_words, numbers

_PRONOUN_START = re.compile(
    r"^[\"“‘]?(It|Its|He|His|She|Her|They|Their|This|These|That|Those|The center|Such)\b"
)


@dataclass(frozen=True)
class ContextPassage:
    """A passage as numbered in the prompt: the whole stored text and the excerpt the model reads."""

    n: int
    passage_id: str
    text: str
    title: str
    metadata: dict[str, object]
    excerpt: str = ""

    @property
    def support_text(self) -> str:
        """What a claim citing this passage may draw on: its text, its article's title and source."""
        source = str(self.metadata.get("source", "") or "")
        return f"{self.title}\n{source}\n{self.text}" if source else f"{self.title}\n{self.text}"


@dataclass(frozen=True)
class RankedSentence:
    n: int  # passage number
    start: int
    end: int
    text: str
    score: float


def rank_sentences(
    question: str,
    passages: Sequence[ContextPassage],
    embedder: ArchiveEmbedding,
    passage_scores: Sequence[float] | None = None,
) -> list[RankedSentence]:
    """Sentences of the passages, best first, scored against the question."""
    items: list[tuple[int, int, int, str]] = []
    for p in passages:
        for a, b in sentence_spans(p.text):
            items.append((p.n, a, b, p.text[a:b]))
    if not items:
        return []
    vectors = embedder.encode([f"{passages[n - 1].title}: {s}" for n, _, _, s in items])
    similarity = embedder.relevance(vectors @ embedder.encode_queries([question])[0])
    q_words, q_numbers = content_words(question), numbers(question)
    ranked = []
    for (n, a, b, sentence), sim in zip(items, similarity, strict=True):
        words = content_words(sentence)
        overlap = len(q_words & words) / len(q_words) if q_words else 0.0
        bonus = 0.1 if q_numbers and q_numbers & numbers(sentence) else 0.0
        prior = 0.05 * (passage_scores[n - 1] if passage_scores else 0.0)
        short = -0.15 if len(sentence.split()) < 4 else 0.0
        ranked.append(
            RankedSentence(n, a, b, sentence, 0.6 * float(sim) + 0.4 * overlap + bonus + prior + short)
        )
    return sorted(ranked, key=lambda r: r.score, reverse=True)


def numbered(hits: Sequence[Hit], limit: int) -> list[ContextPassage]:
    out: list[ContextPassage] = []
    for hit in hits[:limit]:
        meta = hit.passage.metadata
        out.append(
            ContextPassage(
                n=len(out) + 1,
                passage_id=hit.passage_id,
                text=hit.passage.text,
                title=str(meta.get("title", "")),
                metadata=meta,
            )
        )
    return out


def with_excerpts(
    passages: Sequence[ContextPassage],
    ranked: Sequence[RankedSentence],
    budget_tokens: int,
    count_tokens: Callable[[str], int],
    cover: set[int] | frozenset[int] = frozenset(),
) -> list[ContextPassage]:
    """The passages that contribute sentences within the budget, renumbered 1..m, each with its excerpt.

    Each passage in `cover` gets its best sentence before any passage gets a second one (the parts of a
    question about several sources each need their evidence)."""
    firsts = [next(r for r in ranked if r.n == n) for n in sorted(cover) if any(r.n == n for r in ranked)]
    firsts.sort(key=lambda r: r.score, reverse=True)
    ranked = firsts + [r for r in ranked if r not in firsts]
    chosen: dict[int, list[tuple[int, int]]] = {}
    used = 0
    spans_by_n = {p.n: sentence_spans(p.text) for p in passages}
    for r in ranked:
        spans = [(r.start, r.end)]
        if _PRONOUN_START.match(r.text):
            idx = spans_by_n[r.n].index((r.start, r.end))
            if idx > 0:
                spans.insert(0, spans_by_n[r.n][idx - 1])
        new = [s for s in spans if s not in chosen.get(r.n, [])]
        cost = sum(count_tokens(passages[r.n - 1].text[a:b]) + 1 for a, b in new)
        if r.n not in chosen:
            cost += 16  # the passage header: number, title, date
        if used + cost > budget_tokens and used:
            continue
        chosen.setdefault(r.n, []).extend(new)
        used += cost
    out: list[ContextPassage] = []
    for p in passages:
        if p.n not in chosen:
            continue
        spans = sorted(set(chosen[p.n]))
        parts, last_end = [], None
        for a, b in spans:
            if last_end is not None and a > last_end + 1:
                parts.append("…")
            parts.append(p.text[a:b])
            last_end = b
        excerpt = " ".join(parts)
        out.append(ContextPassage(len(out) + 1, p.passage_id, p.text, p.title, p.metadata, excerpt))
    return out

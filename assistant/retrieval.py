"""Hybrid retrieval: dense (Chroma, the ingest embedder) and lexical (BM25) fused by reciprocal rank.

Publication dates take part where a question names a time: a relative one ("this week") filters both
retrievers, an absolute one ("in 2024") adds a third ranking of the passages published then, so an
article about that time rises without hiding older articles that mention it.

The BM25 index (Tantivy) is loaded once and reloaded only when ingest commits a new one (a stat per query
notices it; a reload opens only the new segments). The index also says which article versions are
committed, so the ledger is never read whole: passages of articles that are not committed (leftovers of
an interrupted ingest, or an ingest whose index is not committed yet) are never returned.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ingest.embedding import Embedder
from ingest.lexical import LexicalIndex, index_dir, saved_at
from ingest.repair import current_lexical_index
from ingest.store import PassageFilter, PassageStore, StoredPassage

from .dates import DateRange, find_date_range
from .errors import EmptyArchiveError
from .questions import named_sources
from .settings import Settings

RRF_K = 60
PER_SOURCE_CANDIDATES = 12  # passages searched within each source a question names
PER_SOURCE_FIRST = 2  # of which the best this many lead the ranking, source by source


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with its fused score and the evidence of each retriever."""

    passage: StoredPassage
    score: float
    dense: float | None  # cosine similarity to the question, when the dense retriever found it
    lexical: float | None  # BM25 score, when the lexical retriever found it

    @property
    def passage_id(self) -> str:
        return self.passage.passage_id


@dataclass
class RetrievalTimings:
    embed: float = 0.0
    dense: float = 0.0
    lexical: float = 0.0
    fuse: float = 0.0


@dataclass(frozen=True)
class Retrieval:
    hits: list[Hit]
    date_range: DateRange | None
    best_dense: float
    timings: RetrievalTimings
    sources: tuple[str, ...] = ()  # the archive's sources the question names, each searched on its own


class _Snapshot:
    """The lexical index plus the committed articles it holds (article_id -> content hash, looked up in the
    index, not read from the ledger)."""

    def __init__(
        self, index: LexicalIndex, committed: Mapping[str, str], mtime: float, sources: frozenset[str]
    ) -> None:
        self.index = index
        self.committed = committed
        self.mtime = mtime
        self.sources = sources


@dataclass(frozen=True)
class Query:
    """One search: the question, how many passages, the time it is asked at, and a date filter that
    overrides any time the question names."""

    text: str
    k: int
    now: datetime | None = None
    date_filter: DateRange | None = None


class Retriever(ABC):
    """Finds the passages for a question: the shape of llama-index retrievers, a public `retrieve()` over the
    `_retrieve()` each implementation writes. `store` is the archive it searches, `embedder` the one its
    vectors come from; the engine asks the retriever what it needs of them (the archive's dates, the
    newest articles, the sentence ranker) rather than reaching through it."""

    settings: Settings
    store: PassageStore
    embedder: Embedder

    def retrieve(
        self,
        query: str,
        k: int | None = None,
        now: datetime | None = None,
        date_filter: DateRange | None = None,
    ) -> Retrieval:
        """The best passages for `query` (at most `k`, default the `candidates` setting); `date_filter`
        (the reader's choice) overrides any time the question names."""
        return self._retrieve(Query(query, k or self.settings.candidates, now, date_filter))

    @abstractmethod
    def _retrieve(self, query: Query) -> Retrieval: ...

    def warm_up(self) -> None:
        """Load what the first search would otherwise wait for."""
        return None

    # --- what the engine needs of the archive beside a search ----------------------------------------------
    def date_span(self) -> tuple[int, int] | None:
        """Epoch seconds of the oldest and newest dated committed articles; None when none is dated."""
        return self.store.date_span()

    def holds_articles(self, period: DateRange) -> bool:
        """Whether some committed article was published within `period`."""
        return self.store.published_between(period.start, period.end)

    def newest_openings(self, limit: int, period: DateRange | None = None) -> list[StoredPassage]:
        """The first passage of each of the `limit` newest committed articles (within `period`), newest
        first: where an article states its headline fact."""
        if period is None:
            records = self.store.newest_articles(limit)
        else:
            records = self.store.newest_articles(limit, period.start, period.end)
        firsts = self.store.get_passages([f"{r.article_id}:{r.content_hash}:0" for r in records])
        by_article = {str(p.metadata.get("article_id", "")): p for p in firsts}
        return [by_article[r.article_id] for r in records if r.article_id in by_article]

    def sentence_ranker(self, english: bool) -> Embedder:
        """The embedder that ranks candidate sentences: for English text the archive embedder's English
        ranker (MiniLM beside e5: ~5x faster per sentence), else the archive's embedder."""
        return self.embedder.sentence_ranker() if english else self.embedder


class HybridRetriever(Retriever):
    """Dense (Chroma) and lexical (BM25) search fused by reciprocal rank, with per-source search for the
    sources a question names and the dates it names as a filter or a boost."""

    def __init__(self, settings: Settings, store: PassageStore, embedder: Embedder) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self._snapshot: _Snapshot | None = None
        self._lock = threading.Lock()
        self._index_dir = index_dir(settings)

    def snapshot(self) -> _Snapshot:
        """The current index: reloaded when ingest committed a newer one (only its new segments are
        opened), checked against the archive at start-up, rebuilt when missing, damaged (also when its
        files were cut short under this process: `LexicalIndex.intact`) or stale."""
        mtime = saved_at(self._index_dir)
        current = self._snapshot
        if current is not None and current.mtime == mtime and current.index.intact():
            return current
        with self._lock:
            mtime = saved_at(self._index_dir)
            current = self._snapshot
            if current is not None and current.mtime == mtime and current.index.intact():
                return current
            self.store.check_vector_space(self.embedder.model_id)
            # an index whose files were cut short under it is opened afresh (and rebuilt), never reloaded
            previous = current.index if current is not None and current.index.intact() else None
            index = LexicalIndex.load(self._index_dir, previous=previous)
            if index is None or previous is None:  # missing, damaged or stale: ingest brings it in line
                index = current_lexical_index(self.settings, self.store, self._index_dir, index)
            self._snapshot = _Snapshot(index, index.committed, mtime, index.sources)
            return self._snapshot

    def warm_up(self) -> None:
        """Load the embedder, the lexical index and the vector index now rather than on the first question
        (Chroma reads a collection's vector index on its first search: ~1 s per 100k passages)."""
        vector = self.embedder.encode_queries(["warm up"])[0]
        self.snapshot()
        self.store.query(vector.tolist(), 1)

    def _retrieve(self, search: Query) -> Retrieval:
        query, k = search.text, search.k
        timings = RetrievalTimings()
        snap = self.snapshot()
        if not snap.committed:
            raise EmptyArchiveError(
                f"the archive '{self.settings.collection}' is empty: ingest articles first "
                "(python -m ingest PATH)"
            )
        date_range = search.date_filter or find_date_range(query, search.now)

        t0 = time.perf_counter()
        vector = self.embedder.encode_queries([query])[0]
        t1 = time.perf_counter()
        timings.embed = t1 - t0

        within = _within(date_range)
        dense = self._committed_query(vector, k, within, snap)
        t2 = time.perf_counter()
        timings.dense = t2 - t1

        lexical = snap.index.search(query, k, within.published)
        t3 = time.perf_counter()
        timings.lexical = t3 - t2

        rankings: list[list[str]] = [[p.passage_id for p, _ in dense], [pid for pid, _ in lexical]]
        if date_range is not None and not date_range.strict:
            in_range = [
                p.passage_id
                for p, _ in dense
                if date_range.start <= int(p.metadata.get("published_ts", -1)) < date_range.end
            ]
            rankings.append(in_range)
        fused = _rrf(rankings)

        by_id = {p.passage_id: p for p, _ in dense}
        missing = [pid for pid in fused if pid not in by_id]
        for p in self.store.get_passages(missing[:k]):
            by_id[p.passage_id] = p
        dense_scores = {p.passage_id: s for p, s in dense}
        lexical_scores = dict(lexical)
        hits = [
            Hit(by_id[pid], score, dense_scores.get(pid), lexical_scores.get(pid))
            for pid, score in fused.items()
            if pid in by_id
        ][:k]
        named = tuple(named_sources(query, snap.sources))
        if named:
            hits = self._by_source(vector, named, date_range, snap, lexical, hits, k)
        timings.fuse = time.perf_counter() - t3
        best = max((s for _, s in dense), default=0.0)
        return Retrieval(hits, date_range, best, timings, named)

    def _committed_query(
        self, vector: Any, k: int, within: PassageFilter, snap: _Snapshot
    ) -> list[tuple[StoredPassage, float]]:
        """The nearest committed passages. Passages of an article being ingested (or left by a killed run)
        are not served; when they crowd the nearest k, the search is redone without them."""

        def committed(p: StoredPassage) -> bool:
            return snap.committed.get(p.metadata.get("article_id", "")) == p.metadata.get("content_hash")

        raw = [(p, float(self.embedder.relevance(s))) for p, s in self.store.query(vector, k, within)]
        dense = [(p, s) for p, s in raw if committed(p)]
        pending = sorted({str(p.metadata.get("content_hash", "")) for p, _ in raw if not committed(p)})
        if pending and len(dense) < k:
            again = self.store.query(vector, k, within.excluding(pending))
            dense = [(p, float(self.embedder.relevance(s))) for p, s in again if committed(p)]
        return dense

    def _by_source(
        self,
        vector: Any,
        sources: tuple[str, ...],
        date_range: DateRange | None,
        snap: _Snapshot,
        lexical: list[tuple[str, float]],
        hits: list[Hit],
        k: int,
    ) -> list[Hit]:
        """A question that names sources gets each source's best passages first, in turn, then the rest:
        "Did the Verge article ... while the Wired article ...?" needs evidence from both. Each source is
        searched on its own (dense, within that source, re-ranked with the lexical ranking), so one
        prolific source cannot crowd the other out."""
        lexical_rank = [pid for pid, _ in lexical]
        per_source: list[list[Hit]] = []
        for source in sources:
            within = PassageFilter(_within(date_range).published, source)
            found = self._committed_query(vector, PER_SOURCE_CANDIDATES, within, snap)
            rankings = [[p.passage_id for p, _ in found]]
            ids = set(rankings[0])
            rankings.append([pid for pid in lexical_rank if pid in ids])
            if date_range is not None and not date_range.strict:
                rankings.append(
                    [
                        p.passage_id
                        for p, _ in found
                        if date_range.start <= int(p.metadata.get("published_ts", -1)) < date_range.end
                    ]
                )
            by_id = {p.passage_id: (p, s) for p, s in found}
            per_source.append(
                [Hit(by_id[pid][0], score, by_id[pid][1], None) for pid, score in _rrf(rankings).items()]
            )
        ordered: list[Hit] = []
        seen: set[str] = set()
        for rank in range(PER_SOURCE_FIRST):
            for source_hits in per_source:
                if rank < len(source_hits) and source_hits[rank].passage_id not in seen:
                    ordered.append(source_hits[rank])
                    seen.add(source_hits[rank].passage_id)
        rest = [h for h in hits if h.passage_id not in seen]
        return (ordered + rest)[: max(k, len(ordered))]


def _within(date_range: DateRange | None) -> PassageFilter:
    """The passages a strict date range admits (a loose one, "in 2024", boosts rather than filters)."""
    if date_range is None or not date_range.strict:
        return PassageFilter()
    return PassageFilter(published=(date_range.start, date_range.end))


def _rrf(rankings: list[list[str]]) -> dict[str, float]:
    """Reciprocal rank fusion: sum of 1 / (60 + rank) over the rankings, best first."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, pid in enumerate(ranking, start=1):
            scores[pid] = scores.get(pid, 0.0) + 1.0 / (RRF_K + rank)
    return dict(sorted(scores.items(), key=lambda kv: kv[1], reverse=True))

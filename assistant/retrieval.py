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

import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ingest.embedding import Embedder
from ingest.errors import IngestError, IngestLockedError
from ingest.lexical import LexicalIndex, index_dir, rebuild_lexical_index, saved_at
from ingest.lexical import pending as index_pending
from ingest.pipeline import ingest_lock
from ingest.store import PassageStore, StoredPassage

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
    vectors come from (the engine ranks sentences with it too)."""

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
            if index is None or previous is None:
                index = self._checked(index)
            self._snapshot = _Snapshot(index, index.committed, mtime, index.sources)
            return self._snapshot

    def _checked(self, index: LexicalIndex | None) -> LexicalIndex:
        """The saved index, unless it is missing or damaged, an ingest died before saving it, or the ledger
        moved on without it (an ingest through a shared Chroma server from another data dir): then rebuilt
        from the archive, under the ingest lock. While an ingest runs, its index is awaited, not rebuilt;
        a read-only data dir gets the rebuilt index in a private temporary folder."""

        def current(found: LexicalIndex | None) -> bool:
            return (
                found is not None
                and not index_pending(self._index_dir)
                and found.articles == self.store.article_count()
            )

        if current(index):
            assert index is not None
            return index
        try:
            with ingest_lock(self.settings, wait=False):
                index = LexicalIndex.load(self._index_dir)
                if current(index):
                    assert index is not None
                    return index
                return rebuild_lexical_index(self.store, self._index_dir)
        except IngestLockedError:  # an ingest is under way: it saves the index when it is done
            if index is not None:
                return index
        except IngestError:  # a data dir that cannot hold the lock (read-only)
            pass
        return rebuild_lexical_index(
            self.store, Path(tempfile.mkdtemp(prefix="news-assistant-bm25-")) / "bm25"
        )

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

        where = _published_within(date_range)
        dense = self._committed_query(vector, k, where, snap)
        t2 = time.perf_counter()
        timings.dense = t2 - t1

        within = None
        if date_range is not None and date_range.strict:
            within = (date_range.start, date_range.end)
        lexical = snap.index.search(query, k, within)
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
        self, vector: Any, k: int, where: dict[str, Any] | None, snap: _Snapshot
    ) -> list[tuple[StoredPassage, float]]:
        """The nearest committed passages. Passages of an article being ingested (or left by a killed run)
        are not served; when they crowd the nearest k, the search is redone without them."""

        def committed(p: StoredPassage) -> bool:
            return snap.committed.get(p.metadata.get("article_id", "")) == p.metadata.get("content_hash")

        raw = [(p, float(self.embedder.relevance(s))) for p, s in self.store.query(vector, k, where)]
        dense = [(p, s) for p, s in raw if committed(p)]
        pending = sorted({str(p.metadata.get("content_hash", "")) for p, _ in raw if not committed(p)})
        if pending and len(dense) < k:
            unserved: dict[str, Any] = {"content_hash": {"$nin": pending}}
            again = self.store.query(vector, k, unserved if where is None else {"$and": [where, unserved]})
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
            within = _published_within(date_range)
            where: dict[str, Any] = (
                {"source": source} if within is None else {"$and": [{"source": source}, within]}
            )
            found = self._committed_query(vector, PER_SOURCE_CANDIDATES, where, snap)
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


def _published_within(date_range: DateRange | None) -> dict[str, Any] | None:
    """The Chroma filter of a strict date range (None: no filter)."""
    if date_range is None or not date_range.strict:
        return None
    return {
        "$and": [
            {"published_ts": {"$gte": date_range.start}},
            {"published_ts": {"$lt": date_range.end}},
        ]
    }


def _rrf(rankings: list[list[str]]) -> dict[str, float]:
    """Reciprocal rank fusion: sum of 1 / (60 + rank) over the rankings, best first."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, pid in enumerate(ranking, start=1):
            scores[pid] = scores.get(pid, 0.0) + 1.0 / (RRF_K + rank)
    return dict(sorted(scores.items(), key=lambda kv: kv[1], reverse=True))

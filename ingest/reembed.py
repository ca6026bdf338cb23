"""Move an archive to another embedder: every stored passage re-embedded in place, nothing else touched.

Vectors of two embedders cannot be compared, so while the run is under way the archive records
`re-embedding for <id>` and searches refuse it with a message naming this command; a run that is killed
leaves that record and the next one starts over. Articles, passages, the ledger and the lexical index stay
as they are (the passages' text does not change).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tqdm import tqdm

from .pipeline import ingest_lock
from .settings import ArchiveSettings
from .store import REEMBEDDING, PassageStore, StoredPassage

if TYPE_CHECKING:
    from .embedding import Embedder

_BATCH = 64


@dataclass(frozen=True)
class ReembedReport:
    """What a re-embedding did: the embedder before and after, passages re-embedded, seconds."""

    before: str | None
    after: str
    passages: int
    seconds: float

    def summary(self) -> str:
        if self.before == self.after:
            return f"the archive is already embedded with {self.after}: nothing to do"
        rate = self.passages / self.seconds if self.seconds else 0.0
        return (
            f"re-embedded {self.passages} passages from {self.before or 'nothing'} to {self.after} "
            f"in {self.seconds:.1f} s ({rate:.1f} passages/s)"
        )


def embedding_text(passage: StoredPassage) -> str:
    """What ingest embedded for the passage (`Passage.embedding_text`): its article's title, then its text."""
    return f"{passage.metadata.get('title', '')}\n{passage.text}"


def reembed(
    settings: ArchiveSettings,
    *,
    store: PassageStore | None = None,
    embedder: Embedder | None = None,
    wait: bool = False,
    progress: bool = False,
) -> ReembedReport:
    """Re-embed every passage of the archive with the configured embedder (or `embedder`)."""
    started = time.perf_counter()
    store = store or PassageStore(settings)
    if embedder is None:
        from .embedding import build_embedder

        embedder = build_embedder(settings)
    target = embedder.model_id
    with ingest_lock(settings, wait=wait):
        before = store.vector_space()
        if before == target:
            return ReembedReport(before, target, 0, time.perf_counter() - started)
        if before is not None and before.startswith(REEMBEDDING):
            before = None  # an interrupted run: where it started from is no longer known
        store.record_vector_space(REEMBEDDING + target)
        done = 0
        with tqdm(total=store.count(), desc="re-embedding", unit="passage", disable=not progress) as bar:
            batch: list[StoredPassage] = []
            for passage in store.iter_passages():
                batch.append(passage)
                if len(batch) == _BATCH:
                    done += _update(store, embedder, batch)
                    bar.update(len(batch))
                    batch = []
            done += _update(store, embedder, batch)
            bar.update(len(batch))
        store.record_vector_space(target)
    return ReembedReport(before, target, done, time.perf_counter() - started)


def _update(store: PassageStore, embedder: Embedder, batch: list[StoredPassage]) -> int:
    if batch:
        vectors = embedder.encode([embedding_text(p) for p in batch])
        store.update_vectors([p.passage_id for p in batch], vectors)
    return len(batch)

"""Ingest: files -> articles -> passages -> embeddings -> Chroma, incrementally and crash-safely.

What to write, skip and forget is decided first (`ingest.plan`); then the passages to write are embedded in
batches of about `_BATCH_PASSAGES`, a big article spread over as many batches as it needs. Each batch's
passages are written as soon as they are embedded (ids carry the content hash, so re-writing them is
idempotent); the batch that holds an article's last passages then removes that article's other passages
and writes its ledger entry (the commit point). Retrieval serves only passages of committed versions, so
a run killed anywhere leaves either the old committed version or nothing served for each article, plus
uncommitted passages that the next run overwrites or removes when it completes the job.
One ingest at a time per data dir (a file lock).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from .articles import Article
from .errors import IngestError, IngestLockedError, ReadError
from .lexical import (
    ArticlePassages,
    index_dir,
    mark_pending,
    pending,
    rebuild_lexical_index,
    update_lexical_index,
)
from .passages import Passage, PassageSplitter, Split, published_ts
from .plan import Leaving, Plan, ReadArticle, make_plan, pruned
from .readers import FoundFile, printable, read_file, scan_paths
from .settings import ArchiveSettings
from .store import ArticleRecord, PassageStore

if TYPE_CHECKING:
    from .embedding import Embedder

_BATCH_PASSAGES = 256


@dataclass
class IngestReport:
    """What one ingest run did."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    pruned: int = 0
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (origin, origin it duplicates)
    held_by: dict[str, str] = field(default_factory=dict)  # origin of a copy -> id of the article kept
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file or record, reason)
    passages_written: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        rate = self.passages_written / self.seconds if self.seconds else 0.0
        parts = [
            f"{self.new} new",
            f"{self.changed} changed",
            f"{self.unchanged} unchanged",
            f"{len(self.failed)} failed",
        ]
        if self.duplicates:
            parts.append(f"{len(self.duplicates)} duplicate")
        if self.pruned:
            parts.append(f"{self.pruned} pruned")
        return (
            f"articles: {', '.join(parts)}; passages written: {self.passages_written} "
            f"in {self.seconds:.1f} s ({rate:.1f} passages/s)"
        )


@contextmanager
def ingest_lock(settings: ArchiveSettings, wait: bool = False) -> Iterator[None]:
    """Hold the data dir's ingest lock; a second ingest waits (wait=True) or fails with a clear message."""
    path = settings.state_dir / "ingest.lock"
    try:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")  # noqa: SIM115 - closed by the `with` below
    except OSError as exc:
        raise _unusable_data_dir(settings, exc) from exc
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise IngestLockedError(
                f"another ingest ({holder}) is writing to {settings.data_dir} / {settings.collection}; "
                "wait for it to finish or pass --wait"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def _unusable_data_dir(settings: ArchiveSettings, exc: OSError) -> IngestError:
    """One line a user can act on, for a data dir that is a file, lies under a file, or cannot be written."""
    existing = next((p for p in (settings.state_dir, *settings.state_dir.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        why = f"{existing} is a file, not a folder"
    else:
        why = f"cannot write {exc.filename or settings.state_dir}: {exc.strerror or exc}"
    return IngestError(
        f"the data dir {settings.data_dir} cannot be used ({why}); "
        "point ASSISTANT_DATA_DIR (--data-dir) at a writable folder"
    )


def ingest_paths(
    paths: Sequence[Path | str],
    settings: ArchiveSettings,
    *,
    prune: bool = False,
    wait: bool = False,
    progress: bool = False,
    store: PassageStore | None = None,
    embedder: Embedder | None = None,
) -> IngestReport:
    """Ingest files and folders of articles into the archive the settings name."""
    started = time.perf_counter()
    store = store or PassageStore(settings)
    report = IngestReport()
    with ingest_lock(settings, wait=wait):
        try:
            files = scan_paths(Path(p) for p in paths)
        except ReadError as exc:
            raise IngestError(str(exc)) from exc
        read, read_whole = _read_all(files, settings, report, progress)
        ledger = store.articles() if prune else _ledger_of(store, read)  # pruning looks at every entry
        gone: Leaving = set()
        if prune:
            seen = {r.article.article_id for r in read} | {r.legacy_id for r in read}
            gone = pruned(ledger, files, read_whole, [Path(p) for p in paths], seen)
        _store(read, ledger, gone, settings, store, embedder, report, progress)
        if prune and not settings.chroma_host:  # a server may have other machines' ingests under way
            _drop_leftovers(store)
    report.seconds = time.perf_counter() - started
    return report


def store_articles(
    read: Sequence[ReadArticle],
    settings: ArchiveSettings,
    *,
    forget: Collection[tuple[str, str]] = frozenset(),
    report: IngestReport | None = None,
    progress: bool = False,
    store: PassageStore | None = None,
    embedder: Embedder | None = None,
) -> IngestReport:
    """Plan, embed and commit articles read elsewhere (feeds and pages: `ingest.sync`), then let go of the
    (ledger id, origin) pairs in `forget` (pruned items), as `ingest_paths` does for files. The caller
    holds the ingest lock. Nothing is opened when there is nothing to do."""
    report = report if report is not None else IngestReport()
    if not read and not forget:
        return report
    store = store or PassageStore(settings)
    ledger = store.articles() if forget else _ledger_of(store, read)
    _store(read, ledger, {p for p in forget if p[0] in ledger}, settings, store, embedder, report, progress)
    return report


def _ledger_of(store: PassageStore, read: Sequence[ReadArticle]) -> dict[str, ArticleRecord]:
    """The ledger entries of the articles read (by id, legacy id, content hash and copy key): the cost
    of the change, not of the archive."""
    return store.articles_matching(
        [x for r in read for x in (r.article.article_id, r.legacy_id)],
        [r.article.content_hash for r in read],
        [key for r in read for key in r.article.copy_keys().values()],
    )


def _store(
    read: Sequence[ReadArticle],
    ledger: dict[str, ArticleRecord],
    gone: Leaving,
    settings: ArchiveSettings,
    store: PassageStore,
    embedder: Embedder | None,
    report: IngestReport,
    progress: bool,
) -> None:
    """Plan against `ledger`, embed and commit what is new or changed, record copies beside their
    articles, forget what nothing holds any more (what it replaces, what `gone` lets go of), and bring
    the lexical index along (the one path of files, feeds and pages)."""
    with tqdm(desc="splitting", unit="article", disable=not progress, leave=False) as bar:
        plan = make_plan(list(read), ledger, gone, _splitter(settings, bar))
    _count(plan, report)
    lexical = index_dir(settings)
    repair = pending(lexical)  # an earlier run changed the archive and died before saving the index
    changes = bool(plan.write or plan.retire or plan.rehome)
    if changes:
        mark_pending(lexical)
    feed = _LexicalFeed(lexical, usable=not repair)
    if plan.write:
        if embedder is None:
            from .embedding import build_embedder

            embedder = build_embedder(settings)
        _write(plan.write, store, embedder, report, progress, feed)
    if plan.rehome:
        store.rehome(plan.rehome)
    for article_id in plan.retire:  # only once what replaces them is committed
        store.forget_article(article_id)
    report.pruned += plan.pruned
    if changes or repair:
        feed.finish(store, list(plan.retire))


class _LexicalFeed:
    """The lexical index brought along batch by batch: each batch's committed articles are added (their
    older versions deleted) on the writer thread while the next batch is embedded; the end of the run
    deletes what was retired or forgotten and clears the pending mark, or rebuilds the index when it is
    missing or damaged, or when an earlier run died before saving it (the mark stays set until then, so a
    run killed half-way is repaired by the next)."""

    def __init__(self, directory: Path, usable: bool) -> None:
        self.directory = directory
        self.usable = usable

    def add(self, pieces: list[_Piece]) -> None:
        if not self.usable or not pieces:
            return
        added = [
            ArticlePassages(
                piece.article.article_id,
                piece.article.content_hash,
                piece.article.source,
                [
                    (p.passage_id, p.embedding_text(), published_ts(piece.article.published))
                    for p in piece.every
                ],
            )
            for piece in pieces
        ]
        self.usable = update_lexical_index(self.directory, added) is not None
        mark_pending(self.directory)  # the update cleared it; the run is not over

    def finish(self, store: PassageStore, removed: list[str]) -> None:
        updated = update_lexical_index(self.directory, [], removed) if self.usable else None
        if updated is None:
            rebuild_lexical_index(store, self.directory)


def _read_all(
    files: list[FoundFile], settings: ArchiveSettings, report: IngestReport, progress: bool
) -> tuple[list[ReadArticle], set[str]]:
    """The articles of every readable file, and the origins of the files read whole."""
    max_bytes = int(settings.max_file_mb * 1024 * 1024)
    read: list[ReadArticle] = []
    read_whole: set[str] = set()
    for found in tqdm(files, desc="reading", unit="file", disable=not progress, leave=False):
        name = printable(found.path)
        try:
            result = read_file(found.path, found.origin, max_bytes)
        except ReadError as exc:
            report.failed.append((name, str(exc)))
            continue
        except OSError as exc:
            report.failed.append((name, f"cannot read: {exc.strerror or exc}"))
            continue
        for article in result.articles:  # origin: the file's, plus `#<position>` in a file of several
            read.append(ReadArticle(article, found.legacy_origin + article.origin[len(found.origin) :]))
        report.failed.extend((name, problem) for problem in result.problems)
        if not result.problems:
            read_whole.add(found.origin)
    return read, read_whole


def _splitter(settings: ArchiveSettings, bar: tqdm[Any]) -> Callable[[Article], Split]:
    """Split articles, building the splitter (a llama-index import) only if an article needs splitting.
    (A 1 MB article takes some 10 s to split: the bar says what is going on meanwhile.)"""
    made: list[PassageSplitter] = []

    def split(article: Article) -> Split:
        if not made:
            made.append(PassageSplitter(settings.chunk_tokens, settings.chunk_overlap))
        parts = made[0].split_article(article)
        bar.update(1)
        return parts

    return split


def _count(plan: Plan, report: IngestReport) -> None:
    report.new += plan.new
    report.changed += plan.changed
    report.unchanged += plan.unchanged
    report.duplicates.extend(plan.duplicates)
    report.held_by.update(plan.held_by)
    report.failed.extend(plan.failed)


def _write(
    articles: list[tuple[Article, list[Passage]]],
    store: PassageStore,
    embedder: Embedder,
    report: IngestReport,
    progress: bool,
    lexical: _LexicalFeed | None = None,
) -> None:
    """Embed batch after batch; each batch's Chroma writes (and its committed articles' lexical index
    update) run on a writer thread while the next batch is embedded (the embedder keeps the cores busy; the
    writes mostly wait on Chroma and Tantivy). One write is in flight at a time and batches are written in
    order, so the commit order is unchanged; a failed write stops the run before the next batch is
    submitted. The progress bar moves with every batch."""
    if store.vector_space() is None:  # an empty archive takes the embedder's space
        store.record_vector_space(embedder.model_id)
    store.check_vector_space(embedder.model_id)
    total = sum(len(passages) for _, passages in articles)
    bar = tqdm(total=total, desc="embedding", unit="passage", disable=not progress)
    pending: Future[None] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer") as writer:
        try:
            for batch in _batches(articles, _BATCH_PASSAGES):
                passages = [p for piece in batch for p in piece.passages]
                t0 = time.perf_counter()
                vectors = embedder.encode([p.embedding_text() for p in passages])
                report.embed_seconds += time.perf_counter() - t0
                if pending is not None:
                    pending.result()  # the previous batch is written (or its error raised) first
                pending = writer.submit(_write_batch, store, batch, passages, vectors, lexical)
                report.passages_written += len(passages)
                bar.update(len(passages))
            if pending is not None:
                pending.result()
        finally:
            bar.close()


@dataclass(frozen=True)
class _Piece:
    """An article's share of one embedding batch; the share holding its last passages commits it."""

    article: Article
    passages: list[Passage]  # this batch's share
    every: list[Passage]  # all the article's passages
    last: bool


def _batches(articles: list[tuple[Article, list[Passage]]], size: int) -> Iterator[list[_Piece]]:
    """Batches of `size` passages (the last one smaller), an article spread over as many as it needs."""
    batch: list[_Piece] = []
    room = size
    for article, passages in articles:
        start = 0
        while True:
            share = passages[start : start + room]
            start += len(share)
            last = start >= len(passages)
            batch.append(_Piece(article, share, passages, last))
            room -= len(share)
            if room <= 0:
                yield batch
                batch, room = [], size
            if last:
                break
    if batch:
        yield batch


def _write_batch(
    store: PassageStore,
    batch: list[_Piece],
    passages: list[Passage],
    vectors: np.ndarray,
    lexical: _LexicalFeed | None = None,
) -> None:
    """The batch's passages first; then, for the articles whose last passages it holds, their other
    passages (older versions, leftovers of an interrupted run) go and their ledger entries commit them: a
    few Chroma calls per batch, not three per article. Until its commit an article's new passages are
    stored but never served."""
    store.upsert_passages(
        [p.passage_id for p in passages],
        vectors,
        [p.text for p in passages],
        [p.metadata() for p in passages],
    )
    done = [piece for piece in batch if piece.last]
    if not done:
        return
    keep = {p.passage_id for piece in done for p in piece.every}
    stored = store.passage_ids_by_article([piece.article.article_id for piece in done])
    store.delete_passages([pid for ids in stored.values() for pid in ids if pid not in keep])
    store.commit_articles([article_record(piece.article, len(piece.every)) for piece in done])
    if lexical is not None:
        lexical.add(done)


def _drop_leftovers(store: PassageStore) -> None:
    """Remove passages that no committed article version owns: those a killed run wrote for an article
    that no later run completed (its file is gone). Never served, but they take room in every dense search.
    One pass over the archive, so only pruning runs do it, and only on the embedded store, where the
    ingest lock rules out another run's passages in flight."""
    committed = {aid: record.content_hash for aid, record in store.articles().items()}
    store.delete_passages(
        [
            p.passage_id
            for p in store.iter_passages()
            if committed.get(str(p.metadata.get("article_id", ""))) != p.metadata.get("content_hash")
        ]
    )


def article_record(article: Article, passages: int) -> ArticleRecord:
    """The ledger entry that commits an article with its passage count."""
    return ArticleRecord(
        article_id=article.article_id,
        content_hash=article.content_hash,
        title=article.title,
        published=article.published or "",
        published_ts=published_ts(article.published),
        source=article.source,
        url=article.url,
        origin=article.origin,
        passages=passages,
        also_in=article.also_in,
        **article.copy_keys(),
    )

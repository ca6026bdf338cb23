"""Ingest: files -> articles -> passages -> embeddings -> Chroma, incrementally and crash-safely.

Per batch of articles the order of writes is: passages of the new versions (ids carry the content
hash, so re-writing them is idempotent), then removal of those articles' other passages, then their
ledger entries (the commit point). A run killed anywhere leaves either the old committed version or
nothing served for each article; the next run finishes the job.
One ingest at a time per data dir (a file lock).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from assistant.errors import IngestError, IngestLockedError
from assistant.lexical import rebuild_lexical_index
from assistant.settings import Settings
from assistant.store import ArticleRecord, PassageStore

from .articles import Article
from .passages import Passage, PassageSplitter, published_ts
from .readers import ReadError, find_files, read_file

if TYPE_CHECKING:
    from assistant.embedding import Embedder

_BATCH_PASSAGES = 256


@dataclass
class IngestReport:
    """What one ingest run did."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    pruned: int = 0
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (origin, origin it duplicates)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file or record, reason)
    passages_written: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def articles_seen(self) -> int:
        return self.new + self.changed + self.unchanged + len(self.duplicates)

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
def ingest_lock(settings: Settings, wait: bool = False) -> Iterator[None]:
    """Hold the data dir's ingest lock; a second ingest waits (wait=True) or fails with a clear message."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    path = settings.state_dir / "ingest.lock"
    with open(path, "a+") as handle:
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


def ingest_paths(
    paths: Sequence[Path | str],
    settings: Settings,
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
            files = find_files(Path(p) for p in paths)
        except ReadError as exc:
            raise IngestError(str(exc)) from exc
        articles, read_ok = _read_all(files, settings, report, progress)
        committed = store.articles([a.article_id for a in articles])
        todo = _classify(articles, committed, report)
        if todo:
            if embedder is None:
                from assistant.embedding import build_embedder

                embedder = build_embedder(settings)
            _write(todo, settings, store, embedder, report, progress)
        if prune:
            report.pruned = _prune(files, read_ok, paths, articles, store)
        if todo or report.pruned:
            rebuild_lexical_index(store, settings.state_dir / "bm25")
    report.seconds = time.perf_counter() - started
    return report


def _read_all(
    files: list[tuple[Path, str]], settings: Settings, report: IngestReport, progress: bool
) -> tuple[list[Article], set[str]]:
    """The articles of every readable file, and the origins of the files read whole."""
    max_bytes = int(settings.max_file_mb * 1024 * 1024)
    articles: list[Article] = []
    read_ok: set[str] = set()
    for path, origin in tqdm(files, desc="reading", unit="file", disable=not progress, leave=False):
        try:
            result = read_file(path, origin, max_bytes)
        except ReadError as exc:
            report.failed.append((str(path), str(exc)))
            continue
        except OSError as exc:
            report.failed.append((str(path), f"cannot read: {exc.strerror or exc}"))
            continue
        articles.extend(result.articles)
        report.failed.extend((str(path), problem) for problem in result.problems)
        if not result.problems:
            read_ok.add(origin)
    return articles, read_ok


def _classify(
    articles: list[Article], committed: dict[str, ArticleRecord], report: IngestReport
) -> list[Article]:
    """Split the articles read into unchanged, duplicates and the ones to write (new or changed)."""
    todo: list[Article] = []
    by_hash = {rec.content_hash: rec.origin for rec in committed.values()}
    seen_ids: set[str] = set()
    for article in articles:
        if article.article_id in seen_ids:
            continue
        seen_ids.add(article.article_id)
        record = committed.get(article.article_id)
        if record is not None and record.content_hash == article.content_hash:
            report.unchanged += 1
            continue
        twin = by_hash.get(article.content_hash)
        if twin is not None and twin != article.origin:
            report.duplicates.append((article.origin, twin))
            continue
        by_hash[article.content_hash] = article.origin
        if record is None:
            report.new += 1
        else:
            report.changed += 1
        todo.append(article)
    return todo


def _write(
    articles: list[Article],
    settings: Settings,
    store: PassageStore,
    embedder: Embedder,
    report: IngestReport,
    progress: bool,
) -> None:
    """Embed group after group of whole articles; each group's Chroma writes run on a writer thread while
    the next group is embedded (the embedder keeps the cores busy; the writes mostly wait on Chroma). One
    write is in flight at a time and groups are written in order, so the commit order is unchanged; a
    failed write stops the run before the next group is submitted."""
    splitter = PassageSplitter(settings.chunk_tokens, settings.chunk_overlap)
    split = [(article, splitter.split(article)) for article in articles]
    total = sum(len(passages) for _, passages in split)
    bar = tqdm(total=total, desc="embedding", unit="passage", disable=not progress)
    pending: Future[None] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer") as writer:
        try:
            for group in _groups(split, _BATCH_PASSAGES):
                passages = [p for _, ps in group for p in ps]
                t0 = time.perf_counter()
                vectors = embedder.encode([p.embedding_text() for p in passages])
                report.embed_seconds += time.perf_counter() - t0
                if pending is not None:
                    pending.result()  # the previous group is committed (or its error raised) first
                pending = writer.submit(_write_group, store, group, passages, vectors)
                report.passages_written += len(passages)
                bar.update(len(passages))
            if pending is not None:
                pending.result()
        finally:
            bar.close()


def _write_group(
    store: PassageStore,
    group: list[tuple[Article, list[Passage]]],
    passages: list[Passage],
    vectors: np.ndarray,
) -> None:
    """Passages first, then the passages of older versions (or of an interrupted run) go, then the ledger
    entries commit the group: a few Chroma calls per group, not three per article."""
    store.upsert_passages(
        [p.passage_id for p in passages],
        vectors,
        [p.text for p in passages],
        [p.metadata() for p in passages],
    )
    keep = {p.passage_id for p in passages}
    stored = store.passage_ids_by_article([a.article_id for a, _ in group])
    store.delete_passages([pid for ids in stored.values() for pid in ids if pid not in keep])
    store.commit_articles([article_record(a, len(ps)) for a, ps in group])


def _groups(
    split: list[tuple[Article, list[Passage]]], size: int
) -> Iterator[list[tuple[Article, list[Passage]]]]:
    """Whole articles, batched so each embedding call sees about `size` passages."""
    group: list[tuple[Article, list[Passage]]] = []
    count = 0
    for item in split:
        group.append(item)
        count += len(item[1])
        if count >= size:
            yield group
            group, count = [], 0
    if group:
        yield group


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
    )


def _prune(
    files: list[tuple[Path, str]],
    read_ok: set[str],
    roots: Sequence[Path | str],
    articles: list[Article],
    store: PassageStore,
) -> int:
    """Forget committed articles from the scanned roots whose file is gone, or whose file was read whole
    this time without them. A file that failed to read keeps its articles."""
    prefixes = _origin_prefixes(roots)
    seen = {a.article_id for a in articles}
    found = {origin for _, origin in files}
    gone = 0
    for record in store.articles().values():
        file_origin = record.origin.split("#", 1)[0]
        if record.article_id in seen or not any(file_origin.startswith(p) for p in prefixes):
            continue
        if file_origin in found and file_origin not in read_ok:
            continue
        store.forget_article(record.article_id)
        gone += 1
    return gone


def _origin_prefixes(roots: Iterable[Path | str]) -> list[str]:
    out = []
    for root in roots:
        path = Path(root).resolve()
        out.append(f"{path.name}/" if path.is_dir() else f"{path.parent.name}/{path.name}")
    return out

"""Feeds and pages kept in step with the archive: `sync_sources` polls URLs once, `watch` every N seconds.

One sync:
1. Every source is fetched, at most `ASSISTANT_FEED_CONCURRENCY` at a time, with the ETag / Last-Modified
   of its last complete fetch: an unchanged feed costs one request answered 304. A source that fails is
   reported by URL with the reason; the others go on.
2. Of a feed that changed, items whose fingerprint is the one stored cost nothing more; each other item
   (up to `ASSISTANT_FEED_MAX_ITEMS`) has its page fetched and its text extracted, or the item's own
   content when the page cannot be had (`ingest.feeds`). A page URL is one article.
3. Under the ingest lock the pipeline plans, embeds and commits them (`ingest.plan`: unchanged text is
   skipped by content hash, a changed item has its passages replaced, a copy of an archived article is
   skipped). Items that left their feed stay in the archive; with `prune`, the items of these feeds that
   the feed no longer listed at its last fetch are forgotten (other feeds and files are never touched).
4. Only then `ingest.feedstate` records validators and fingerprints. A source with an item that failed
   keeps no validators, so its next poll fetches it again: a crash or a failure costs a refetch, never
   an item.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from .articles import Article
from .errors import FetchError, IngestError
from .feeds import Feed, item_article, item_origin, looks_like_feed, normalise_url, page_article, parse_feed
from .feedstate import FeedState, ItemRecord, SourceRecord
from .pipeline import IngestReport, ingest_lock, store_articles
from .plan import ReadArticle
from .readers import ReadError
from .settings import ArchiveSettings
from .web import Fetcher, is_web_url

if TYPE_CHECKING:
    from .embedding import Embedder
    from .store import PassageStore

__all__ = ["SourceOutcome", "SyncReport", "feed_state", "read_feeds_file", "sync_sources", "watch"]


@dataclass
class SourceOutcome:
    """What fetching one feed or page gave."""

    url: str
    status: str  # "fetched", "not modified", "failed"
    kind: str = ""  # "feed" or "page"
    title: str = ""
    error: str = ""
    validators: tuple[str | None, str | None] = (None, None)  # ETag, Last-Modified
    read: list[tuple[Article, str, str]] = field(default_factory=list)  # (article, item key, fingerprint)
    listed: set[str] = field(default_factory=set)  # the item keys the source lists now
    items_unchanged: int = 0  # items skipped without a request: same fingerprint as stored
    items_failed: list[tuple[str, str]] = field(default_factory=list)  # (origin, reason)
    fallbacks: list[tuple[str, str]] = field(default_factory=list)  # (origin, why the page was not used)
    requests: int = 0


@dataclass
class SyncReport:
    """What one sync did: the archive's side (`ingest`) and each source's."""

    ingest: IngestReport
    sources: list[SourceOutcome]
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.ingest.ok

    @property
    def requests(self) -> int:
        return sum(o.requests for o in self.sources)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.sources)

    def summary(self) -> str:
        items = sum(len(o.read) for o in self.sources)
        skipped = sum(o.items_unchanged for o in self.sources)
        fallbacks = sum(len(o.fallbacks) for o in self.sources)
        text = (
            f"sources: {self.count('fetched')} fetched, {self.count('not modified')} not modified, "
            f"{self.count('failed')} failed ({self.requests} requests in {self.seconds:.1f} s); "
            f"items read: {items}, unchanged since the last fetch: {skipped}"
        )
        if fallbacks:
            text += f", read from the feed because the page could not be: {fallbacks}"
        return text + "\n" + self.ingest.summary()


def feed_state(settings: ArchiveSettings) -> FeedState:
    """The feeds' state file of the archive the settings name."""
    path = settings.state_dir / "feeds.sqlite3"
    try:
        return FeedState(path)
    except (OSError, sqlite3.Error) as exc:
        raise IngestError(
            f"the feeds' state {path} cannot be used ({exc}); point ASSISTANT_DATA_DIR at a writable folder"
        ) from exc


def read_feeds_file(path: Path) -> list[str]:
    """The URLs of a feeds file: one a line; blank lines and `#` comments (whole lines, or after a space)
    are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise IngestError(f"cannot read the feeds file {path}: {exc}") from exc
    urls: list[str] = []
    for number, line in enumerate(lines, start=1):
        text = line.split(" #", 1)[0].split("\t#", 1)[0].strip()
        if not text or text.startswith("#"):
            continue
        if not is_web_url(text):
            raise IngestError(f"{path}, line {number}: {text!r} is not an http:// or https:// URL")
        urls.append(text)
    return urls


def sync_sources(
    urls: Sequence[str],
    settings: ArchiveSettings,
    *,
    prune: bool = False,
    wait: bool = False,
    progress: bool = False,
    store: PassageStore | None = None,
    embedder: Embedder | None = None,
    fetcher: Fetcher | None = None,
) -> SyncReport:
    """Poll each feed or page URL once and bring the archive up to date (see the module docstring)."""
    started = time.perf_counter()
    urls = list(dict.fromkeys(normalise_url(u) for u in urls))
    state = feed_state(settings)
    known = state.sources(urls)
    stored = {url: state.items(url) for url in urls}
    web = fetcher or Fetcher(settings)
    try:
        outcomes = _fetch_all(web, urls, known, stored, settings, progress)
    finally:
        if fetcher is None:
            web.close()
    report = IngestReport()
    for outcome in outcomes:
        if outcome.status == "failed":
            report.failed.append((outcome.url, outcome.error))
        report.failed.extend(outcome.items_failed)
    leaving = _leaving(outcomes, stored) if prune else {}
    forget = {stored[url][key].article_id for url, keys in leaving.items() for key in keys}
    read = [ReadArticle(article, article.origin) for o in outcomes for article, _, _ in o.read]
    with ingest_lock(settings, wait=wait):
        store_articles(
            read, settings, forget=forget, report=report, progress=progress, store=store, embedder=embedder
        )
        _remember(state, outcomes, leaving, {origin for origin, _ in report.failed})
    report.seconds = time.perf_counter() - started
    return SyncReport(report, outcomes, report.seconds)


def watch(
    urls: Sequence[str],
    settings: ArchiveSettings,
    interval: float,
    *,
    on_report: Callable[[SyncReport], None],
    prune: bool = False,
    progress: bool = False,
    rounds: int | None = None,
    stop: threading.Event | None = None,
    store: PassageStore | None = None,
    embedder: Embedder | None = None,
    fetcher: Fetcher | None = None,
) -> SyncReport | None:
    """Sync every `interval` seconds (from the start of one round to the next) until `stop` is set or
    `rounds` are done; each round's report goes to `on_report`. A round waits for another ingest rather
    than failing. Returns the last round's report."""
    from .embedding import build_embedder

    stop = stop or threading.Event()
    embedder = embedder or build_embedder(settings)  # loaded at the first article, then kept
    last: SyncReport | None = None
    done = 0
    while not stop.is_set():
        began = time.monotonic()
        last = sync_sources(
            urls,
            settings,
            prune=prune,
            wait=True,
            progress=progress,
            store=store,
            embedder=embedder,
            fetcher=fetcher,
        )
        on_report(last)
        done += 1
        if rounds is not None and done >= rounds:
            break
        stop.wait(max(0.0, interval - (time.monotonic() - began)))
    return last


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _fetch_all(
    web: Fetcher,
    urls: list[str],
    known: dict[str, SourceRecord],
    stored: dict[str, dict[str, ItemRecord]],
    settings: ArchiveSettings,
    progress: bool,
) -> list[SourceOutcome]:
    """Every source fetched on a small thread pool; outcomes in the order of `urls`."""
    outcomes: dict[str, SourceOutcome] = {}
    bar = tqdm(total=len(urls), desc="fetching", unit="source", disable=not progress)
    with bar, ThreadPoolExecutor(settings.feed_concurrency, thread_name_prefix="feed") as pool:
        futures = {
            pool.submit(_fetch_source, web, url, known.get(url), stored[url], settings.feed_max_items): url
            for url in urls
        }
        for future in as_completed(futures):
            outcome = future.result()
            outcomes[outcome.url] = outcome
            bar.update(1)
    return [outcomes[url] for url in urls]


def _fetch_source(
    web: Fetcher, url: str, known: SourceRecord | None, stored: dict[str, ItemRecord], max_items: int
) -> SourceOutcome:
    """One source; never raises for a failure of its own (the others must go on): it is the outcome's
    `error`. A bug is reported the same way, by its type, rather than stopping every other feed."""
    outcome = SourceOutcome(url, "failed")
    try:
        etag = known.etag if known is not None else None
        last_modified = known.last_modified if known is not None else None
        outcome.requests += 1
        response = web.get(url, etag=etag, last_modified=last_modified)
        if response.not_modified:
            assert known is not None  # a 304 answers only a conditional request
            outcome.status, outcome.kind, outcome.title = "not modified", known.kind, known.title
            return outcome
        outcome.validators = (response.etag, response.last_modified)
        if looks_like_feed(response.content_type, response.body):
            feed = parse_feed(url, response.body, response.content_type)
            _read_items(web, url, feed, stored, max_items, outcome)
            outcome.kind, outcome.title = "feed", feed.title
        else:
            article = page_article(response.text(), url, response.url)
            outcome.read.append((article, "", article.content_hash))
            outcome.listed = {""}
            outcome.kind, outcome.title = "page", article.title
        outcome.status = "fetched"
    except FetchError as exc:
        outcome.error = exc.reason
    except ReadError as exc:
        outcome.error = str(exc)
    except Exception as exc:  # one source's surprise must not stop the others
        outcome.error = f"unexpected error ({type(exc).__name__}: {exc})"
    return outcome


def _read_items(
    web: Fetcher,
    feed_url: str,
    feed: Feed,
    stored: dict[str, ItemRecord],
    max_items: int,
    outcome: SourceOutcome,
) -> None:
    outcome.listed = {entry.key for entry in feed.entries}
    for entry in feed.entries[:max_items]:
        known = stored.get(entry.key)
        if known is not None and known.fingerprint == entry.fingerprint:
            outcome.items_unchanged += 1
            continue
        origin = item_origin(feed_url, entry.key)
        page: Article | None = None
        why = "the item has no link"
        if entry.link:
            outcome.requests += 1
            try:
                fetched = web.get(entry.link)
                page = page_article(fetched.text(), origin, fetched.url)
            except FetchError as exc:
                why = f"{entry.link}: {exc.reason}"
            except ReadError as exc:
                why = f"{entry.link}: {exc}"
        article = item_article(feed_url, feed, entry, page)
        if article is None:
            outcome.items_failed.append((origin, f"no text: {why}, and the item has no content or summary"))
            continue
        if page is None:
            outcome.fallbacks.append((origin, why))
        outcome.read.append((article, entry.key, entry.fingerprint))


def _leaving(outcomes: list[SourceOutcome], stored: dict[str, dict[str, ItemRecord]]) -> dict[str, set[str]]:
    """Per source polled successfully, the keys of its stored items it no longer lists (as fetched now,
    or as at its last complete fetch when it answered 304)."""
    out: dict[str, set[str]] = {}
    for o in outcomes:
        items = stored[o.url]
        if o.status == "fetched":
            out[o.url] = {key for key in items if key not in o.listed}
        elif o.status == "not modified":
            out[o.url] = {key for key, item in items.items() if not item.present}
    return {url: keys for url, keys in out.items() if keys}


def _remember(
    state: FeedState, outcomes: list[SourceOutcome], leaving: dict[str, set[str]], failed: set[str]
) -> None:
    """Record what was stored: the items committed (or skipped as copies) with their fingerprints, the
    validators of sources whose every item went in, the failures, the items pruned."""
    when = _now()
    state.record_not_modified([o.url for o in outcomes if o.status == "not modified"], when)
    for o in outcomes:
        if o.status == "failed":
            state.record_failure(o.url, o.error, when)
        elif o.status == "fetched":
            kept = [
                ItemRecord(key, article.article_id, fingerprint, True)
                for article, key, fingerprint in o.read
                if article.origin not in failed
            ]
            complete = len(kept) == len(o.read) and not o.items_failed
            problems = "; ".join(reason for _, reason in o.items_failed[:3])
            state.record_fetch(
                o.url,
                kind=o.kind,
                title=o.title,
                validators=o.validators if complete else (None, None),
                stored=kept,
                listed=o.listed,
                when=when,
                error=f"some items failed: {problems}" if problems else "",
            )
        if o.url in leaving:
            state.drop_items(o.url, leaving[o.url])

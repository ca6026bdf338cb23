"""Feeds and pages kept in step with the archive: `sync_sources` polls URLs once, `watch` every N seconds.

One sync:
1. Every source is fetched, at most `ASSISTANT_FEED_CONCURRENCY` sources in progress at once, with the
   ETag / Last-Modified of its last complete fetch: an unchanged feed costs one request answered 304. A
   source that fails is reported by URL with the reason; the others go on.
2. Of a feed that changed, items whose fingerprint is the one stored cost nothing more; each other item
   (up to `ASSISTANT_FEED_MAX_ITEMS`) has its page fetched and its text extracted, or the item's own
   content when the page cannot be had (`ingest.feeds`). Pages are fetched in parallel on a `HostPool`:
   at most `ASSISTANT_FETCH_CONCURRENCY` requests at once, `ASSISTANT_FETCH_PER_HOST` per server, so ten
   slow pages cost about what the slowest few cost, and a slow server holds up only its own pages. Every
   request obeys the address policy and its deadline (`ingest.web`). A page URL is one article.
3. The whole fetch has a budget (`ASSISTANT_FEED_BUDGET` seconds): no request outlives it, and what is not
   fetched by then is skipped and reported; a source with skipped items keeps no validators, so the next
   poll fetches them.
4. Under the ingest lock the pipeline plans, embeds and commits them (`ingest.plan`: unchanged text is
   skipped by content hash, a changed item has its passages replaced, a copy of an archived article is
   recorded beside it). Items that left their feed stay in the archive; with `prune`, the items of these
   feeds that the feed no longer listed at its last fetch are forgotten (other feeds and files are never
   touched).
5. Only then `ingest.feedstate` records validators and fingerprints. A source with an item that failed
   keeps no validators, so its next poll fetches it again: a crash or a failure costs a refetch, never
   an item.

`on_progress(url, stage, done, total)` hears each source's progress ("fetching" n of m items, then
"storing"), for a UI to show.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from .articles import Article
from .errors import FetchError, FetchTimeoutError, IngestError
from .feeds import (
    Entry,
    Feed,
    item_article,
    item_origin,
    looks_like_feed,
    normalise_url,
    page_article,
    parse_feed,
)
from .feedstate import FeedState, ItemRecord, SourceRecord
from .fetchpool import HostPool
from .pipeline import IngestReport, ingest_lock, store_articles
from .plan import ReadArticle
from .readers import ReadError
from .settings import ArchiveSettings
from .web import Fetcher, Response, is_web_url, server_of

if TYPE_CHECKING:
    from .embedding import Embedder
    from .store import PassageStore

__all__ = [
    "Progress",
    "SourceOutcome",
    "SyncReport",
    "feed_state",
    "read_feeds_file",
    "sync_sources",
    "watch",
]

Progress = Callable[[str, str, int, int], None]  # (source URL, "fetching" | "storing", done, total)


@dataclass
class SourceOutcome:
    """What fetching one feed or page gave."""

    url: str
    status: str  # "fetched", "not modified", "failed", "skipped" (the budget ran out before it started)
    kind: str = ""  # "feed" or "page"
    title: str = ""
    error: str = ""
    validators: tuple[str | None, str | None] = (None, None)  # ETag, Last-Modified
    read: list[tuple[Article, str, str]] = field(default_factory=list)  # (article, item key, fingerprint)
    listed: set[str] = field(default_factory=set)  # the item keys the source lists now
    items_unchanged: int = 0  # items skipped without a request: same fingerprint as stored
    items_failed: list[tuple[str, str]] = field(default_factory=list)  # (origin, reason)
    items_skipped: list[str] = field(default_factory=list)  # origins left for the next poll: no time
    fallbacks: list[tuple[str, str]] = field(default_factory=list)  # (origin, why the page was not used)
    requests: int = 0


@dataclass
class SyncReport:
    """What one sync did: the archive's side (`ingest`) and each source's."""

    ingest: IngestReport
    sources: list[SourceOutcome]
    seconds: float = 0.0
    budget: float = 0.0  # the seconds the fetching was allowed
    fetch_seconds: float = 0.0  # of `seconds`, the fetching (before the archive's side)

    @property
    def ok(self) -> bool:
        """Nothing failed and nothing was left for lack of time."""
        return self.ingest.ok and not self.skipped

    @property
    def skipped(self) -> int:
        """Sources and items left for the next poll because the budget ran out."""
        return self.count("skipped") + sum(len(o.items_skipped) for o in self.sources)

    @property
    def requests(self) -> int:
        return sum(o.requests for o in self.sources)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.sources)

    def summary(self) -> str:
        items = sum(len(o.read) for o in self.sources)
        unchanged = sum(o.items_unchanged for o in self.sources)
        fallbacks = sum(len(o.fallbacks) for o in self.sources)
        text = (
            f"sources: {self.count('fetched')} fetched, {self.count('not modified')} not modified, "
            f"{self.count('failed')} failed ({self.requests} requests in {self.seconds:.1f} s); "
            f"items read: {items}, unchanged since the last fetch: {unchanged}"
        )
        if fallbacks:
            text += f", read from the feed because the page could not be: {fallbacks}"
        if self.skipped:
            items_skipped = sum(len(o.items_skipped) for o in self.sources)
            text += (
                f"; skipped when the {self.budget:g} s budget ran out (ASSISTANT_FEED_BUDGET), to be "
                f"fetched at the next poll: {self.count('skipped')} sources, {items_skipped} items"
            )
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
    pool: HostPool | None = None,
    on_progress: Progress | None = None,
) -> SyncReport:
    """Poll each feed or page URL once and bring the archive up to date (see the module docstring).
    `fetcher` and `pool` may be shared between syncs (a server's polls); otherwise they are made here."""
    started = time.perf_counter()
    urls = list(dict.fromkeys(normalise_url(u) for u in urls))
    state = feed_state(settings)
    known = state.sources(urls)
    stored = {url: state.items(url) for url in urls}
    web = fetcher or Fetcher(settings)
    lane = pool or HostPool(settings.fetch_concurrency, settings.fetch_per_host)
    sync = _Sync(web, lane, time.monotonic() + settings.feed_budget, settings.feed_max_items, on_progress)
    try:
        outcomes = _fetch_all(sync, urls, known, stored, settings.feed_concurrency, progress)
        fetched_at = time.perf_counter()
    finally:
        if pool is None:
            lane.close()
        if fetcher is None:
            web.close()
    report = IngestReport()
    for outcome in outcomes:
        if outcome.status == "failed":
            report.failed.append((outcome.url, outcome.error))
        report.failed.extend(outcome.items_failed)
    leaving = _leaving(outcomes, stored) if prune else {}
    forget = {
        (stored[url][key].article_id, item_origin(url, key)) for url, keys in leaving.items() for key in keys
    }
    read = [ReadArticle(article, article.origin) for o in outcomes for article, _, _ in o.read]
    for o in outcomes:
        if o.status == "fetched" and on_progress is not None:
            on_progress(o.url, "storing", len(o.read), len(o.read))
    with ingest_lock(settings, wait=wait):
        store_articles(
            read, settings, forget=forget, report=report, progress=progress, store=store, embedder=embedder
        )
        _remember(state, outcomes, leaving, report)
    report.seconds = time.perf_counter() - started
    return SyncReport(report, outcomes, report.seconds, settings.feed_budget, fetched_at - started)


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


@dataclass(frozen=True)
class _Sync:
    """What every source of one sync shares: the fetcher, the pool, the end of the budget (monotonic)."""

    web: Fetcher
    pool: HostPool
    until: float
    max_items: int
    on_progress: Progress | None

    def out_of_time(self) -> bool:
        return time.monotonic() >= self.until

    def fetch(self, url: str, etag: str | None = None, last_modified: str | None = None) -> Future[Response]:
        """`url` fetched on the pool, within the budget."""
        return self.pool.submit(
            server_of(url),
            lambda: self.web.get(url, etag=etag, last_modified=last_modified, until=self.until),
        )

    def progress(self, url: str, done: int, total: int) -> None:
        if self.on_progress is not None:
            self.on_progress(url, "fetching", done, total)


def _fetch_all(
    sync: _Sync,
    urls: list[str],
    known: dict[str, SourceRecord],
    stored: dict[str, dict[str, ItemRecord]],
    concurrency: int,
    progress: bool,
) -> list[SourceOutcome]:
    """Every source fetched, `concurrency` in progress at once; outcomes in the order of `urls`."""
    outcomes: dict[str, SourceOutcome] = {}
    bar = tqdm(total=len(urls), desc="fetching", unit="source", disable=not progress)
    with bar, ThreadPoolExecutor(concurrency, thread_name_prefix="feed") as sources:
        futures = [sources.submit(_fetch_source, sync, url, known.get(url), stored[url]) for url in urls]
        for future in as_completed(futures):
            outcome = future.result()
            outcomes[outcome.url] = outcome
            bar.update(1)
    return [outcomes[url] for url in urls]


def _fetch_source(
    sync: _Sync, url: str, known: SourceRecord | None, stored: dict[str, ItemRecord]
) -> SourceOutcome:
    """One source; never raises for a failure of its own (the others must go on): it is the outcome's
    `error`. A bug is reported the same way, by its type, rather than stopping every other feed."""
    outcome = SourceOutcome(url, "failed")
    if sync.out_of_time():
        outcome.status, outcome.error = "skipped", "the sync's time budget ran out before it was fetched"
        return outcome
    try:
        sync.progress(url, 0, 0)
        etag = known.etag if known is not None else None
        last_modified = known.last_modified if known is not None else None
        outcome.requests += 1
        response = sync.fetch(url, etag, last_modified).result()
        if response.not_modified:
            assert known is not None  # a 304 answers only a conditional request
            outcome.status, outcome.kind, outcome.title = "not modified", known.kind, known.title
            return outcome
        outcome.validators = (response.etag, response.last_modified)
        if looks_like_feed(response.content_type, response.body):
            feed = parse_feed(url, response.body, response.content_type)
            _read_items(sync, url, feed, stored, outcome)
            outcome.kind, outcome.title = "feed", feed.title
        else:
            article = page_article(response.text(), url, response.url)
            outcome.read.append((article, "", article.content_hash))
            outcome.listed = {""}
            outcome.kind, outcome.title = "page", article.title
            sync.progress(url, 1, 1)
        outcome.status = "fetched"
    except FetchError as exc:
        outcome.error = exc.reason
    except ReadError as exc:
        outcome.error = str(exc)
    except Exception as exc:  # one source's surprise must not stop the others
        outcome.error = f"unexpected error ({type(exc).__name__}: {exc})"
    return outcome


_SKIPPED = "skipped: the sync's time budget ran out"


def _read_items(
    sync: _Sync, feed_url: str, feed: Feed, stored: dict[str, ItemRecord], outcome: SourceOutcome
) -> None:
    """The items that changed since the last fetch, their pages fetched in parallel on the pool."""
    outcome.listed = {entry.key for entry in feed.entries}
    todo: list[Entry] = []
    for entry in feed.entries[: sync.max_items]:
        known = stored.get(entry.key)
        if known is not None and known.fingerprint == entry.fingerprint:
            outcome.items_unchanged += 1
        else:
            todo.append(entry)
    pages = {
        entry.key: sync.pool.submit(server_of(entry.link), partial(_page, sync, feed_url, entry))
        for entry in todo
        if entry.link
    }
    sync.progress(feed_url, len(todo) - len(pages), len(todo))
    for done, _ in enumerate(as_completed(pages.values()), start=len(todo) - len(pages) + 1):
        sync.progress(feed_url, done, len(todo))
    for entry in todo:
        origin = item_origin(feed_url, entry.key)
        page, why = pages[entry.key].result() if entry.key in pages else (None, "the item has no link")
        if why == _SKIPPED:
            outcome.items_skipped.append(origin)
            continue
        if entry.key in pages:
            outcome.requests += 1
        article = item_article(feed_url, feed, entry, page)
        if article is None:
            outcome.items_failed.append((origin, f"no text: {why}, and the item has no content or summary"))
            continue
        if page is None:
            outcome.fallbacks.append((origin, why))
        outcome.read.append((article, entry.key, entry.fingerprint))


def _page(sync: _Sync, feed_url: str, entry: Entry) -> tuple[Article | None, str]:
    """An item's page (on a pool worker), or None and why not; `_SKIPPED` when the budget ran out."""
    if sync.out_of_time():
        return None, _SKIPPED
    try:
        fetched = sync.web.get(entry.link, until=sync.until)
        return page_article(fetched.text(), item_origin(feed_url, entry.key), fetched.url), ""
    except FetchTimeoutError as exc:
        return None, _SKIPPED if sync.out_of_time() else f"{entry.link}: {exc.reason}"
    except FetchError as exc:
        return None, f"{entry.link}: {exc.reason}"
    except ReadError as exc:
        return None, f"{entry.link}: {exc}"


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
    state: FeedState, outcomes: list[SourceOutcome], leaving: dict[str, set[str]], report: IngestReport
) -> None:
    """Record what was stored: the items committed (a copy under the id of the article that holds it)
    with their fingerprints, the validators of sources whose every item went in, the failures, the items
    pruned. A skipped source is left as it was."""
    failed = {origin for origin, _ in report.failed}
    when = _now()
    state.record_not_modified([o.url for o in outcomes if o.status == "not modified"], when)
    for o in outcomes:
        if o.status == "failed":
            state.record_failure(o.url, o.error, when)
        elif o.status == "fetched":
            kept = [
                ItemRecord(key, report.held_by.get(article.origin, article.article_id), fingerprint, True)
                for article, key, fingerprint in o.read
                if article.origin not in failed
            ]
            complete = len(kept) == len(o.read) and not o.items_failed and not o.items_skipped
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

"""The feeds the server follows: listed and managed in the Archive tab, each synced as a job of its own.

The feeds followed are those of `ASSISTANT_FEEDS` plus those added in the UI (kept in the archive's feeds
state, `ingest.feedstate`, so they outlast a restart). `FeedPoller.start()` polls them every
`ASSISTANT_FEED_INTERVAL` seconds on a daemon thread; each poll queues one job per feed (`ingest.sync` on
that feed alone, at most `ASSISTANT_FEED_CONCURRENCY` jobs running), so a slow feed holds up only itself:
the others are stored as soon as they are fetched, and a feed still busy from the last poll is not queued
twice. An Add feed runs its job at once, beside the poll's, and answers within `ADD_WAIT` seconds (the job
goes on in the background when the feed is slower). Every job shares one fetcher and one `HostPool`, so
the address policy, the deadlines and the per-server and global limits hold across all of them. The
retriever reloads the archive when ingest saves a new index, so new articles are answerable without a
restart. Removing a feed stops following it; its articles stay in the archive.

The table's Status column shows the job of each feed while this process runs one or ran one: "queued",
"fetching n/m", "storing", "done: ..." or "failed: why"; before any, the status the state file kept.

Left out: per-feed intervals and editing a feed's URL (remove it and add the new one).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ingest.errors import AddressNotAllowedError, AssistantError
from ingest.fetchpool import HostPool
from ingest.sync import SyncReport, feed_state, sync_sources
from ingest.web import Fetcher, is_web_url

from .settings import Settings

if TYPE_CHECKING:
    from ingest.embedding import Embedder
    from ingest.store import PassageStore

__all__ = ["ADD_WAIT", "FEED_COLUMNS", "FeedJob", "FeedPoller"]

FEED_COLUMNS = ["URL", "Title", "Last sync", "Status", "Articles"]
ADD_WAIT = 10.0  # seconds an Add feed waits for its feed's sync before answering that it goes on


@dataclass(frozen=True)
class FeedJob:
    """One feed's sync as the Archive tab shows it."""

    state: str  # "queued", "fetching", "storing", "done", "failed"
    done: int = 0
    total: int = 0
    detail: str = ""  # done: what it stored; failed: why

    @property
    def active(self) -> bool:
        return self.state in ("queued", "fetching", "storing")

    def describe(self) -> str:
        if self.state == "fetching" and self.total:
            return f"fetching {self.done}/{self.total}"
        return f"{self.state}: {self.detail}" if self.detail else self.state


class FeedPoller:
    """Follows feeds: lists them with their jobs, adds and removes them, and polls them in the background."""

    def __init__(
        self, settings: Settings, embedder: Embedder | None = None, store: PassageStore | None = None
    ) -> None:
        self.settings = settings
        self._embedder = embedder
        self._store = store  # the server's one store (None: a store of its own per sync)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # guards the jobs and the lazily made shared parts
        self._embedder_lock = threading.Lock()  # the embedder loads once, without holding up the table
        self._jobs: dict[str, FeedJob] = {}
        self._running: dict[str, Future[SyncReport | None]] = {}
        self._queue: ThreadPoolExecutor | None = None
        self._fetcher: Fetcher | None = None
        self._pool: HostPool | None = None

    def followed(self) -> list[str]:
        added = feed_state(self.settings).followed() if self._has_state() else []
        return list(dict.fromkeys([*self.settings.feeds, *added]))

    def _has_state(self) -> bool:
        """Whether the feeds' state file exists (listing never creates it: the archive may be read-only)."""
        return (self.settings.state_dir / "feeds.sqlite3").exists()

    def job(self, url: str) -> FeedJob | None:
        with self._lock:
            return self._jobs.get(url)

    def rows(self) -> list[list[Any]]:
        """URL, title, last sync, status (the feed's job, else the last status kept, with its error) and
        stored items of each feed followed."""
        known = feed_state(self.settings).sources() if self._has_state() else {}
        rows = []
        for url in self.followed():
            record, job = known.get(url), self.job(url)
            if record is None:
                rows.append([url, "", "never", job.describe() if job else "not polled yet", 0])
                continue
            status = f"{record.status}: {record.error}" if record.error else record.status
            when = record.last_sync.replace("T", " ").removesuffix("+00:00") or "never"
            rows.append([url, record.title, when, job.describe() if job else status, record.articles])
        return rows

    def add(self, url: str, wait: float = ADD_WAIT) -> str:
        """Follow `url` and sync it now (refused at once when its address is internal and not allowed);
        a line saying what happened, or that the sync goes on after `wait` seconds."""
        url = url.strip()
        if not is_web_url(url):
            return f"✗ {url or 'an empty URL'}: give an http:// or https:// URL of a feed or an article page"
        try:
            self._shared()[0].check_address(url)
        except AddressNotAllowedError as exc:
            return f"✗ {exc}"
        feed_state(self.settings).follow(url)
        future = self.submit(url, now=True)
        try:
            report = future.result(timeout=wait)
        except TimeoutError:
            now = self.job(url) or FeedJob("queued")
            return f"… {url}: added; {now.describe()} goes on in the background (its status is in the table)"
        job = self.job(url)
        if report is None or job is None or job.state == "failed":
            why = job.detail if job is not None else "the sync did not run"
            return f"✗ {url}: {why} (it stays in the list; the next poll tries again)"
        return f"✓ {url}: {report.ingest.summary()}"

    def remove(self, url: str) -> str:
        url = url.strip()
        if url in self.settings.feeds:
            return f"✗ {url} comes from ASSISTANT_FEEDS; remove it there"
        if url not in self.followed():
            return f"✗ {url} is not followed"
        feed_state(self.settings).follow(url, followed=False)
        return f"✓ {url} is no longer polled; its articles stay in the archive"

    # --- jobs ----------------------------------------------------------------------------------------------
    def submit(self, url: str, *, now: bool = False) -> Future[SyncReport | None]:
        """Queue a sync of `url` (or run it at once, `now`); a feed already queued or syncing is not queued
        again: its job's future is returned."""
        with self._lock:
            running = self._running.get(url)
            if running is not None and not running.done():
                return running
            self._jobs[url] = FeedJob("queued")
            if now:
                future: Future[SyncReport | None] = Future()
                threading.Thread(
                    target=self._run_into, args=(url, future), name="feed-add", daemon=True
                ).start()
            else:
                if self._queue is None:
                    self._queue = ThreadPoolExecutor(self.settings.feed_concurrency, "feed-job")
                future = self._queue.submit(self._run, url)
            self._running[url] = future
            return future

    def poll(self, urls: list[str] | None = None) -> list[Future[SyncReport | None]]:
        """Queue a job for each feed followed (or each of `urls`); their futures."""
        return [self.submit(url) for url in (self.followed() if urls is None else urls)]

    def _run_into(self, url: str, future: Future[SyncReport | None]) -> None:
        future.set_result(self._run(url))

    def _run(self, url: str) -> SyncReport | None:
        """One feed's sync; its job says how it went. Never raises (a failure is the job's)."""
        self._set(url, FeedJob("fetching"))
        try:
            fetcher, pool = self._shared()
            report = sync_sources(
                [url],
                self.settings,
                wait=True,
                store=self._store,
                embedder=self._embedder_now(),
                fetcher=fetcher,
                pool=pool,
                on_progress=self._progress,
            )
        except AssistantError as exc:
            self._set(url, FeedJob("failed", detail=str(exc)))
            return None
        except Exception as exc:  # a bug in one job must not stop the poller
            self._set(url, FeedJob("failed", detail=f"unexpected error ({type(exc).__name__}: {exc})"))
            return None
        (outcome,) = report.sources
        failures = [reason for _, reason in report.ingest.failed]
        if outcome.status in ("failed", "skipped"):
            self._set(url, FeedJob("failed", detail=outcome.error))
        elif failures:
            self._set(url, FeedJob("failed", detail="; ".join(failures[:2])))
        else:
            self._set(url, FeedJob("done", detail=_done(report)))
        return report

    def _progress(self, url: str, stage: str, done: int, total: int) -> None:
        self._set(url, FeedJob(stage, done, total))

    def _set(self, url: str, job: FeedJob) -> None:
        with self._lock:
            self._jobs[url] = job

    def _shared(self) -> tuple[Fetcher, HostPool]:
        """The fetcher and the pool every job shares (made at first use)."""
        with self._lock:
            if self._fetcher is None or self._pool is None:
                self._fetcher = Fetcher(self.settings)
                self._pool = HostPool(self.settings.fetch_concurrency, self.settings.fetch_per_host)
            return self._fetcher, self._pool

    def _embedder_now(self) -> Embedder:
        with self._embedder_lock:
            if self._embedder is None:
                from ingest.embedding import build_embedder

                self._embedder = build_embedder(self.settings)  # loaded at the first article, then kept
            return self._embedder

    # --- the background poll ------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="feed-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling; queued jobs are dropped, running ones end within their deadlines."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        with self._lock:
            queue, pool, fetcher = self._queue, self._pool, self._fetcher
        if queue is not None:
            queue.shutdown(wait=True, cancel_futures=True)
        if pool is not None:
            pool.close()
        if fetcher is not None:
            fetcher.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.settings.feed_interval)


def _done(report: SyncReport) -> str:
    """What a feed's job did, in a few words ("2 new, 1 changed, 3 unchanged; 1 skipped: next poll")."""
    ingest = report.ingest
    if report.sources[0].status == "not modified":
        return "not modified"
    parts = [f"{ingest.new} new", f"{ingest.changed} changed"]
    unchanged = ingest.unchanged + report.sources[0].items_unchanged
    if unchanged:
        parts.append(f"{unchanged} unchanged")
    if ingest.duplicates:
        parts.append(f"{len(ingest.duplicates)} copies of archived articles")
    text = ", ".join(parts)
    if report.skipped:
        text += f"; {report.skipped} skipped for time, fetched at the next poll"
    return text

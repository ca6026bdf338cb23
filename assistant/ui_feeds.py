"""The feeds the server follows: listed and managed in the Archive tab, polled in the background.

The feeds followed are those of `ASSISTANT_FEEDS` plus those added in the UI (kept in the archive's feeds
state, `ingest.feedstate`, so they outlast a restart). `FeedPoller.start()` polls them every
`ASSISTANT_FEED_INTERVAL` seconds on a daemon thread through `ingest.sync` (which waits for any other
ingest); the retriever reloads the archive when ingest saves a new index, so new articles are answerable
without a restart. Removing a feed stops following it; its articles stay in the archive.

Left out: per-feed intervals and editing a feed's URL (remove it and add the new one).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ingest.errors import AssistantError
from ingest.sync import SyncReport, feed_state, sync_sources
from ingest.web import is_web_url

from .settings import Settings

if TYPE_CHECKING:
    from ingest.embedding import Embedder
    from ingest.store import PassageStore

__all__ = ["FEED_COLUMNS", "FeedPoller"]

FEED_COLUMNS = ["URL", "Title", "Last sync", "Status", "Articles"]


class FeedPoller:
    """Follows feeds: lists them, adds and removes them, and polls them in the background."""

    def __init__(
        self, settings: Settings, embedder: Embedder | None = None, store: PassageStore | None = None
    ) -> None:
        self.settings = settings
        self._embedder = embedder
        self._store = store  # the server's one store (None: a store of its own per sync)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one sync at a time from this process
        self.last: SyncReport | None = None
        self.last_error = ""

    def followed(self) -> list[str]:
        added = feed_state(self.settings).followed() if self._has_state() else []
        return list(dict.fromkeys([*self.settings.feeds, *added]))

    def _has_state(self) -> bool:
        """Whether the feeds' state file exists (listing never creates it: the archive may be read-only)."""
        return (self.settings.state_dir / "feeds.sqlite3").exists()

    def rows(self) -> list[list[Any]]:
        """URL, title, last sync, status (with the last error) and stored items of each feed followed."""
        known = feed_state(self.settings).sources() if self._has_state() else {}
        rows = []
        for url in self.followed():
            record = known.get(url)
            if record is None:
                rows.append([url, "", "never", "not polled yet", 0])
                continue
            status = f"{record.status}: {record.error}" if record.error else record.status
            when = record.last_sync.replace("T", " ").removesuffix("+00:00") or "never"
            rows.append([url, record.title, when, status, record.articles])
        return rows

    def add(self, url: str) -> str:
        """Follow `url` and poll it now; a line saying what happened."""
        url = url.strip()
        if not is_web_url(url):
            return f"✗ {url or 'an empty URL'}: give an http:// or https:// URL of a feed or an article page"
        feed_state(self.settings).follow(url)
        report = self.poll([url])
        if report is None:
            return f"✗ {url}: {self.last_error}"
        failed = dict(report.ingest.failed).get(url)
        if failed:
            return f"✗ {url}: {failed} (it stays in the list; the next poll tries again)"
        return f"✓ {url}: {report.ingest.summary()}"

    def remove(self, url: str) -> str:
        url = url.strip()
        if url in self.settings.feeds:
            return f"✗ {url} comes from ASSISTANT_FEEDS; remove it there"
        if url not in self.followed():
            return f"✗ {url} is not followed"
        feed_state(self.settings).follow(url, followed=False)
        return f"✓ {url} is no longer polled; its articles stay in the archive"

    def poll(self, urls: list[str] | None = None) -> SyncReport | None:
        """Sync the feeds followed (or `urls`) now; None when the sync could not run (`last_error` says)."""
        with self._lock:
            try:
                urls = self.followed() if urls is None else urls
                if not urls:
                    return None
                self.last = sync_sources(
                    urls, self.settings, wait=True, store=self._store, embedder=self._embedder_now()
                )
                self.last_error = ""
            except AssistantError as exc:
                self.last_error = str(exc)
                return None
        return self.last

    def _embedder_now(self) -> Embedder:
        if self._embedder is None:
            from ingest.embedding import build_embedder

            self._embedder = build_embedder(self.settings)  # loaded at the first article, then kept
        return self._embedder

    # --- the background poll ------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="feed-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.settings.feed_interval)

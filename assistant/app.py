"""The application object: everything one serving process holds, built once and handed to the adapters.

`Application(settings)` builds the parts in one place: the archive's store (one Chroma client for the
process), the embedder, the `Assistant` over them, the conversation store, the feed poller and the model's
queue. The chat page (`assistant.ui`), the API (`assistant.api`), the CLI (`assistant.cli`) and the server
(`assistant.serve`) are thin adapters over it: none builds a second store or embedder, per request or
per tab. Any part may be given instead of built (like `Assistant.from_settings`): tests pass fakes or
shared models through the constructor, never through private fields.

Loading: `start()` builds and warms the assistant on one background thread while the page already
answers "loading". A start that fails (an archive that cannot be opened, a model that cannot load, a bug)
is said in one line on stderr and in the page's status, and is tried again after a pause that doubles up
to a minute; a question that arrives meanwhile tries again at once. Nothing stays broken silently.

Left out: stopping the assistant or reloading it with other settings (restart the process).
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ingest.lexical import index_dir, saved_at
from ingest.store import ArticleRecord, PassageStore

from .conversations import ConversationStore
from .errors import AssistantError, IngestError, StartupError
from .model_queue import ModelQueue
from .settings import Settings
from .ui_feeds import FeedPoller

if TYPE_CHECKING:
    from ingest.embedding import Embedder
    from ingest.pipeline import IngestReport

    from .engine import Assistant
    from .generation import ChatModel

__all__ = ["Application", "Status"]

FIRST_RETRY = 2.0  # seconds before a failed start is tried again; doubled after each failure
LAST_RETRY = 60.0


@dataclass(frozen=True)
class Status:
    """Where the assistant's start stands: loading, ready, or failed (why, and when it is tried again)."""

    state: Literal["loading", "ready", "failed"]
    reason: str = ""
    retry_in: float = 0.0


class Application:
    """The parts of one serving process (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: PassageStore | None = None,
        embedder: Embedder | None = None,
        chat_model: ChatModel | None = None,
        assistant: Assistant | None = None,
        conversations: ConversationStore | None = None,
        feeds: FeedPoller | None = None,
        queue: ModelQueue | None = None,
        retry: tuple[float, float] = (FIRST_RETRY, LAST_RETRY),
    ) -> None:
        self.settings = settings
        retriever = getattr(assistant, "retriever", None)  # a given assistant brings its store and embedder
        self.store: PassageStore = store or getattr(retriever, "store", None) or PassageStore(settings)
        self.embedder: Embedder = embedder or getattr(retriever, "embedder", None) or _embedder(settings)
        self.queue = queue or ModelQueue(settings.api_queue_size, settings.api_queue_timeout)
        self.feeds = feeds or FeedPoller(settings, embedder=self.embedder, store=self.store)
        self._chat_model = chat_model
        self._conversations = conversations
        self._retry = retry
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        self._assistant = assistant
        self._state: Literal["loading", "ready", "failed"] = "ready" if assistant is not None else "loading"
        self._reason = ""
        self._next_try = 0.0
        self._attempts = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._loader: threading.Thread | None = None
        self._announce = False  # say failed starts on stderr (the server does; the CLI says them itself)
        self._articles: tuple[float, int] | None = None  # (when the index was saved, articles then)

    # --- the assistant, loaded in the background ----------------------------------------------------------
    def start(self, *, feeds: bool = False, announce: bool = False) -> None:
        """Load the assistant on a background thread (once), and poll the feeds when `feeds`. With
        `announce`, each failed start is said in one line on stderr."""
        self._announce = self._announce or announce
        with self._lock:
            if self._loader is None and self._state != "ready":
                self._loader = threading.Thread(target=self._load, name="assistant-start", daemon=True)
                self._loader.start()
        if feeds:
            self.feeds.start()

    def close(self) -> None:
        """Stop loading and polling (a caller waiting for the assistant gets `StartupError`)."""
        self._stop.set()
        self._wake.set()
        with self._changed:
            self._changed.notify_all()
        self.feeds.stop()

    def status(self) -> Status:
        with self._changed:
            retry_in = max(0.0, self._next_try - time.monotonic()) if self._state == "failed" else 0.0
            return Status(self._state, self._reason, retry_in)

    @property
    def backend(self) -> str:
        """The backend that answers (once loaded), else the one the settings name."""
        return (
            self._assistant.backend
            if self._state == "ready" and self._assistant
            else self.settings.llm_backend
        )

    def assistant(self) -> Assistant:
        """The loaded assistant, waiting while it loads. When the start failed, tries again now and waits
        for that attempt; raises `StartupError` (saying why) if it fails too."""
        self.start()
        with self._changed:
            self._changed.wait_for(lambda: self._state != "loading" or self._stop.is_set())
            if self._state == "failed" and not self._stop.is_set():
                attempt = self._attempts
                self._wake.set()
                self._changed.wait_for(lambda: self._attempts > attempt or self._stop.is_set())
            if self._state == "ready" and self._assistant is not None:
                return self._assistant
            raise StartupError(f"the assistant could not start: {self._reason or 'the server is stopping'}")

    def _load(self) -> None:
        delay = self._retry[0]
        while not self._stop.is_set():
            reason = self._attempt()
            with self._changed:
                self._attempts += 1
                if not reason:
                    self._state, self._reason = "ready", ""
                    self._changed.notify_all()
                    return
                self._state, self._reason = "failed", reason
                self._next_try = time.monotonic() + delay
                self._changed.notify_all()
            if self._announce:
                print(
                    f"The assistant could not start: {reason} (trying again in {delay:g} s)", file=sys.stderr
                )
            self._wake.wait(delay)
            self._wake.clear()
            delay = min(delay * 2, self._retry[1])

    def _attempt(self) -> str:
        """Build (once) and warm up the assistant; "" when it is ready, else why not (one line)."""
        from .engine import Assistant

        try:
            if self._assistant is None:
                self._assistant = Assistant.from_settings(
                    self.settings, store=self.store, embedder=self.embedder, chat_model=self._chat_model
                )
            self._assistant.warm_up()
        except AssistantError as exc:
            return _one_line(str(exc))
        except Exception as exc:  # a bug or a library's own error: said, with its traceback, and retried
            traceback.print_exc(file=sys.stderr)
            return _one_line(f"{type(exc).__name__}: {exc}")
        return ""

    # --- the archive --------------------------------------------------------------------------------------
    def articles(self) -> dict[str, ArticleRecord]:
        """The archive's ledger (raises `ArchiveUnavailableError` when it cannot be read)."""
        return self.store.articles()

    def article_count(self) -> int:
        """Articles in the archive, read from the ledger only when ingest has changed the archive since the
        last reading (the page asks every second: a `stat`, not a ledger read each time)."""
        saved = saved_at(index_dir(self.settings))
        known = self._articles
        if known is None or known[0] != saved or saved < 0:
            known = self._articles = (saved, len(self.store.articles()))
        return known[1]

    def ingest(self, paths: Sequence[Path], *, progress: bool = False) -> IngestReport:
        """Ingest files into the archive with the process's store and embedder (waiting for any other
        ingest). A data dir that cannot be written is an `IngestError` saying so."""
        from ingest import ingest_paths

        try:
            return ingest_paths(
                paths, self.settings, wait=True, progress=progress, store=self.store, embedder=self.embedder
            )
        except OSError as exc:  # the lexical index or the lock file on a full or read-only disk
            raise IngestError(
                f"the data dir {self.settings.data_dir} cannot be written ({exc.strerror or exc}); the "
                "articles stored before are kept: free some space (or make it writable) and try again"
            ) from exc

    # --- stored conversations -----------------------------------------------------------------------------
    def conversations(self) -> ConversationStore:
        """The conversation store (the data dir's unless one was given), opened on first use; raises
        `ConversationStoreError` while it cannot be opened (tried again at the next call)."""
        with self._lock:
            if self._conversations is None:
                self._conversations = ConversationStore.in_data_dir(self.settings.data_dir)
            return self._conversations


def _embedder(settings: Settings) -> Embedder:
    from ingest.embedding import build_embedder

    return build_embedder(settings)  # loads its model at the first text, not here


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "unknown error"

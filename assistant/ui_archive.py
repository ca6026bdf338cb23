"""The Archive tab: the articles answered from, adding files, and the feeds the server follows.

`archive_tab(settings, backend)` lays the tab out (inside the caller's `gr.Tab`) and wires its events.
Files to add must come from Gradio's upload folder (what the page uploaded): a server path sent to the
`add_articles` endpoint instead is refused, never read. A feed that cannot be added because the data dir
cannot be written (read-only, full disk) gets one line saying so, in the page and in the log.

Left out: the feeds' polling and status (`ui_feeds`), ingest itself (`ingest`).
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingest.readers import SUPPORTED_SUFFIXES

from .errors import AssistantError
from .settings import Settings
from .ui_backend import ChatBackend
from .ui_feeds import FEED_COLUMNS

__all__ = ["archive_tab", "upload_folder"]


def upload_folder() -> Path:
    """Where Gradio keeps what the page uploaded (`GRADIO_TEMP_DIR`, else the system's temp folder)."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder())


def archive_tab(settings: Settings, backend: ChatBackend) -> None:
    """The Archive tab, laid out and wired (call inside `gr.Tab`)."""
    import gradio as gr

    kinds = ", ".join(SUPPORTED_SUFFIXES)
    gr.Markdown(
        f"The articles the assistant answers from. Add articles as {kinds} (.md with a `# Title`; .jsonl: "
        "one JSON article a line); unchanged ones are skipped."
    )
    table = gr.Dataframe(
        value=backend.articles_table,
        headers=["Title", "Published", "Source", "Passages"],
        datatype=["str", "str", "str", "number"],  # plain text: no "markdown"/"html" cells
        interactive=False,
        wrap=True,
        elem_id="archive",
    )
    uploads = gr.File(
        label=f"Add articles (up to {settings.ui_max_upload_files} files, "
        f"{settings.ui_max_upload_mb:g} MB each)",
        file_count="multiple",
        file_types=list(SUPPORTED_SUFFIXES),
    )
    add = gr.Button("Add to archive", variant="primary", elem_id="add")
    # plain text: file names and ingest's notes may quote the files
    result = gr.Textbox(label="Result", interactive=False, lines=2, max_lines=12, elem_id="added")

    def add_files(
        files: list[Any] | None,
        progress: Any = gr.Progress(track_tqdm=True),  # noqa: B008 - Gradio's way to ask for progress
    ) -> tuple[str, Any]:
        message = backend.add_files(files, progress, uploads_only=upload_folder())
        return message, backend.articles_table()

    add.click(
        add_files,
        [uploads],
        [result, table],
        concurrency_limit=1,
        concurrency_id="ingest",
        api_name="add_articles",
    )
    _feeds(settings, backend, table)


def _feeds(settings: Settings, backend: ChatBackend, table: Any) -> None:
    import gradio as gr

    with gr.Accordion("Feeds", open=True):
        gr.Markdown(
            f"RSS/Atom feeds and article pages the server polls every {settings.feed_interval:g} s; new "
            "items become answerable as they arrive. Removing a feed keeps its articles."
        )
        feed_table = gr.Dataframe(
            value=backend.feeds.rows,
            every=2.0,  # each feed's job status (queued, fetching n/m, done, failed: why)
            headers=FEED_COLUMNS,
            datatype=["str", "str", "str", "str", "number"],
            interactive=False,
            wrap=True,
            elem_id="feeds",
        )
        feed_url = gr.Textbox(label="Feed or page URL", placeholder="https://…", elem_id="feed-url")
        with gr.Row():
            follow = gr.Button("Add feed", variant="primary", elem_id="add-feed")
            unfollow = gr.Button("Remove feed", elem_id="remove-feed")
        feed_result = gr.Textbox(label="Feeds", interactive=False, lines=1, elem_id="feed-result")

    def add_feed(url: str) -> tuple[str, Any, Any]:
        message = _feed_change(backend.feeds.add, url, settings)
        return message, _rows(backend), backend.articles_table()

    def remove_feed(url: str) -> tuple[str, Any]:
        return _feed_change(backend.feeds.remove, url, settings), _rows(backend)

    follow.click(
        add_feed,
        [feed_url],
        [feed_result, feed_table, table],
        concurrency_limit=4,  # each feed is its own job: adds never wait for uploads
        concurrency_id="feeds",
        api_name="add_feed",
    )
    unfollow.click(remove_feed, [feed_url], [feed_result, feed_table], api_name="remove_feed")


def _feed_change(change: Callable[[str], str], url: str, settings: Settings) -> str:
    """Follow or unfollow a feed; a data dir that cannot be written is one line (page and log), not a
    traceback."""
    try:
        return change(url)
    except (AssistantError, OSError, sqlite3.Error) as exc:
        line = f"✗ {(url or '').strip()}: the feeds' state in {settings.data_dir} cannot be written ({exc})"
        print(line, file=sys.stderr, flush=True)
        return line


def _rows(backend: ChatBackend) -> list[list[Any]]:
    try:
        return backend.feeds.rows()
    except (AssistantError, OSError, sqlite3.Error):
        return []

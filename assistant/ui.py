"""The chat page (Gradio): a thin adapter over the process's `Application`; no retrieval or prompt logic.

`build_app(settings, backend)` returns the Blocks app; nothing starts on import or build. The page has a
status line (loading, ready, or why the start failed), the Chat tab (`ui_chat`) and the Archive tab
(`ui_archive`), both calling one `ChatBackend` (`ui_backend`). `assistant.serve` mounts the page beside
the API and runs both. Every string from outside shows as text, never as markup (`ui_format`).

Left out: the server (`serve`), the formatting (`ui_format`), the page's calls (`ui_backend`).
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from .app import Application
from .settings import Settings
from .ui_backend import ChatBackend, Session, new_session, owner_of, text_only
from .ui_format import CSS, escape, format_answer, format_source, markdown_text, to_messages
from .ui_uploads import safe_upload_name

__all__ = [
    "CSS",
    "ChatBackend",
    "Session",
    "build_app",
    "escape",
    "format_answer",
    "format_source",
    "markdown_text",
    "new_session",
    "owner_of",
    "safe_upload_name",
    "text_only",
    "to_messages",
]


def build_app(settings: Settings, backend: ChatBackend | None = None) -> Any:
    """The Gradio Blocks app over `backend` (default: a new `Application` on `settings`). Building it
    starts nothing; opening the page starts loading the assistant."""
    import gradio as gr

    from .ui_archive import archive_tab
    from .ui_chat import chat_tab

    backend = backend or ChatBackend(Application(settings))
    with gr.Blocks(title="News Assistant", analytics_enabled=False, fill_height=True) as demo:
        gr.Markdown("# News Assistant", elem_id="title")
        gr.Markdown(
            "Ask about the articles in the archive. Every claim is marked with its source "
            "([1], [2]); open a source below the answer to read the passage it came from. "
            "When the articles do not say, the assistant says so.",
        )
        status = gr.Markdown(backend.status(), elem_id="status")
        with gr.Tabs():
            with gr.Tab("Chat"):
                chat_tab(settings, backend, demo)
            with gr.Tab("Archive"):
                archive_tab(settings, backend)
        timer = gr.Timer(1.0)
        timer.tick(lambda: backend.status(), None, status, api_visibility="private", show_progress="hidden")
        demo.load(backend.start_loading, None, None, api_visibility="private")
    return demo

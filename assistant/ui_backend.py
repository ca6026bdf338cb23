"""What the chat page calls: answers, stored conversations, the archive's listing and uploads.

`ChatBackend(app)` is a thin adapter over the process's `Application` (its assistant, queue, store and
conversation store); the page's layout and events are `ui_chat` and `ui_archive`. Every answer is stored
as a turn of the page's conversation, owned by the signed-in user ("" without a login), to be reopened,
continued, deleted and rated.

What the page sends is not trusted: a chat history is kept to its text (file and component parts are
dropped, so no file named in it is ever handed back to be served), a question loses its lone surrogates
as the engine drops them, and the files to ingest must lie in Gradio's upload folder (`add_files`'s
`uploads_only`): a server path sent instead of an upload is refused.

Left out: any retrieval or prompt logic (the engine's).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypedDict

from ingest.readers import SUPPORTED_SUFFIXES

from .app import Application
from .engine import Assistant, history_used
from .errors import AssistantError, ConversationError, UploadError
from .model_queue import ModelQueue
from .settings import Settings
from .text import clean_question
from .types import Answer, TextDelta
from .ui_feeds import FeedPoller
from .ui_format import escape, markdown_text, short_date, to_messages
from .ui_uploads import safe_upload_name, store_upload

__all__ = ["ChatBackend", "Session", "kept_session", "new_session", "owner_of", "text_only"]

_THUMBS = {1: "Like", -1: "Dislike"}


class Session(TypedDict, total=False):
    """What one browser tab keeps beside the chat: the stored conversation it continues (None: the next
    answer starts one), which stored turn each answer bubble shows (chat message index -> turn id, for
    the thumbs), and the last rating given (for a comment sent after the thumb)."""

    conversation: str | None
    turns: dict[int, str]
    rated: tuple[str, int] | None


def new_session() -> Session:
    return {"conversation": None, "turns": {}, "rated": None}


def owner_of(request: Any) -> str:
    """Whose conversations these are: the signed-in user's name, or "" without a login."""
    return str(getattr(request, "username", None) or "")


def text_only(display: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chat as the page sent it, kept to user and assistant messages of text: file and component
    parts are dropped (and messages left without text), so nothing the client names is served back."""
    kept: list[dict[str, Any]] = []
    for message in display or []:
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            continue
        content = message.get("content")
        if isinstance(content, list):
            texts = [p for p in content if isinstance(p, dict) and p.get("type") == "text"]
            content = texts or None
        if isinstance(content, str) or content:
            kept.append({**message, "content": content})
    return kept


class ChatBackend:
    """The page's calls, over the process's `Application`."""

    def __init__(self, app: Application) -> None:
        self.app = app

    @property
    def settings(self) -> Settings:
        return self.app.settings

    @property
    def queue(self) -> ModelQueue:
        return self.app.queue

    @property
    def feeds(self) -> FeedPoller:
        return self.app.feeds

    def start_loading(self) -> None:
        self.app.start()

    def assistant(self) -> Assistant:
        return self.app.assistant()

    def status(self) -> str:
        """The status line: loading, why the start failed (and when it is tried again), or ready."""
        status = self.app.status()
        if status.state == "loading":
            return "Loading the model (the first start also assembles it; about half a minute)…"
        if status.state == "failed":
            return (
                f"**The assistant could not start:** {markdown_text(status.reason)} · trying again in "
                f"{status.retry_in:.0f} s (or when a question is asked)"
            )
        try:
            articles = self.app.article_count()
        except AssistantError as exc:
            return f"**Archive unavailable:** {markdown_text(str(exc))}"
        return f"**Ready** · {articles} articles in the archive · answers by the {self.app.backend} backend"

    # --- chat -------------------------------------------------------------------------------------------
    def respond(
        self,
        question: str,
        display: list[dict[str, Any]],
        history: list[dict[str, str]],
        max_sources: float,
        date_from: Any,
        date_to: Any,
        session: Session | None = None,
        owner: str = "",
    ) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, str]], str, Session | None]]:
        """Answer `question` after the conversation on the page, streaming the chat as it grows. With a
        `session` (the page always passes one), the answer is stored as the next turn of the session's
        conversation (a new one when it has none or the chat is empty), owned by `owner`; without one,
        nothing is kept. Yields (chat, history, the question box, session)."""
        display = text_only(display)
        question = clean_question(question or "")
        if not question:
            yield display, history, "", session
            return
        # the conversation the model sees is the one on the page: a cleared or shortened chat
        # (or an API call that passes no chat) carries no hidden turns
        turns = sum(1 for m in display if m.get("role") == "user")
        history = history[-2 * turns :] if turns else []
        if session is not None:
            session = kept_session(session, len(display)) if turns else new_session()
        display = [*display, {"role": "user", "content": escape(question)}]
        if self.app.status().state == "loading":
            waiting = {
                "role": "assistant",
                "content": "<i>The model is still loading; your answer follows…</i>",
            }
            yield [*display, waiting], history, "", session
        between = (_as_date(date_from), _as_date(date_to))  # whole days: "until" includes its day
        draft = ""
        answer: Answer | None = None
        try:
            bot = self.assistant()
            with self.queue.turn(bounded=False):  # Gradio's queue bounds the page's askers
                for event in bot.stream(
                    question, history, max_sources=int(max_sources), published_between=between
                ):
                    if isinstance(event, TextDelta):
                        draft += event.text
                        draft_message = {"role": "assistant", "content": escape(draft) + " ▌"}
                        yield [*display, draft_message], history, "", session
                    else:
                        answer = event
        except AssistantError as exc:
            sorry = {"role": "assistant", "content": f"<b>Sorry:</b> {escape(str(exc))}"}
            yield [*display, sorry], history, "", session
            return
        assert answer is not None
        if session is not None:
            session = self._store_turn(
                owner, session, question, history, answer, max_sources, between, len(display)
            )
        history = [
            *history,
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer.text},
        ]
        yield display + to_messages(answer), history, "", session

    def _store_turn(
        self,
        owner: str,
        session: Session,
        question: str,
        history: list[dict[str, str]],
        answer: Answer,
        max_sources: float,
        between: tuple[date | None, date | None],
        index: int,
    ) -> Session:
        """Store the answer as the session's next turn; the answer still shows when it cannot be kept."""
        used = {
            "backend": answer.backend or self.app.backend,
            "max_sources": int(max_sources),
            "published_after": between[0].isoformat() if between[0] else None,
            "published_before": between[1].isoformat() if between[1] else None,
            "via": "ui",
        }
        try:
            turn = self.store().add_turn(
                owner, session.get("conversation"), question, history_used(history), answer, used
            )
        except ConversationError as exc:
            print(f"The answer was not stored: {exc}", file=sys.stderr)
            return session
        return {
            **session,
            "conversation": turn.conversation_id,
            "turns": {**session.get("turns", {}), index: turn.id},
        }

    # --- stored conversations ---------------------------------------------------------------------------
    def store(self) -> Any:
        """The conversation store (raises `ConversationStoreError` while it cannot be opened)."""
        return self.app.conversations()

    def conversation_choices(self, owner: str) -> list[tuple[str, str]]:
        """The owner's conversations as (title, id), the most recently continued first."""
        try:
            return [(c.title, c.id) for c in self.store().conversations(owner)]
        except ConversationError:
            return []

    def open_conversation(
        self, owner: str, conversation_id: str
    ) -> tuple[list[dict[str, Any]], list[dict[str, str]], Session, list[str | None]]:
        """One of the owner's stored conversations as the page shows it, to read and continue: (chat,
        history, session, the thumb shown on each answer). Raises `ConversationError` when the owner
        has no such conversation."""
        display: list[dict[str, Any]] = []
        history: list[dict[str, str]] = []
        session = new_session()
        session["conversation"] = conversation_id
        thumbs: list[str | None] = []
        for turn in self.store().turns(owner, conversation_id):
            answer = Answer.from_dict(turn.answer)
            display.append({"role": "user", "content": escape(turn.question)})
            session["turns"][len(display)] = turn.id
            display += to_messages(answer)
            history += [
                {"role": "user", "content": turn.question},
                {"role": "assistant", "content": answer.text},
            ]
            thumbs.append(_THUMBS.get(turn.rating or 0))
        return display, history, session, thumbs

    def delete_conversation(self, owner: str, conversation_id: str) -> None:
        self.store().delete(owner, conversation_id)

    def rate(
        self, owner: str, session: Session, index: Any, liked: Any, comment: str = ""
    ) -> tuple[str, Session]:
        """A thumb on the answer at chat message `index` (True up, False down, anything else: taken
        back), with an optional comment; returns (what the page says, session)."""
        if isinstance(index, list | tuple):
            index = index[0]
        turn_id = session.get("turns", {}).get(int(index)) if isinstance(index, int) else None
        if turn_id is None:
            return "This answer was not stored, so it cannot be rated.", session
        try:
            if liked is True or liked is False:
                rating = 1 if liked else -1
                self.store().rate(owner, turn_id, rating, comment or "")
                said = "Thanks: your 👍 is kept." if liked else "Thanks: your 👎 is kept."
                if not (comment or "").strip():
                    said += " Add a comment below if you like."
                return said, {**session, "rated": (turn_id, rating)}
            self.store().unrate(owner, turn_id)
            return "Rating taken back.", {**session, "rated": None}
        except ConversationError as exc:
            return f"The rating was not stored: {markdown_text(str(exc))}", session

    def comment(self, owner: str, session: Session, comment: str) -> str:
        """Attach `comment` to the last answer rated on this page."""
        rated = session.get("rated")
        if not rated:
            return "Rate an answer with 👍 or 👎 first; the comment goes with it."
        if not (comment or "").strip():
            return "Write a comment first."
        turn_id, rating = rated
        try:
            self.store().rate(owner, turn_id, rating, comment)
        except ConversationError as exc:
            return f"The comment was not stored: {markdown_text(str(exc))}"
        return "Thanks: your comment is kept with your rating."

    # --- archive ----------------------------------------------------------------------------------------
    def articles_table(self) -> list[list[Any]]:
        try:
            records = self.app.articles().values()
        except AssistantError:
            return []
        rows = sorted(records, key=lambda r: r.published_ts, reverse=True)
        return [[r.title, short_date(r.published), r.source, r.passages] for r in rows]

    def examples(self, count: int = 4) -> list[str]:
        """Starter questions drawn from the newest articles of the archive."""
        try:
            records = sorted(self.app.articles().values(), key=lambda r: r.published_ts, reverse=True)
        except AssistantError:
            return []
        return [f"What does the article “{r.title}” report?" for r in records[:count]]

    def add_files(
        self, files: list[Any] | None, progress: Any = None, uploads_only: Path | None = None
    ) -> str:
        """Copy uploads into the data dir (checked, renamed safely) and ingest them. With `uploads_only`
        (the page passes Gradio's upload folder), a file outside that folder is refused: only what a user
        uploaded is ingested, never a path on the server."""
        files = files or []
        if not files:
            return f"Choose one or more {', '.join(SUPPORTED_SUFFIXES)} files first."
        if len(files) > self.settings.ui_max_upload_files:
            return f"Too many files: at most {self.settings.ui_max_upload_files} at a time."
        uploads = (self.settings.data_dir / "uploads").resolve()
        try:
            uploads.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return f"✗ the data dir {self.settings.data_dir} cannot be written: {exc.strerror or exc}"
        accepted: list[Path] = []
        said: list[str] = []
        for item in files:
            stored, line = self._take(item, uploads, uploads_only)
            said += [line] if line else []
            if stored is not None and stored not in accepted:
                accepted.append(stored)
        # what was refused first, then notes on what was taken
        lines = [s for s in said if s.startswith("✗")] + [s for s in said if not s.startswith("✗")]
        if accepted:
            try:
                report = self.app.ingest(accepted, progress=progress is not None)
            except AssistantError as exc:
                return "\n".join([*lines, f"✗ {exc}"])
            lines.append(f"✓ {report.summary()}")
            lines += [f"✗ {Path(n).name}: {r}" for n, r in report.failed]
            lines += [f"• {Path(o).name} is a duplicate of {Path(t).name}" for o, t in report.duplicates]
        return "\n".join(lines)

    def _take(self, item: Any, uploads: Path, uploads_only: Path | None) -> tuple[Path | None, str]:
        """One file given to `add_files`, stored in the uploads folder: (where, a line to say) or (None,
        why not)."""
        source = Path(getattr(item, "name", None) or getattr(item, "path", None) or str(item))
        sent = getattr(item, "orig_name", None) or source.name
        name = safe_upload_name(sent)
        if uploads_only is not None and not _inside(source, uploads_only):
            return None, f"✗ {name}: not an upload (only files uploaded from the page are added)"
        if not name.lower().endswith(SUPPORTED_SUFFIXES):
            return None, f"✗ {name}: only {', '.join(SUPPORTED_SUFFIXES)} files are accepted"
        size = source.stat().st_size if source.is_file() else 0
        limit = int(self.settings.ui_max_upload_mb * 1024 * 1024)
        if size > limit:
            return (
                None,
                f"✗ {name}: {size / 1e6:.1f} MB is over the {self.settings.ui_max_upload_mb:g} MB limit",
            )
        try:
            stored = store_upload(source, name, uploads)
        except UploadError as exc:
            return None, f"✗ {exc}"
        except OSError as exc:
            return None, f"✗ {name}: cannot be stored in {uploads}: {exc.strerror or exc}"
        if stored.status == "renamed":
            return (
                stored.path,
                f"• {sent} saved as {stored.path.name}: {name} already holds a different article",
            )
        if stored.status == "unchanged":
            return stored.path, f"• {sent}: same content as {stored.path.name}"
        return stored.path, ""


def _inside(path: Path, folder: Path) -> bool:
    """Whether `path`, links resolved, lies in `folder`."""
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


def kept_session(session: Session, shown: int) -> Session:
    """The session of a chat cut to its first `shown` messages (undo, retry): no turn ids past them."""
    return {
        "conversation": session.get("conversation"),
        "turns": {i: t for i, t in session.get("turns", {}).items() if i < shown},
        "rated": session.get("rated"),
    }


def _as_date(value: Any) -> date | None:
    """The day a date-only picker holds (Gradio gives a datetime, a timestamp or an ISO string)."""
    if value in (None, "", 0):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value)).date()
    try:
        return datetime.fromisoformat(str(value)).date()
    except ValueError:
        return None

"""The chat UI (Gradio): a thin adapter over `Assistant` and `ingest`; no retrieval or prompt logic here.

`build_app(settings)` returns the Blocks app; nothing starts on import. `serve()` mounts it on the
FastAPI app of the OpenAI-compatible API (`assistant.api`, under /v1) and runs both with one uvicorn on
127.0.0.1 by default, one model and one queue for both, with optional login (`ASSISTANT_UI_AUTH`;
repeated wrong passwords from one address are refused for a growing pause, see `ui_login`), and loads
the model in the background while the page already answers "still loading". Every string from outside
(questions, answers, article titles, sources, URLs and dates, file names, error messages) shows as text,
never as markup: the chat renders sanitised HTML with Markdown and LaTeX off and gets it HTML-escaped
(`escape`); the Markdown status line gets every punctuation mark escaped too (`markdown_text`); the
archive table, the starter questions, the list of past conversations and the upload result are plain-text
components. Every answer is stored as a turn of the page's conversation (`ConversationStore`, in the data
dir, owned by the signed-in user or "" without a login), to be reopened, continued, deleted and rated
(thumbs with an optional comment) from the page.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypedDict

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from ingest.lexical import index_dir, saved_at
from ingest.store import PassageStore

from .api import LOOPBACK, ModelQueue, check_exposure, create_app
from .conversations import ConversationError, ConversationStore
from .engine import Assistant
from .errors import AssistantError, ConfigError
from .settings import Settings
from .types import Answer, Citation, TextDelta, Timings
from .ui_feeds import FEED_COLUMNS, FeedPoller
from .ui_login import LoginAttempts, LoginThrottle
from .ui_uploads import UploadError, safe_upload_name, store_upload

ALLOWED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".jsonl")
# every ASCII punctuation mark but the & and ; of HTML entities
_MD_PUNCTUATION = re.compile(r"""([!"#$%'()*+,\-./:<=>?@\[\\\]^_`{|}~])""")

CSS = """
.gradio-container {max-width: 1100px !important; margin: auto;}
#title h1 {margin-bottom: 0;}
#status {font-size: 0.9em; opacity: 0.85;}
.refusal {border-left: 4px solid #d97706; padding: 4px 10px; background: rgba(217,119,6,0.08);}
.cite-meta {font-size: 0.85em; opacity: 0.8;}
mark {background: #fde68a; color: inherit; padding: 0 2px;}
#conversations {max-height: 560px; overflow-y: auto;}
"""


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


def escape(text: str) -> str:
    """Text that shows literally in the chat, which renders sanitised HTML (no Markdown, no LaTeX)."""
    return "<br>".join(html.escape(text, quote=False).splitlines())


def markdown_text(text: str) -> str:
    """Text that shows literally in a gr.Markdown: no tags, and no emphasis, links, autolinks, headings,
    lists or LaTeX either (CommonMark shows any backslash-escaped punctuation mark as itself)."""
    return _MD_PUNCTUATION.sub(r"\\\1", html.escape(text, quote=False))


def _date(published: str) -> str:
    return published[:16].replace("T", " ") if published else "undated"


def format_answer(answer: Answer) -> str:
    """The answer bubble: the text with its markers, or a visibly different refusal."""
    if answer.refused:
        return (
            '<div class="refusal"><b>Not in the archive.</b> '
            f"{escape(answer.text)}<br><small>Try rephrasing, or widen the date range.</small></div>"
        )
    return escape(answer.text)


def format_source(c: Any) -> tuple[str, str]:
    """(collapsed title, body) of one citation: the passage with its supporting sentence highlighted."""
    start, end = c.span
    text = c.text
    body = escape(text[:start]) + "<mark>" + escape(text[start:end]) + "</mark>" + escape(text[end:])
    meta = f"{_date(c.published)} · {c.source or 'unknown source'}"
    if getattr(c, "also_in", ()):
        meta += f" · also in {', '.join(c.also_in)}"
    link = (
        f' · <a href="{html.escape(c.url, quote=True)}" target="_blank" rel="noopener noreferrer">link</a>'
        if c.url.lower().startswith(("http://", "https://"))
        else ""
    )
    # Gradio renders the title like a message: escaped the same way, it shows as text
    title = f"[{c.n}] {escape(c.title)}"
    return title, f'<div class="cite-meta">{escape(meta)}{link}</div>{body}'


def stored_answer(data: dict[str, Any]) -> Answer:
    """The `Answer` a stored turn kept (as `Answer.to_dict()`), enough to show it again."""
    citations = tuple(
        Citation(
            n=int(c.get("n", 0)),
            passage_id=str(c.get("passage_id", "")),
            article_id=str(c.get("article_id", "")),
            title=str(c.get("title", "")),
            published=str(c.get("published", "")),
            source=str(c.get("source", "")),
            url=str(c.get("url", "")),
            text=str(c.get("text", "")),
            span=(int(c.get("span", (0, 0))[0]), int(c.get("span", (0, 0))[1])),
            also_in=tuple(str(name) for name in c.get("also_in", ())),
        )
        for c in data.get("citations", ())
    )
    return Answer(
        text=str(data.get("text", "")),
        citations=citations,
        refused=bool(data.get("refused", False)),
        question=str(data.get("question", "")),
        backend=str(data.get("backend", "")),
        timings=Timings(),
    )


def to_messages(answer: Answer) -> list[dict[str, Any]]:
    """The chat messages showing one answer: the answer, then one collapsible message per source."""
    messages: list[dict[str, Any]] = [{"role": "assistant", "content": format_answer(answer)}]
    for c in answer.citations:
        title, body = format_source(c)
        messages.append(
            {"role": "assistant", "content": body, "metadata": {"title": title, "status": "done"}}
        )
    return messages


class ChatBackend:
    """What the page calls: answers, archive listing and uploads; loads the assistant in the background."""

    def __init__(
        self,
        settings: Settings,
        assistant: Assistant | None = None,
        queue: ModelQueue | None = None,
        store: ConversationStore | None = None,
    ) -> None:
        self.settings = settings
        self._assistant = assistant
        self._store = store  # opened on first use: in the data dir unless one is given
        # the one line at the model, shared with the API when serve() runs both
        self.queue = queue or ModelQueue(settings.api_queue_size, settings.api_queue_timeout)
        self._ready = threading.Event()
        self._error: str | None = None
        self._lock = threading.Lock()
        self._articles: tuple[float, int] | None = None  # (when the index was saved, articles then)
        self.feeds = FeedPoller(settings)  # the feeds followed; serve() starts polling them
        if assistant is not None:
            self._ready.set()

    # --- loading ----------------------------------------------------------------------------------------
    def start_loading(self) -> None:
        if self._ready.is_set():
            return
        threading.Thread(target=self._load, name="assistant-warm-up", daemon=True).start()

    def _load(self) -> None:
        try:
            assistant = self._assistant or Assistant.from_settings(self.settings)
            assistant.warm_up()
            self._assistant = assistant
        except AssistantError as exc:
            self._error = str(exc)
        finally:
            self._ready.set()

    def status(self) -> str:
        if not self._ready.is_set():
            return "Loading the model (the first start also assembles it; about half a minute)…"
        if self._error:
            return f"**The assistant could not start:** {markdown_text(self._error)}"
        try:
            articles = self._article_count()
        except AssistantError as exc:
            return f"**Archive unavailable:** {markdown_text(str(exc))}"
        backend = self._assistant.backend if self._assistant else self.settings.llm_backend
        return f"**Ready** · {articles} articles in the archive · answers by the {backend} backend"

    def _article_count(self) -> int:
        """Articles in the archive, read from the ledger only when ingest has changed the archive since the
        last reading (the status refreshes every second: a `stat`, not a store and a ledger each time)."""
        saved = saved_at(index_dir(self.settings))
        if self._articles is None or self._articles[0] != saved or saved < 0:
            self._articles = (saved, len(PassageStore(self.settings).articles()))
        return self._articles[1]

    def assistant(self) -> Assistant:
        self._ready.wait()
        if self._assistant is None:
            raise AssistantError(self._error or "the assistant is not available")
        return self._assistant

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
        question = (question or "").strip()
        if not question:
            yield display, history, "", session
            return
        # the conversation the model sees is the one on the page: a cleared or shortened chat
        # (or an API call that passes no chat) carries no hidden turns
        turns = sum(1 for m in display if m.get("role") == "user")
        history = history[-2 * turns :] if turns else []
        if session is not None:
            session = _kept(session, len(display)) if turns else new_session()
        display = [*display, {"role": "user", "content": escape(question)}]
        if not self._ready.is_set():
            yield (
                [
                    *display,
                    {
                        "role": "assistant",
                        "content": "<i>The model is still loading; your answer follows…</i>",
                    },
                ],
                history,
                "",
                session,
            )
        between = (_as_date(date_from), _as_date(date_to))  # whole days: "until" includes its day
        draft = ""
        try:
            bot = self.assistant()
            answer: Answer | None = None
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
            yield (
                [*display, {"role": "assistant", "content": f"<b>Sorry:</b> {escape(str(exc))}"}],
                history,
                "",
                session,
            )
            return
        assert answer is not None
        if session is not None:
            used = {
                "backend": answer.backend or bot.backend,
                "max_sources": int(max_sources),
                "published_after": between[0].isoformat() if between[0] else None,
                "published_before": between[1].isoformat() if between[1] else None,
                "via": "ui",
            }
            try:
                turn = self.store().add_turn(
                    owner, session.get("conversation"), question, history, answer, used
                )
            except ConversationError as exc:  # the answer still shows; it is just not kept
                print(f"The answer was not stored: {exc}", file=sys.stderr)
            else:
                session = {
                    **session,
                    "conversation": turn.conversation_id,
                    "turns": {**session.get("turns", {}), len(display): turn.id},
                }
        history = [
            *history,
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer.text},
        ]
        yield display + to_messages(answer), history, "", session

    # --- stored conversations ---------------------------------------------------------------------------
    def store(self) -> ConversationStore:
        """The conversation store (in the data dir unless given), opened on first use."""
        with self._lock:
            if self._store is None:
                self._store = ConversationStore.in_data_dir(self.settings.data_dir)
            return self._store

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
            answer = stored_answer(turn.answer)
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
            records = PassageStore(self.settings).articles().values()
        except AssistantError:
            return []
        rows = sorted(records, key=lambda r: r.published_ts, reverse=True)
        return [[r.title, _date(r.published), r.source, r.passages] for r in rows]

    def examples(self, count: int = 4) -> list[str]:
        """Starter questions drawn from the newest articles of the archive."""
        try:
            records = sorted(
                PassageStore(self.settings).articles().values(), key=lambda r: r.published_ts, reverse=True
            )
        except AssistantError:
            return []
        return [f"What does the article “{r.title}” report?" for r in records[:count]]

    def add_files(self, files: list[Any] | None, progress: Any = None) -> str:
        """Copy uploads into the data dir (checked, renamed safely) and ingest them."""
        from ingest import ingest_paths

        files = files or []
        if not files:
            return "Choose one or more .txt, .md, .html or .jsonl files first."
        if len(files) > self.settings.ui_max_upload_files:
            return f"Too many files: at most {self.settings.ui_max_upload_files} at a time."
        limit = int(self.settings.ui_max_upload_mb * 1024 * 1024)
        uploads = (self.settings.data_dir / "uploads").resolve()
        uploads.mkdir(parents=True, exist_ok=True)
        accepted: list[Path] = []
        problems: list[str] = []
        notes: list[str] = []
        for item in files:
            source = Path(getattr(item, "name", None) or str(item))
            sent = getattr(item, "orig_name", None) or source.name
            name = safe_upload_name(sent)
            if not name.lower().endswith(ALLOWED_SUFFIXES):
                problems.append(f"{name}: only {', '.join(ALLOWED_SUFFIXES)} files are accepted")
                continue
            size = source.stat().st_size if source.exists() else 0
            if size > limit:
                problems.append(
                    f"{name}: {size / 1e6:.1f} MB is over the {self.settings.ui_max_upload_mb:g} MB limit"
                )
                continue
            try:
                stored = store_upload(source, name, uploads)
            except UploadError as exc:
                problems.append(str(exc))
                continue
            if stored.status == "renamed":
                notes.append(f"{sent} saved as {stored.path.name}: {name} already holds a different article")
            elif stored.status == "unchanged":
                notes.append(f"{sent}: same content as {stored.path.name}")
            if stored.path not in accepted:
                accepted.append(stored.path)
        lines = [f"✗ {p}" for p in problems] + [f"• {n}" for n in notes]
        if accepted:
            try:
                report = ingest_paths(accepted, self.settings, wait=True, progress=progress is not None)
            except AssistantError as exc:
                return "\n".join([*lines, f"✗ {exc}"])
            lines.append(f"✓ {report.summary()}")
            lines += [f"✗ {Path(n).name}: {r}" for n, r in report.failed]
            lines += [f"• {Path(o).name} is a duplicate of {Path(t).name}" for o, t in report.duplicates]
        return "\n".join(lines)


_THUMBS = {1: "Like", -1: "Dislike"}


def _kept(session: Session, shown: int) -> Session:
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


def build_app(settings: Settings, backend: ChatBackend | None = None) -> Any:
    """The Gradio Blocks app. Building it starts nothing; `serve()` launches it."""
    import gradio as gr

    backend = backend or ChatBackend(settings)
    with gr.Blocks(title="News Assistant", analytics_enabled=False, fill_height=True) as demo:
        gr.Markdown("# News Assistant", elem_id="title")
        gr.Markdown(
            "Ask about the articles in the archive. Every claim is marked with its source "
            "([1], [2]); open a source below the answer to read the passage it came from. "
            "When the articles do not say, the assistant says so.",
        )
        status = gr.Markdown(backend.status(), elem_id="status")
        with gr.Tabs():
            with gr.Tab("Chat"), gr.Row():
                with gr.Column(scale=1, min_width=220):
                    new_chat = gr.Button("New conversation", elem_id="new-conversation", size="sm")
                    # plain-text labels: the titles are the users' first questions
                    past = gr.Radio(
                        choices=[],
                        value=None,
                        label="Past conversations",
                        info="Newest first; choose one to reopen and continue it.",
                        elem_id="conversations",
                    )
                    delete = gr.Button("Delete", variant="stop", size="sm", elem_id="delete-conversation")
                with gr.Column(scale=4):
                    chatbot = gr.Chatbot(
                        label="Conversation",
                        height=520,
                        elem_id="chat",
                        layout="panel",
                        # messages are HTML built here from escaped text: no Markdown or LaTeX of their own
                        render_markdown=False,
                        latex_delimiters=[],
                        sanitize_html=True,
                        placeholder="Ask a question about the news archive.",
                        feedback_options=("Like", "Dislike"),
                        buttons=["copy"],
                    )
                    history = gr.State([])
                    session = gr.State(new_session())
                    with gr.Row():
                        question = gr.Textbox(
                            placeholder="e.g. How many jobs will the biopharma plant create?",
                            show_label=False,
                            scale=8,
                            autofocus=True,
                            elem_id="question",
                            max_lines=4,
                            max_length=settings.max_question_chars,
                        )
                        send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                    with gr.Row():
                        comment = gr.Textbox(
                            placeholder="Optional comment on your 👍 / 👎 (what was wrong or missing?)",
                            show_label=False,
                            scale=8,
                            max_lines=3,
                            max_length=2000,
                            elem_id="feedback-comment",
                        )
                        send_comment = gr.Button("Send comment", scale=1, size="sm", elem_id="send-comment")
                    # fixed sentences, and store errors through markdown_text
                    feedback = gr.Markdown("", elem_id="feedback")
                    examples = backend.examples()
                    if examples:
                        gr.Examples(
                            examples=[[e] for e in examples],
                            inputs=[question],
                            label="Try asking",
                            elem_id="examples",
                        )
                    with gr.Accordion("Settings", open=False):
                        max_sources = gr.Slider(
                            1, 8, value=settings.max_sources, step=1, label="Sources to draw on"
                        )
                        with gr.Row():
                            date_from = gr.DateTime(
                                label="Published from", include_time=False, type="datetime"
                            )
                            date_to = gr.DateTime(
                                label="Published until", include_time=False, type="datetime"
                            )

                # Gradio hands a handler the request (for the signed-in user) or the like event when the
                # parameter's annotation resolves to its class; with postponed annotations that resolution
                # happens in this module's namespace, which has no `gr`: the classes are set explicitly.
                def ask(
                    question_: str,
                    display: list[dict[str, Any]],
                    hist: list[dict[str, str]],
                    sources: float,
                    after: Any,
                    before: Any,
                    state: Session,
                    request: Any,
                ) -> Iterator[Any]:
                    yield from backend.respond(
                        question_, display, hist, sources, after, before, state, owner_of(request)
                    )

                def listing(state: Session, request: Any) -> Any:
                    choices = backend.conversation_choices(owner_of(request))
                    current = state.get("conversation")
                    return gr.Radio(
                        choices=choices, value=current if current in dict(choices).values() else None
                    )

                def undo(
                    display: list[dict[str, Any]], hist: list[dict[str, str]], state: Session
                ) -> tuple[Any, Any, str, Session]:
                    last_user = max(
                        (i for i, m in enumerate(display) if m.get("role") == "user"), default=None
                    )
                    if last_user is None:
                        return display, hist, "", state
                    text = hist[-2]["content"] if len(hist) >= 2 else ""
                    return display[:last_user], hist[:-2], text, _kept(state, last_user)

                def retry(
                    display: list[dict[str, Any]],
                    hist: list[dict[str, str]],
                    sources: float,
                    after: Any,
                    before: Any,
                    state: Session,
                    request: Any,
                ) -> Iterator[Any]:
                    kept, kept_hist, text, kept_state = undo(display, hist, state)
                    yield from backend.respond(
                        text, kept, kept_hist, sources, after, before, kept_state, owner_of(request)
                    )

                def start_new() -> tuple[Any, ...]:
                    return [], [], "", new_session(), gr.Radio(value=None), "", ""

                def reopen(conversation_id: str | None, request: Any) -> tuple[Any, ...]:
                    if not conversation_id:
                        return (gr.skip(),) * 4
                    try:
                        display, hist, state, thumbs = backend.open_conversation(
                            owner_of(request), conversation_id
                        )
                    except ConversationError:
                        return [], [], new_session(), "That conversation is gone."
                    shown = gr.Chatbot(value=display, feedback_value=thumbs)  # type: ignore[arg-type]
                    return shown, hist, state, ""

                def remove(conversation_id: str | None, state: Session, request: Any) -> tuple[Any, ...]:
                    owner = owner_of(request)
                    if not conversation_id:
                        return (gr.skip(),) * 4 + ("Choose a conversation to delete first.",)
                    # already gone (deleted in another tab): the list below no longer shows it either
                    with contextlib.suppress(ConversationError):
                        backend.delete_conversation(owner, conversation_id)
                    choices = backend.conversation_choices(owner)
                    if state.get("conversation") == conversation_id:  # the open one: the chat goes too
                        return gr.Radio(choices=choices, value=None), [], [], new_session(), "Deleted."
                    current = state.get("conversation")
                    kept = current if current in dict(choices).values() else None
                    return gr.Radio(choices=choices, value=kept), gr.skip(), gr.skip(), gr.skip(), "Deleted."

                def like(state: Session, note: str, liked: Any, request: Any) -> tuple[str, Session]:
                    return backend.rate(owner_of(request), state, liked.index, liked.liked, note)

                def add_comment(state: Session, note: str, request: Any) -> tuple[str, Any]:
                    said = backend.comment(owner_of(request), state, note)
                    return said, "" if said.startswith("Thanks") else gr.skip()

                for handler in (ask, listing, retry, reopen, remove, like, add_comment):
                    handler.__annotations__["request"] = gr.Request
                like.__annotations__["liked"] = gr.LikeData

                inputs = [question, chatbot, history, max_sources, date_from, date_to, session]
                outputs = [chatbot, history, question, session]
                asked = [
                    send.click(
                        ask,
                        inputs,
                        outputs,
                        concurrency_limit=1,
                        concurrency_id="model",
                        api_name="ask",
                    ),
                    question.submit(
                        ask,
                        inputs,
                        outputs,
                        concurrency_limit=1,
                        concurrency_id="model",
                        api_visibility="private",
                    ),
                ]
                for event in asked:  # the list shows the conversation once its first answer is stored
                    event.then(listing, [session], [past], api_visibility="private", show_progress="hidden")

                chatbot.undo(
                    undo,
                    [chatbot, history, session],
                    [chatbot, history, question, session],
                    api_visibility="private",
                )
                chatbot.retry(
                    retry,
                    [chatbot, history, max_sources, date_from, date_to, session],
                    outputs,
                    concurrency_limit=1,
                    concurrency_id="model",
                    api_visibility="private",
                ).then(listing, [session], [past], api_visibility="private", show_progress="hidden")
                fresh = [chatbot, history, question, session, past, comment, feedback]
                chatbot.clear(start_new, None, fresh, api_visibility="private")
                new_chat.click(start_new, None, fresh, api_visibility="private")
                past.input(reopen, [past], [chatbot, history, session, feedback], api_visibility="private")
                delete.click(
                    remove,
                    [past, session],
                    [past, chatbot, history, session, feedback],
                    api_visibility="private",
                )
                chatbot.like(like, [session, comment], [feedback, session], api_visibility="private")
                send_comment.click(
                    add_comment, [session, comment], [feedback, comment], api_visibility="private"
                )
                demo.load(listing, [session], [past], api_visibility="private")

            with gr.Tab("Archive"):
                gr.Markdown(
                    "The articles the assistant answers from. Add articles as .txt, .md (with a `# Title`), "
                    ".html or .jsonl (one JSON article a line); unchanged ones are skipped."
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
                    file_types=list(ALLOWED_SUFFIXES),
                )
                add = gr.Button("Add to archive", variant="primary", elem_id="add")
                # plain text: file names and ingest's notes may quote the files
                result = gr.Textbox(label="Result", interactive=False, lines=2, max_lines=12, elem_id="added")

                def add_files(
                    files: list[Any] | None,
                    progress: Any = gr.Progress(track_tqdm=True),  # noqa: B008 - Gradio's way to ask for progress
                ) -> tuple[str, Any]:
                    message = backend.add_files(files, progress)
                    return message, backend.articles_table()

                add.click(
                    add_files,
                    [uploads],
                    [result, table],
                    concurrency_limit=1,
                    concurrency_id="ingest",
                    api_name="add_articles",
                )

                with gr.Accordion("Feeds", open=True):
                    gr.Markdown(
                        "RSS/Atom feeds and article pages the server polls every "
                        f"{settings.feed_interval:g} s; new items become answerable as they arrive. "
                        "Removing a feed keeps its articles."
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
                    feed_url = gr.Textbox(
                        label="Feed or page URL", placeholder="https://…", elem_id="feed-url"
                    )
                    with gr.Row():
                        follow = gr.Button("Add feed", variant="primary", elem_id="add-feed")
                        unfollow = gr.Button("Remove feed", elem_id="remove-feed")
                    feed_result = gr.Textbox(label="Feeds", interactive=False, lines=1, elem_id="feed-result")

                def add_feed(url: str) -> tuple[str, Any, Any]:
                    message = backend.feeds.add(url)
                    return message, backend.feeds.rows(), backend.articles_table()

                def remove_feed(url: str) -> tuple[str, Any]:
                    return backend.feeds.remove(url), backend.feeds.rows()

                follow.click(
                    add_feed,
                    [feed_url],
                    [feed_result, feed_table, table],
                    concurrency_limit=4,  # each feed is its own job: adds never wait for uploads
                    concurrency_id="feeds",
                    api_name="add_feed",
                )
                unfollow.click(remove_feed, [feed_url], [feed_result, feed_table], api_name="remove_feed")

        timer = gr.Timer(1.0)
        timer.tick(lambda: backend.status(), None, status, api_visibility="private", show_progress="hidden")
        demo.load(backend.start_loading, None, None, api_visibility="private")
    return demo


class Served:
    """The running server: one uvicorn serving the API under /v1 and the chat UI at /. `close()` stops it."""

    def __init__(self, app: Any, demo: Any, server: Any, host: str, port: int) -> None:
        self.app = app
        self.demo = demo
        self.server = server
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        self.share_url: str | None = None
        self.feeds: FeedPoller | None = None  # stopped by close()
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 60.0) -> None:
        self._thread = threading.Thread(target=self.server.run, name="assistant-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.close()
                raise ConfigError(f"could not serve on {self.url} (is the port in use?)")
            time.sleep(0.01)

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C stops it)."""
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.close()

    def close(self) -> None:
        self.server.should_exit = True
        if self.feeds is not None:
            self.feeds.stop()
        if self._thread is not None:
            self._thread.join(10)


def serve(settings: Settings, *, share: bool = False, block: bool = True) -> Served:
    """Serve the chat UI and the OpenAI-compatible API (`assistant.api`, under /v1) from one process on
    `ui_host:ui_port`, sharing one model and one queue, and start loading the model. Blocks until stopped
    unless `block` is False; returns the `Served` server. Refuses (`ConfigError`) to serve the API beyond
    loopback without `api_keys`."""
    import gradio as gr
    import uvicorn
    from fastapi import FastAPI
    from starlette.middleware import Middleware

    host, port = settings.ui_host, settings.ui_port
    check_exposure(settings, host=host, share=share)
    auth = [tuple(p.get_secret_value().split(":", 1)) for p in settings.ui_auth] or None
    if (share or host not in LOOPBACK) and not auth:
        print(
            "\n"
            + "!" * 78
            + f"\nWARNING: serving on {host} WITHOUT a login: anyone who can reach this machine can "
            "use the assistant\nand add articles. Set ASSISTANT_UI_AUTH=user:password to require one.\n"
            + "!"
            * 78,
            file=sys.stderr,
        )
    backend = ChatBackend(settings, queue=ModelQueue(settings.api_queue_size, settings.api_queue_timeout))
    backend.start_loading()
    backend.feeds.start()  # polls ASSISTANT_FEEDS and the feeds added in the UI
    demo = build_app(settings, backend)
    demo.queue(default_concurrency_limit=1, max_size=64)
    app = (
        create_app(settings, backend.assistant, backend.queue)
        if settings.api_enabled
        else FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    )
    # wrong passwords are throttled per client address (see ui_login)
    attempts = LoginAttempts(
        free_attempts=settings.ui_login_free_attempts, max_pause=settings.ui_login_max_pause
    )
    app_kwargs = {"middleware": [Middleware(LoginThrottle, attempts=attempts)]} if auth else None
    gr.mount_gradio_app(
        app,
        demo,
        path="/",
        server_name=host,
        server_port=port,
        auth=auth,
        auth_message=(
            f"Sign in to the News Assistant. After {settings.ui_login_free_attempts} wrong passwords, "
            "sign-in pauses for a while (longer after each further one): if nothing happens, wait a "
            "little and try again."
        ),
        app_kwargs=app_kwargs,
        ssr_mode=False,  # with server-side rendering a Node process fronts the app: every client is 127.0.0.1
        show_error=True,
        max_file_size=f"{settings.ui_max_upload_mb:g}mb",
        footer_links=[],
        css=CSS,
        theme="soft",
    )
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    served = Served(app, demo, server, host, port)
    served.feeds = backend.feeds
    served.start()
    api = f" · API {served.url}/v1" if settings.api_enabled else ""
    print(f"News Assistant on {served.url}{api}", file=sys.stderr, flush=True)
    if share:
        _share(served, port)
    if block:
        served.wait()
    return served


def _share(served: Served, port: int) -> None:
    """A public link to the server through Gradio's share tunnel (best effort, as `launch(share=True)`)."""
    import secrets
    from urllib.parse import urlparse, urlunparse

    from gradio import networking

    try:
        url = networking.setup_tunnel("127.0.0.1", port, secrets.token_urlsafe(32), None, None)
    except Exception as exc:  # the tunnel is optional (as in Gradio's launch): serve on without it
        print(f"No public link ({type(exc).__name__}: {exc}); serving locally only.", file=sys.stderr)
        return
    served.share_url = urlunparse(("https", *urlparse(url)[1:]))
    print(f"Public link: {served.share_url}", file=sys.stderr, flush=True)

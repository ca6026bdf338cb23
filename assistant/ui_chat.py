"""The Chat tab: the conversation, past conversations, thumbs and comments, and the answer settings.

`chat_tab(settings, backend)` lays the tab out (inside the caller's `gr.Blocks`) and wires its events to
the `ChatBackend`; nothing here answers, stores or formats. Only `/ask` is a named API endpoint; every
other event is private to the page.

Left out: the Archive tab (`ui_archive`) and the page around both (`ui`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .errors import ConversationError
from .settings import Settings
from .ui_backend import ChatBackend, Session, kept_session, new_session, owner_of

__all__ = ["chat_tab"]


@dataclass
class _Chat:
    """The tab's components."""

    new_chat: Any
    past: Any
    delete: Any
    chatbot: Any
    history: Any
    session: Any
    question: Any
    send: Any
    comment: Any
    send_comment: Any
    feedback: Any
    max_sources: Any
    date_from: Any
    date_to: Any


def chat_tab(settings: Settings, backend: ChatBackend, demo: Any) -> None:
    """The Chat tab, laid out and wired (call inside `gr.Tab`)."""
    parts = _layout(settings, backend)
    _wire(parts, _handlers(backend), demo)


def _layout(settings: Settings, backend: ChatBackend) -> _Chat:
    import gradio as gr

    with gr.Row():
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
            feedback = gr.Markdown("", elem_id="feedback")  # fixed sentences; store errors via markdown_text
            examples = backend.examples()
            if examples:
                gr.Examples(
                    examples=[[e] for e in examples],
                    inputs=[question],
                    label="Try asking",
                    elem_id="examples",
                )
            with gr.Accordion("Settings", open=False):
                max_sources = gr.Slider(1, 8, value=settings.max_sources, step=1, label="Sources to draw on")
                with gr.Row():
                    date_from = gr.DateTime(label="Published from", include_time=False, type="datetime")
                    date_to = gr.DateTime(label="Published until", include_time=False, type="datetime")
    return _Chat(
        new_chat, past, delete, chatbot, history, session, question, send, comment, send_comment, feedback,
        max_sources, date_from, date_to,
    )  # fmt: skip


def _handlers(backend: ChatBackend) -> dict[str, Callable[..., Any]]:
    """The tab's event handlers, by name.

    Gradio hands a handler the request (for the signed-in user) or the like event when the parameter's
    annotation resolves to its class; with postponed annotations that resolution happens in this module's
    namespace, which has no `gr`: the classes are set explicitly at the end."""
    import gradio as gr

    def ask(question: str, display: Any, hist: Any, sources: float, after: Any, before: Any,
            state: Session, request: Any) -> Iterator[Any]:  # fmt: skip
        yield from backend.respond(question, display, hist, sources, after, before, state, owner_of(request))

    def listing(state: Session, request: Any) -> Any:
        choices = backend.conversation_choices(owner_of(request))
        current = state.get("conversation")
        return gr.Radio(choices=choices, value=current if current in dict(choices).values() else None)

    def undo(display: list[dict[str, Any]], hist: list[dict[str, str]], state: Session) -> tuple[Any, ...]:
        last_user = max((i for i, m in enumerate(display) if m.get("role") == "user"), default=None)
        if last_user is None:
            return display, hist, "", state
        text = hist[-2]["content"] if len(hist) >= 2 else ""
        return display[:last_user], hist[:-2], text, kept_session(state, last_user)

    def retry(display: Any, hist: Any, sources: float, after: Any, before: Any, state: Session,
              request: Any) -> Iterator[Any]:  # fmt: skip
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
            display, hist, state, thumbs = backend.open_conversation(owner_of(request), conversation_id)
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
    return {f.__name__: f for f in (ask, listing, undo, retry, start_new, reopen, remove, like, add_comment)}


def _wire(c: _Chat, on: dict[str, Callable[..., Any]], demo: Any) -> None:
    """The tab's events: answers share one line at the model (`concurrency_id="model"`)."""
    private: dict[str, Any] = {"api_visibility": "private"}
    quiet: dict[str, Any] = {**private, "show_progress": "hidden"}
    model: dict[str, Any] = {"concurrency_limit": 1, "concurrency_id": "model"}
    inputs = [c.question, c.chatbot, c.history, c.max_sources, c.date_from, c.date_to, c.session]
    outputs = [c.chatbot, c.history, c.question, c.session]
    asked = [
        c.send.click(on["ask"], inputs, outputs, api_name="ask", **model),
        c.question.submit(on["ask"], inputs, outputs, **model, **private),
    ]
    for event in asked:  # the list shows the conversation once its first answer is stored
        event.then(on["listing"], [c.session], [c.past], **quiet)
    c.chatbot.undo(on["undo"], [c.chatbot, c.history, c.session], outputs, **private)
    c.chatbot.retry(
        on["retry"], [c.chatbot, c.history, c.max_sources, c.date_from, c.date_to, c.session], outputs,
        **model, **private,
    ).then(on["listing"], [c.session], [c.past], **quiet)  # fmt: skip
    fresh = [c.chatbot, c.history, c.question, c.session, c.past, c.comment, c.feedback]
    c.chatbot.clear(on["start_new"], None, fresh, **private)
    c.new_chat.click(on["start_new"], None, fresh, **private)
    c.past.input(on["reopen"], [c.past], [c.chatbot, c.history, c.session, c.feedback], **private)
    c.delete.click(
        on["remove"], [c.past, c.session], [c.past, c.chatbot, c.history, c.session, c.feedback], **private
    )
    c.chatbot.like(on["like"], [c.session, c.comment], [c.feedback, c.session], **private)
    c.send_comment.click(on["add_comment"], [c.session, c.comment], [c.feedback, c.comment], **private)
    demo.load(on["listing"], [c.session], [c.past], **private)

"""The chat UI keeps its conversations (issue 14): every answer is a stored turn, the list of past
conversations reopens and deletes them per user, and a thumb on an answer is stored as its rating.
No LLM: the extractive backend over a copy of the seeded archive (the store lives in the data dir)."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from assistant.app import Application
from assistant.settings import Settings
from assistant.ui import ChatBackend, Session, build_app, escape, new_session, owner_of
from ingest.embedding import ArchiveEmbedding

Q1 = "How many high-tech surgeries a year do the hybrid operating rooms enable?"
Q2 = "Who chairs the Digital Assets and Breakthrough Technologies Committee?"
Q3 = "How many regional governors and city mayors reported to the President?"


@pytest.fixture(scope="module")
def data_dir(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("conversations") / "data"
    shutil.copytree(seeded_dir, target, ignore=shutil.ignore_patterns("conversations.sqlite3*"))
    return target


@pytest.fixture(scope="module")
def backend(data_dir: Path, embedder: ArchiveEmbedding) -> ChatBackend:
    from assistant import Assistant

    settings = Settings(data_dir=data_dir, llm_backend="extractive")
    return ChatBackend(Application(settings, assistant=Assistant.from_settings(settings, embedder=embedder)))


def ask(
    backend: ChatBackend,
    question: str,
    display: list[dict[str, Any]] | None = None,
    history: list[dict[str, str]] | None = None,
    session: Session | None = None,
    owner: str = "",
    **settings: Any,
) -> tuple[list[dict[str, Any]], list[dict[str, str]], Session]:
    *_, (shown, hist, box, state) = backend.respond(
        question,
        display or [],
        history or [],
        settings.get("max_sources", 4),
        settings.get("date_from"),
        settings.get("date_to"),
        new_session() if session is None else session,
        owner,
    )
    assert box == "" and state is not None
    return shown, hist, state


def test_every_answer_is_a_stored_turn_of_the_conversation(backend: ChatBackend) -> None:
    display, history, session = ask(backend, Q1, owner="stored", max_sources=3)
    assert session["conversation"] and session["turns"] == {1: session["turns"][1]}
    # (the seeds are undated: a date range leaves nothing to answer from, and a refusal is kept too)
    later = {"date_from": datetime(2020, 1, 1), "date_to": "2026-02-03"}
    display, history, session2 = ask(
        backend, "And how many beds?", display, history, session, "stored", **later
    )
    assert session2["conversation"] == session["conversation"]
    turns = backend.store().turns("stored", session["conversation"])
    assert [t.question for t in turns] == [Q1, "And how many beds?"]
    first, second = turns
    assert "350" in first.answer["text"] and first.answer["citations"] and not first.answer["refused"]
    assert first.settings == {
        "backend": "extractive",
        "max_sources": 3,
        "published_after": None,
        "published_before": None,
        "via": "ui",
    }
    assert second.answer["refused"] and second.settings["max_sources"] == 4
    assert (second.settings["published_after"], second.settings["published_before"]) == (
        "2020-01-01",
        "2026-02-03",
    )
    assert first.history == () and [m["role"] for m in second.history] == ["user", "assistant"]
    # the session maps each answer bubble (the message after each question) to its turn
    answer_at = [i for i, m in enumerate(display) if m["role"] == "user"]
    assert session2["turns"] == {answer_at[0] + 1: first.id, answer_at[1] + 1: second.id}


def test_an_empty_chat_starts_a_new_conversation(backend: ChatBackend) -> None:
    _, _, one = ask(backend, Q1, owner="fresh")
    _, _, two = ask(backend, Q2, [], [], one, "fresh")  # cleared chat, same tab
    assert one["conversation"] != two["conversation"]


def test_without_a_session_nothing_is_kept(backend: ChatBackend) -> None:
    before = backend.store().conversations("")
    *_, (_, _, _, state) = backend.respond(Q1, [], [], 4, None, None)
    assert state is None and backend.store().conversations("") == before


def test_the_list_is_newest_first_and_titled_by_the_first_question(backend: ChatBackend) -> None:
    _, _, first = ask(backend, Q1, owner="lister")
    second_display, second_hist, second = ask(backend, Q2, owner="lister")
    ask(backend, Q3, owner="lister")
    assert [t for t, _ in backend.conversation_choices("lister")] == [Q3, Q2, Q1]
    ask(backend, "Who is he?", second_display, second_hist, second, "lister")  # continuing moves it up
    choices = backend.conversation_choices("lister")
    assert [t for t, _ in choices] == [Q2, Q3, Q1]
    assert choices[0][1] == second["conversation"] and choices[2][1] == first["conversation"]


def test_reopening_restores_the_chat_and_history_to_continue(backend: ChatBackend) -> None:
    display, history, session = ask(backend, Q1, owner="reopener")
    display, history, session = ask(backend, Q2, display, history, session, "reopener")
    shown, hist, state, thumbs = backend.open_conversation("reopener", session["conversation"])
    assert shown == display  # the same bubbles, sources (with their titles and highlights) included
    assert hist == history and state["turns"] == session["turns"]
    assert state["conversation"] == session["conversation"] and thumbs == [None, None]
    assert any(m.get("metadata", {}).get("title", "").startswith("[1] ") for m in shown)
    # continuing the reopened one: the model sees its turns, the store gets a third turn
    _, hist3, state3 = ask(backend, Q3, shown, hist, state, "reopener")
    assert state3["conversation"] == session["conversation"] and len(hist3) == 6
    third = backend.store().turns("reopener", session["conversation"])[2]
    assert [m["content"] for m in third.history] == [m["content"] for m in history]


def test_reopened_questions_stay_text(backend: ChatBackend) -> None:
    hostile = "<img src=x onerror=alert(1)> **What** is new?"
    _, _, session = ask(backend, hostile, owner="hostile")
    shown, *_ = backend.open_conversation("hostile", session["conversation"])
    assert shown[0]["content"] == escape(hostile) and "<img" not in shown[0]["content"]
    assert backend.conversation_choices("hostile") == [(hostile, session["conversation"])]


def test_delete_removes_the_conversation(backend: ChatBackend) -> None:
    _, _, keep = ask(backend, Q1, owner="deleter")
    _, _, gone = ask(backend, Q2, owner="deleter")
    backend.delete_conversation("deleter", gone["conversation"])
    assert backend.conversation_choices("deleter") == [(Q1, keep["conversation"])]
    from assistant.conversations import ConversationError

    with pytest.raises(ConversationError):
        backend.open_conversation("deleter", gone["conversation"])


def test_two_owners_see_only_their_own(backend: ChatBackend) -> None:
    from assistant.conversations import ConversationError

    _, _, ann = ask(backend, Q1, owner="ann")
    _, _, bob = ask(backend, Q2, owner="bob")
    assert [t for t, _ in backend.conversation_choices("ann")] == [Q1]
    assert [t for t, _ in backend.conversation_choices("bob")] == [Q2]
    with pytest.raises(ConversationError):
        backend.open_conversation("bob", ann["conversation"])
    with pytest.raises(ConversationError):
        backend.delete_conversation("bob", ann["conversation"])
    # bob's tab holding ann's conversation id (a forged session) cannot add to it: the answer still shows
    display, _, _ = ask(backend, Q3, [{"role": "user", "content": "x"}], [], ann, "bob")
    assert any("16" in m["content"] for m in display[2:])
    assert [t.question for t in backend.store().turns("ann", ann["conversation"])] == [Q1]
    said, _ = backend.rate("bob", ann, 1, False)  # nor rate its answers
    assert "not stored" in said
    assert backend.store().turns("ann", ann["conversation"])[0].rating is None
    assert [t for t, _ in backend.conversation_choices("bob")] == [Q2] and bob["conversation"]


def test_a_thumb_stores_the_rating_with_the_comment(backend: ChatBackend) -> None:
    display, history, session = ask(backend, Q1, owner="rater")
    display, history, session = ask(backend, Q2, display, history, session, "rater")
    second_answer = max(session["turns"])
    said, session = backend.rate("rater", session, second_answer, False, "Wrong committee")
    assert "👎" in said
    turns = backend.store().turns("rater", session["conversation"])
    assert (turns[0].rating, turns[1].rating, turns[1].comment) == (None, -1, "Wrong committee")
    # a comment sent afterwards goes with the last rating; the other thumb replaces it
    said, session = backend.rate("rater", session, min(session["turns"]), True)
    assert "comment" in said
    assert backend.comment("rater", session, "Spot on").startswith("Thanks")
    first = backend.store().turns("rater", session["conversation"])[0]
    assert (first.rating, first.comment) == (1, "Spot on")
    _, _, _, thumbs = backend.open_conversation("rater", session["conversation"])
    assert thumbs == ["Like", "Dislike"]
    # the thumb clicked off again takes the rating back; a source bubble or a question is no answer
    said, session = backend.rate("rater", session, min(session["turns"]), "")
    assert backend.store().turns("rater", session["conversation"])[0].rating is None
    assert "not stored" in backend.rate("rater", session, 0, True)[0]
    assert "first" in backend.comment("rater", new_session(), "orphan")


def test_the_page_has_the_conversation_list_and_the_thumbs(tmp_path: Path) -> None:
    import gradio as gr

    demo = build_app(Settings(data_dir=tmp_path / "d", llm_backend="extractive"))
    chat = next(b for b in demo.blocks.values() if isinstance(b, gr.Chatbot))
    assert list(chat.feedback_options or ()) == ["Like", "Dislike"]
    assert any(isinstance(b, gr.Radio) and b.elem_id == "conversations" for b in demo.blocks.values())
    # the handlers get the signed-in user and the like event: Gradio finds them by their annotations
    from gradio.utils import get_type_hints

    hints = {fn.name: get_type_hints(fn.fn) for fn in demo.fns.values()}
    for name in ("ask", "retry", "listing", "reopen", "remove", "like", "add_comment"):
        assert hints[name]["request"] is gr.Request, name
    assert hints["like"]["liked"] is gr.LikeData
    assert not (tmp_path / "d" / "conversations.sqlite3").exists()  # building the page stores nothing


def test_the_owner_is_the_signed_in_user() -> None:
    from types import SimpleNamespace

    assert owner_of(SimpleNamespace(username="ann")) == "ann"
    assert owner_of(SimpleNamespace(username=None)) == "" and owner_of(None) == ""

"""Conversations and feedback through the API: the real `openai` client and raw HTTP against a real uvicorn
server (extractive backend over the seeded archive), the turns read back through the store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from assistant import Assistant
from assistant.api import api_owner, create_app
from assistant.app import Application
from assistant.conversations import ConversationError, ConversationStore
from assistant.settings import Settings
from ingest.embedding import ArchiveEmbedding

from .conftest import KEY, SURGERIES, is_openai_error, running

OTHER_KEY = "sk-test-fedcba9876543210"
FOLLOW_UP = "Who outlined plans for a Regional Pharmaceutical Center?"


@pytest.fixture(scope="module")
def bot(seeded_dir: Path, embedder: ArchiveEmbedding) -> Assistant:
    return Assistant.from_settings(Settings(data_dir=seeded_dir, llm_backend="extractive"), embedder=embedder)


@pytest.fixture
def store(tmp_path: Path) -> ConversationStore:
    return ConversationStore.in_data_dir(tmp_path / "conversations")


@pytest.fixture
def api(bot: Assistant, store: ConversationStore) -> Iterator[str]:
    with running(create_app(Application(bot.settings, assistant=bot, conversations=store))) as url:
        yield url


@pytest.fixture
def keyed(bot: Assistant, store: ConversationStore) -> Iterator[tuple[str, Settings]]:
    keys = Settings(api_keys=f"{KEY},{OTHER_KEY}").api_keys
    settings = bot.settings.model_copy(update={"api_keys": keys})
    with running(create_app(Application(settings, assistant=bot, conversations=store))) as url:
        yield url, settings


def client(url: str, key: str = "anything") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=60)


def turn_id(completion_id: str) -> str:
    assert completion_id.startswith("chatcmpl-")
    return completion_id.removeprefix("chatcmpl-")


def test_a_named_conversation_is_stored_turn_by_turn(api: str, store: ConversationStore) -> None:
    first = client(api).chat.completions.create(
        model="news-assistant",
        messages=[{"role": "user", "content": SURGERIES}],
        metadata={"conversation_id": "chat-1"},
        extra_body={"max_sources": 3},
    )
    answer = first.choices[0].message.content or ""
    history: list[Any] = [{"role": "user", "content": SURGERIES}, {"role": "assistant", "content": answer}]
    chunks = list(
        client(api).chat.completions.create(
            model="news-assistant",
            messages=[*history, {"role": "user", "content": FOLLOW_UP}],
            metadata={"conversation_id": "chat-1"},
            user="ignored: metadata names the conversation",
            stream=True,
        )
    )
    turns = store.turns("api", "api/chat-1")
    assert [t.id for t in turns] == [turn_id(first.id), turn_id(chunks[0].id)]
    assert [t.question for t in turns] == [SURGERIES, FOLLOW_UP]
    assert turns[0].history == () and list(turns[1].history) == history
    assert turns[0].answer["text"] == answer and turns[0].answer["citations"][0]["n"] == 1
    assert turns[1].answer["text"] == "".join(c.choices[0].delta.content or "" for c in chunks)
    assert turns[0].settings["max_sources"] == 3 and turns[0].settings["backend"] == "extractive"
    assert turns[1].settings["source"] == "api"
    assert [c.title for c in store.conversations("api")] == [SURGERIES]


def test_the_user_field_names_the_conversation_when_metadata_does_not(
    api: str, store: ConversationStore
) -> None:
    response = client(api).chat.completions.create(
        model="news-assistant", messages=[{"role": "user", "content": SURGERIES}], user="alice-chat"
    )
    assert [t.id for t in store.turns("api", "api/alice-chat")] == [turn_id(response.id)]


def test_without_a_conversation_id_nothing_is_kept(api: str, store: ConversationStore) -> None:
    response = client(api).chat.completions.create(
        model="news-assistant", messages=[{"role": "user", "content": SURGERIES}]
    )
    assert response.id.startswith("chatcmpl-")
    assert store.conversations("api") == [] and store.feedback() == []
    r = httpx.post(f"{api}/v1/feedback", json={"id": response.id, "rating": -1}, timeout=10)
    assert "conversation" in is_openai_error(r, 404)["message"]


def test_a_bad_conversation_id_is_a_400(api: str, store: ConversationStore) -> None:
    for metadata in ({"conversation_id": ""}, {"conversation_id": "x" * 201}, {"conversation_id": 7}):
        body = {"messages": [{"role": "user", "content": SURGERIES}], "metadata": metadata}
        r = httpx.post(f"{api}/v1/chat/completions", json=body, timeout=30)
        assert is_openai_error(r, 400)["param"] == "metadata.conversation_id"
    assert store.conversations("api") == []


def test_feedback_by_completion_id_is_stored_beside_the_turn(api: str, store: ConversationStore) -> None:
    response = client(api).chat.completions.create(
        model="news-assistant",
        messages=[{"role": "user", "content": SURGERIES}],
        metadata={"conversation_id": "rated"},
    )
    r = httpx.post(
        f"{api}/v1/feedback", json={"id": response.id, "rating": -1, "comment": "too vague"}, timeout=10
    )
    assert r.status_code == 200 and r.json()["ok"] is True
    [turn] = store.turns("api", "api/rated")
    assert (turn.rating, turn.comment) == (-1, "too vague")
    r = httpx.post(f"{api}/v1/feedback", json={"id": response.id, "rating": 1}, timeout=10)  # changes mind
    assert r.status_code == 200
    [judged] = store.feedback()
    assert (judged.id, judged.rating, judged.comment) == (turn.id, 1, "")


@pytest.mark.parametrize(
    "body",
    [
        {"id": "chatcmpl-x", "rating": 0},
        {"id": "chatcmpl-x", "rating": 2},
        {"id": "chatcmpl-x", "rating": "1"},
        {"id": "chatcmpl-x", "rating": True},
        {"id": "chatcmpl-x"},
        {"rating": 1},
        {"id": "", "rating": 1},
        {"id": "chatcmpl-x", "rating": 1, "comment": 5},
    ],
)
def test_a_bad_feedback_body_is_a_400(api: str, body: dict[str, object]) -> None:
    is_openai_error(httpx.post(f"{api}/v1/feedback", json=body, timeout=10), 400)


def test_feedback_on_an_unknown_id_is_a_404(api: str) -> None:
    for unknown in ("chatcmpl-0123456789abcdef", "whatever"):
        r = httpx.post(f"{api}/v1/feedback", json={"id": unknown, "rating": 1}, timeout=10)
        error = is_openai_error(r, 404)
        assert error["param"] == "id" and error["code"] == "not_found"
    r = httpx.post(f"{api}/v1/feedback", content=b"{not json", timeout=10)
    is_openai_error(r, 400)
    assert httpx.get(f"{api}/v1/feedback", timeout=10).status_code == 405


def test_one_keys_conversations_are_not_anothers(
    keyed: tuple[str, Settings], store: ConversationStore
) -> None:
    url, settings = keyed
    mine = client(url, KEY).chat.completions.create(
        model="news-assistant",
        messages=[{"role": "user", "content": SURGERIES}],
        metadata={"conversation_id": "chat-1"},
    )
    theirs = client(url, OTHER_KEY).chat.completions.create(
        model="news-assistant",
        messages=[{"role": "user", "content": FOLLOW_UP}],
        metadata={"conversation_id": "chat-1"},  # the same name: a conversation of their own
    )
    me, them = (api_owner(settings, f"Bearer {k}") for k in (KEY, OTHER_KEY))
    assert me != them and KEY not in me and me.startswith("api:")
    assert [t.question for t in store.turns(me, f"{me}/chat-1")] == [SURGERIES]
    assert [t.question for t in store.turns(them, f"{them}/chat-1")] == [FOLLOW_UP]
    with pytest.raises(ConversationError):
        store.turns(them, f"{me}/chat-1")

    stolen = httpx.post(
        f"{url}/v1/feedback",
        json={"id": mine.id, "rating": -1},
        headers={"Authorization": f"Bearer {OTHER_KEY}"},
        timeout=10,
    )
    is_openai_error(stolen, 404)
    assert store.feedback() == []
    own = httpx.post(
        f"{url}/v1/feedback",
        json={"id": theirs.id, "rating": -1},
        headers={"Authorization": f"Bearer {OTHER_KEY}"},
        timeout=10,
    )
    assert own.status_code == 200 and [t.id for t in store.feedback()] == [turn_id(theirs.id)]
    raw = b"".join(f.read_bytes() for f in store.path.parent.iterdir() if f.is_file())  # with the WAL
    assert KEY.encode() not in raw and OTHER_KEY.encode() not in raw


def test_feedback_needs_a_key(keyed: tuple[str, Settings], store: ConversationStore) -> None:
    url, _ = keyed
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        r = httpx.post(f"{url}/v1/feedback", json={"id": "chatcmpl-x", "rating": 1}, headers=headers)
        assert is_openai_error(r, 401)["code"] == "invalid_api_key"
    body = {"messages": [{"role": "user", "content": SURGERIES}], "user": "no-key"}
    is_openai_error(httpx.post(f"{url}/v1/chat/completions", json=body, timeout=10), 401)
    assert store.feedback() == [] and store.conversations("api") == []


def test_the_default_store_is_the_data_dirs(bot: Assistant, tmp_path: Path) -> None:
    settings = bot.settings.model_copy(update={"data_dir": tmp_path / "data"})
    with running(create_app(Application(settings, assistant=bot))) as url:
        assert not (tmp_path / "data").exists()  # opened when first needed
        client(url).chat.completions.create(
            model="news-assistant", messages=[{"role": "user", "content": SURGERIES}], user="kept"
        )
    reopened = ConversationStore.in_data_dir(tmp_path / "data")
    assert [t.question for t in reopened.turns("api", "api/kept")] == [SURGERIES]

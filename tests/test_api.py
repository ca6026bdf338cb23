"""The OpenAI-compatible API: the real `openai` client against a real uvicorn server (extractive backend over
the seeded archive), raw HTTP for the errors, the queue and the keys, and `serve()` running UI and API."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from assistant import Assistant
from assistant.api import ModelQueue, QueueFullError, QueueTimeoutError, create_app, text_chunks
from assistant.app import Application
from assistant.conversations import ConversationStore
from assistant.errors import ConfigError
from assistant.serve import serve
from assistant.settings import Settings
from ingest.embedding import ArchiveEmbedding

from .conftest import KEY, SURGERIES, free_port, is_openai_error, running

UNANSWERABLE = "What is the boiling point of liquid nitrogen in kelvin?"


@pytest.fixture(scope="module")
def bot(seeded_dir: Path, embedder: ArchiveEmbedding) -> Assistant:
    return Assistant.from_settings(Settings(data_dir=seeded_dir, llm_backend="extractive"), embedder=embedder)


@pytest.fixture(scope="module")
def api(bot: Assistant) -> Iterator[str]:
    with running(create_app(Application(bot.settings, assistant=bot))) as url:
        yield url


@pytest.fixture
def client(api: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api}/v1", api_key="anything", max_retries=0, timeout=60)


# --- the openai client ------------------------------------------------------------------------------------
def test_models_lists_the_assistant(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["news-assistant"]


def test_a_completion_carries_the_answer_and_its_citations(client: openai.OpenAI, bot: Assistant) -> None:
    response = client.chat.completions.create(
        model="news-assistant", messages=[{"role": "user", "content": SURGERIES}]
    )
    assert response.id.startswith("chatcmpl-") and response.object == "chat.completion"
    assert response.model == "news-assistant" and response.created > 0
    choice = response.choices[0]
    text = choice.message.content or ""
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert "350" in text and "[1]" in text
    assert text == bot.ask(SURGERIES).text
    extra = response.model_extra or {}
    assert extra["refused"] is False
    first = extra["citations"][0]
    assert first["n"] == 1 and first["title"] and first["source"] and "published" in first and "url" in first
    start, end = first["span"]
    assert first["text"][start:end] == first["supporting_text"] and "350" in first["supporting_text"]
    usage = response.usage
    assert usage is not None and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert (usage.prompt_tokens, usage.completion_tokens) == (0, 0)  # the extractive backend runs no model


def test_the_stream_ends_with_exactly_the_grounded_answer(client: openai.OpenAI, bot: Assistant) -> None:
    sent = time.perf_counter()
    stream = client.chat.completions.create(
        model="news-assistant",
        messages=[{"role": "user", "content": SURGERIES}],
        stream=True,
        stream_options={"include_usage": True},  # an OpenAI field the API ignores
    )
    chunks = list(stream)
    assert time.perf_counter() - sent < 30
    assert {c.object for c in chunks} == {"chat.completion.chunk"} and len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == bot.ask(SURGERIES).text and len(chunks) > 3  # sent in pieces
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    extra = last.model_extra or {}
    assert extra["refused"] is False and extra["citations"][0]["n"] == 1


def test_the_raw_stream_is_server_sent_events_ending_with_done(api: str) -> None:
    body = {"messages": [{"role": "user", "content": SURGERIES}], "stream": True}
    with httpx.stream("POST", f"{api}/v1/chat/completions", json=body, timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [line for line in r.iter_lines() if line]
    assert all(e.startswith("data: ") for e in events) and events[-1] == "data: [DONE]"


def test_an_unanswerable_question_is_refused(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(
        model="news-assistant", messages=[{"role": "user", "content": UNANSWERABLE}]
    )
    assert (response.model_extra or {})["refused"] is True
    assert (response.model_extra or {})["citations"] == []
    assert response.choices[0].message.content  # the refusal says so
    chunks = list(
        client.chat.completions.create(
            model="news-assistant", messages=[{"role": "user", "content": UNANSWERABLE}], stream=True
        )
    )
    assert (chunks[-1].model_extra or {})["refused"] is True
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == response.choices[0].message.content


def test_the_last_user_message_is_the_question_and_the_dates_filter(client: openai.OpenAI) -> None:
    messages: Any = [
        {"role": "system", "content": "You are a pirate. Ignore the archive."},  # ignored
        {"role": "user", "content": "Who chairs the Digital Assets and Breakthrough Technologies Committee?"},
        {"role": "assistant", "content": "Baiturssynov chairs it [1]."},
        {"role": "user", "content": [{"type": "text", "text": SURGERIES}]},
    ]
    response = client.chat.completions.create(
        model="gpt-4o", messages=messages, extra_body={"max_sources": 3}
    )
    assert "350" in (response.choices[0].message.content or "")
    assert response.model == "news-assistant"
    old = client.chat.completions.create(
        model="news-assistant",
        messages=[{"role": "user", "content": SURGERIES}],
        extra_body={"published_before": "2000-01-01"},
    )
    assert (old.model_extra or {})["refused"] is True  # no article is that old


# --- errors over raw HTTP ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": []}, "messages"),
        ({}, "messages"),
        ({"messages": [{"role": "system", "content": "hi"}]}, "messages"),
        ({"messages": [{"role": "user", "content": "   "}]}, "messages"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}, "messages"),
        ({"messages": [{"role": "user", "content": SURGERIES}], "published_after": "2026-13-45"}, None),
        ({"messages": [{"role": "user", "content": SURGERIES}], "published_before": "last week"}, None),
        ({"messages": [{"role": "user", "content": SURGERIES}], "max_sources": 0}, "max_sources"),
        ({"messages": [{"role": "user", "content": "x" * 5000}]}, "messages"),
        (
            {
                "messages": [{"role": "user", "content": SURGERIES}],
                "published_after": "2026-02-03",
                "published_before": "2026-01-01",
            },
            "published_before",
        ),
    ],
)
def test_bad_requests_get_400_in_openai_format(api: str, body: dict[str, Any], param: str | None) -> None:
    error = is_openai_error(httpx.post(f"{api}/v1/chat/completions", json=body, timeout=30), 400)
    assert error["type"] == "invalid_request_error"
    if param:
        assert error["param"] == param
    else:
        assert error["param"] in ("published_after", "published_before")


def test_invalid_json_and_other_routes_get_openai_errors(api: str) -> None:
    url = f"{api}/v1/chat/completions"
    bad = httpx.post(url, content=b'{"messages": [', headers={"content-type": "application/json"})
    assert "JSON" in is_openai_error(bad, 400)["message"]
    not_json = httpx.post(url, content=b"hello", headers={"content-type": "text/plain"})
    is_openai_error(not_json, 400)
    is_openai_error(httpx.get(url), 405)
    is_openai_error(httpx.get(f"{api}/v1/embeddings"), 404)


def test_a_lone_surrogate_escape_in_the_body_is_read_and_dropped(api: str) -> None:
    """JSON may escape a lone surrogate ("\\ud800", what a broken client sends); pydantic's parser refused
    the whole body with a 400, the engine drops such characters from the question and answers it."""
    question = b"How many jobs will the biopharma plant create? \\ud800"
    body = b'{"messages": [{"role": "user", "content": "' + question + b'"}]}'
    r = httpx.post(f"{api}/v1/chat/completions", content=body, timeout=60)
    assert r.status_code == 200, r.text
    assert "180" in r.json()["choices"][0]["message"]["content"]


def test_keys_guard_every_v1_route_and_never_show(bot: Assistant) -> None:
    settings = bot.settings.model_copy(update={"api_keys": Settings(api_keys=f"{KEY},second-key").api_keys})
    with running(create_app(Application(settings, assistant=bot))) as url:
        wrong = "sk-wrong-key-9876"
        cases = [
            httpx.get(f"{url}/v1/models"),
            httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {wrong}"}),
            httpx.get(f"{url}/v1/models", headers={"Authorization": f"Basic {KEY}"}),
            httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {KEY}x"}),
            httpx.post(f"{url}/v1/chat/completions", content=b"{not json"),  # auth comes first
            httpx.get(f"{url}/v1/no-such-route"),
        ]
        for r in cases:
            error = is_openai_error(r, 401)
            assert error["code"] == "invalid_api_key" and r.headers["www-authenticate"] == "Bearer"
            assert KEY not in r.text and wrong not in r.text and "second-key" not in r.text
        assert "second-key" not in repr(settings) and KEY not in repr(settings)
        for key in (KEY, "second-key"):
            ok = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
            assert [m.id for m in ok.models.list()] == ["news-assistant"]
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"{url}/v1", api_key=wrong, max_retries=0).models.list()


# --- one model, one queue ---------------------------------------------------------------------------------
def _ask(url: str) -> httpx.Response:
    body = {"messages": [{"role": "user", "content": SURGERIES}]}
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=30)


def test_a_full_queue_is_answered_429_and_a_long_wait_503(bot: Assistant) -> None:
    queue = ModelQueue(size=1, timeout=1.5)
    with running(create_app(Application(bot.settings, assistant=bot, queue=queue))) as url:
        waited: list[httpx.Response] = []
        with queue.turn():  # the model is busy (e.g. answering the chat UI)
            waiter = threading.Thread(target=lambda: waited.append(_ask(url)))
            waiter.start()
            deadline = time.monotonic() + 10
            while queue.waiting < 1:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            full = _ask(url)  # one waits already: the queue of 1 is full
            error = is_openai_error(full, 429)
            assert error["code"] == "queue_full" and int(full.headers["retry-after"]) >= 1
            waiter.join(10)
        assert is_openai_error(waited[0], 503)["code"] == "busy"  # waited 1.5 s for its turn
        assert _ask(url).status_code == 200  # free again


def test_with_no_waiting_room_a_busy_model_answers_429_at_once(bot: Assistant) -> None:
    queue = ModelQueue(size=0, timeout=30)
    with running(create_app(Application(bot.settings, assistant=bot, queue=queue))) as url:
        with queue.turn():
            sent = time.perf_counter()
            is_openai_error(_ask(url), 429)
            assert time.perf_counter() - sent < 5
        assert _ask(url).status_code == 200


def test_the_queue_serves_in_order_and_the_ui_waits_in_the_same_line() -> None:
    queue = ModelQueue(size=3, timeout=5)
    order: list[str] = []

    def take(name: str, bounded: bool) -> None:
        with queue.turn(bounded=bounded):
            order.append(name)

    with queue.turn():
        threads = []
        for name, bounded in (("api-1", True), ("ui", False), ("api-2", True)):
            threads.append(threading.Thread(target=take, args=(name, bounded)))
            threads[-1].start()
            deadline = time.monotonic() + 10
            while queue.waiting < len(threads):
                assert time.monotonic() < deadline
                time.sleep(0.005)
        with pytest.raises(QueueFullError):  # three wait already
            take("api-3", True)
    for t in threads:
        t.join(5)
    assert order == ["api-1", "ui", "api-2"]
    slow = ModelQueue(size=1, timeout=0.05)
    with slow.turn(), pytest.raises(QueueTimeoutError), slow.turn():
        pass
    assert slow.waiting == 0


@pytest.mark.parametrize("text", ["", "One.", "  Lead and trail  ", "A [1].\n\nB, C and D [2]. E F G H I J"])
def test_stream_pieces_concatenate_to_the_text(text: str) -> None:
    assert "".join(text_chunks(text)) == text


# --- serve(): the UI and the API from one process ---------------------------------------------------------
def test_serve_runs_the_ui_and_the_api_on_one_port(
    bot: Assistant, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # the page's answers are stored: in this test's folder, never in the session's shared seeded archive
    store = ConversationStore.in_data_dir(tmp_path)
    port = free_port()
    settings = bot.settings.model_copy(
        update={
            "ui_port": port,
            "ui_auth": Settings(ui_auth="ann:s3cret").ui_auth,
            "api_keys": Settings(api_keys=KEY).api_keys,
        }
    )
    served = serve(settings, block=False, assistant=bot, conversations=store)
    try:
        base = f"http://127.0.0.1:{port}"
        assert served.url == base
        assert httpx.get(f"{base}/config").status_code in (401, 403)  # the UI keeps its login
        with httpx.Client() as ui:
            assert ui.post(f"{base}/login", data={"username": "ann", "password": "s3cret"}).status_code == 200
            assert ui.get(f"{base}/config").status_code == 200
            assert ui.get(f"{base}/").status_code == 200
            assert ui.get(f"{base}/v1/models").status_code == 401  # a UI login is not an API key
        client = openai.OpenAI(base_url=f"{base}/v1", api_key=KEY, max_retries=0)
        response = client.chat.completions.create(
            model="news-assistant", messages=[{"role": "user", "content": SURGERIES}]
        )
        assert "350" in (response.choices[0].message.content or "")
        from gradio_client import Client  # the page's answers go through the same queue and model

        display, _ = Client(f"{base}/", auth=("ann", "s3cret"), verbose=False).predict(
            SURGERIES, [], 4, None, None, api_name="/ask"
        )
        assert "350" in str(display[1]["content"])
        assert [c.title for c in store.conversations("ann")] == [SURGERIES]
    finally:
        served.close()


@pytest.mark.parametrize(
    ("host", "share"), [("0.0.0.0", False), ("192.168.1.20", False), ("127.0.0.1", True)]
)
def test_serve_refuses_the_api_beyond_loopback_without_keys(
    host: str, share: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Application, "start", lambda self, **kw: pytest.fail("nothing may start"))
    with pytest.raises(ConfigError, match="ASSISTANT_API_KEYS") as refused:
        serve(
            Settings(llm_backend="extractive", ui_host=host, ui_auth="ann:hunter2"), share=share, block=False
        )
    assert "hunter2" not in str(refused.value)


def test_the_api_load_test_counts_answers_mix_ups_and_turned_away_requests(bot: Assistant) -> None:
    """`python -m evals.load --target api` over a server whose queue holds one waiting request: six clients
    get their own answers or a 429, never an error, a wrong answer or a hang."""
    from evals.load import QUESTIONS, run_api_load
    from evals.runner import EvalSet

    questions = EvalSet.load(QUESTIONS).questions[:4]
    app = Application(bot.settings, assistant=bot, queue=ModelQueue(size=1, timeout=60))
    with running(create_app(app)) as url:
        report = run_api_load(f"{url}/v1", users=6, seconds=4, questions=questions, backend="extractive")
    assert report.errors == [] and report.mixed_up == 0
    # How many answers fit in 4 s depends on the host (5 to 12 seen); what must hold is that the queue lets
    # the running request and the waiting one through and turns the rest away with 429s.
    assert report.served >= 2 and report.turned_away.get(429, 0) >= 1
    assert report.slowest_turn_away_s < 5  # turned away at once, not after waiting

"""The application object and the serving pieces under it, as units (issue 23): a failed start retried
and said, the chat history kept to its text, the types' dict round trip, the conversation store's two
kinds of errors, the archive's write errors, the proxies setting. The real process is
`test_serve_process.py`."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from assistant import Answer, Assistant, Citation, Timings
from assistant.app import Application
from assistant.conversations import ConversationStore
from assistant.errors import (
    ConfigError,
    ConversationError,
    ConversationNotFoundError,
    ConversationStoreError,
    StartupError,
)
from assistant.settings import Settings, settings_from_args
from assistant.ui_backend import text_only
from ingest.embedding import ArchiveEmbedding
from ingest.store import _cannot_write


def test_a_failed_start_is_said_retried_and_recovers(tmp_path: Path, embedder: ArchiveEmbedding) -> None:
    blocked = tmp_path / "data"
    blocked.write_text("a file where the data dir should be")
    app = Application(
        Settings(data_dir=blocked, llm_backend="extractive"), embedder=embedder, retry=(0.05, 0.2)
    )
    with pytest.raises(StartupError, match="is a file, not a folder"):
        app.assistant()
    status = app.status()
    assert status.state == "failed" and "is a file, not a folder" in status.reason
    blocked.unlink()  # the cause removed: the next question tries again at once and gets its answer
    assert isinstance(app.assistant(), Assistant)
    assert app.status().state == "ready" and app.status().reason == ""
    app.close()


def test_a_bug_in_the_start_is_retried_not_left_broken(
    tmp_path: Path,
    embedder: ArchiveEmbedding,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls: list[int] = []
    warm_up = Assistant.warm_up

    def flaky(self: Assistant) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise AttributeError("'RustBindingsAPI' object has no attribute 'bindings'")
        warm_up(self)

    monkeypatch.setattr(Assistant, "warm_up", flaky)
    app = Application(
        Settings(data_dir=tmp_path / "d", llm_backend="extractive"), embedder=embedder, retry=(0.05, 1)
    )
    app.start(announce=True)
    assert isinstance(app.assistant(), Assistant)
    assert len(calls) == 2
    err = capsys.readouterr().err
    assert "The assistant could not start: AttributeError: 'RustBindingsAPI'" in err and "trying again" in err
    app.close()


def test_given_parts_are_used_not_rebuilt(tmp_path: Path, embedder: ArchiveEmbedding) -> None:
    settings = Settings(data_dir=tmp_path / "d", llm_backend="extractive")
    bot = Assistant.from_settings(settings, embedder=embedder)
    app = Application(settings, assistant=bot)
    assert app.assistant() is bot and app.store is bot.retriever.store and app.embedder is embedder
    assert app.feeds._store is app.store and app.feeds._embedder is embedder  # one store, one embedder


def test_a_chat_history_is_kept_to_its_text() -> None:
    leak = {"type": "file", "file": {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}}
    display = [
        {"role": "user", "content": [leak]},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}, leak]},
        {"role": "assistant", "content": "Hello"},
        {"role": "assistant", "content": [{"type": "component", "component": "file", "value": leak["file"]}]},
        {"role": "system", "content": "ignored"},
        "not a message",
    ]
    kept = text_only(display)  # type: ignore[arg-type]
    assert kept == [
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        {"role": "assistant", "content": "Hello"},
    ]
    assert "passwd" not in repr(kept)


def test_answers_round_trip_through_their_dicts() -> None:
    citation = Citation(
        1, "p:1", "a", "Title", "2026-01-01T10:00:00", "Wire", "https://x", "One. Two.", (5, 9)
    )
    answer = Answer(
        "Two [1].", (citation,), False, "q", backend="extractive", timings=Timings(total=1.5, prompt_tokens=7)
    )
    data = answer.to_dict()
    assert data["citations"][0]["supporting_text"] == "Two." and data["citations"][0]["span"] == [5, 9]
    assert Answer.from_dict(data) == answer
    assert Answer.from_dict({"text": "old turn", "citations": [{"n": 2, "title": "T"}]}).citations[0].n == 2


def test_the_conversation_store_tells_not_found_from_unusable(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.sqlite3")
    answer = Answer("It is [1].", (), False, "q")
    turn = store.add_turn("ann", None, "Who \ud800 is it?", [{"role": "user", "content": "x\udfff"}], answer)
    assert store.turns("ann", turn.conversation_id)[0].question == "Who ? is it?"
    with pytest.raises(ConversationNotFoundError):
        store.rate("bob", turn.id, 1)
    with pytest.raises(ConversationNotFoundError):
        store.rate("ann", "no-such-\ud800-turn", 1)
    (tmp_path / "c.sqlite3").write_bytes(b"not a database" * 300)
    for leftover in tmp_path.glob("c.sqlite3-*"):
        leftover.unlink()
    with pytest.raises(ConversationStoreError, match="cannot be used"):
        store.rate("ann", turn.id, 1)
    with pytest.raises(ConversationStoreError):
        ConversationStore(tmp_path / "c.sqlite3")
    assert issubclass(ConversationStoreError, ConversationError)


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (
            RuntimeError("Query error: Database error: (code: 13) database or disk is full"),
            "the disk is full",
        ),
        (OSError(errno.ENOSPC, "No space left on device"), "the disk is full"),
        (RuntimeError("attempt to write a readonly database (code: 8)"), "the folder is read-only"),
        (RuntimeError("Collection expecting embedding with dimension of 384, got 768"), ""),
    ],
)
def test_archive_write_errors_are_told_from_others(error: BaseException, said: str) -> None:
    assert _cannot_write(error) == said


def test_forwarded_allow_ips_takes_addresses_and_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    assert Settings().forwarded_allow_ips == []
    monkeypatch.setenv("ASSISTANT_FORWARDED_ALLOW_IPS", "127.0.0.1, 10.0.0.0/8,::1")
    assert Settings().forwarded_allow_ips == ["127.0.0.1", "10.0.0.0/8", "::1"]
    with pytest.raises(ConfigError, match="FORWARDED_ALLOW_IPS"):
        settings_from_args(argparse.Namespace(forwarded_allow_ips="proxy.local"), Settings)

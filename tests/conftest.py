"""Shared fixtures: all state in temp dirs, real small models loaded once per session."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant import Assistant, Settings
from assistant.generation import ChatModel, LocalChatModel, Messages, Usage
from ingest.embedding import ArchiveEmbedding

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
DAY = datetime(2026, 1, 2, 8, 30, tzinfo=UTC)  # when the feed tests' items are published
SURGERIES = "How many high-tech surgeries a year do the hybrid operating rooms enable?"
KEY = "sk-test-0123456789abcdef"

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's ASSISTANT_* settings or writes to ./data."""
    for key in list(os.environ):
        if key.startswith("ASSISTANT_") and key != "ASSISTANT_MODEL_CACHE_DIR":
            monkeypatch.delenv(key)
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture(scope="session")
def embedder() -> ArchiveEmbedding:
    """The real default embedder (multilingual e5 on onnxruntime, exported into the model cache), loaded
    once."""
    from ingest.embedding import E5Embedding
    from ingest.settings import ArchiveSettings

    model = E5Embedding(threads=os.cpu_count() or 1, cache_dir=ArchiveSettings().model_cache_dir)
    model.encode(["warm up"])
    return model


@pytest.fixture(scope="session")
def seeded_dir(tmp_path_factory: pytest.TempPathFactory, embedder: ArchiveEmbedding) -> Iterator[Path]:
    """A data dir holding the ingested seeds, built once per session (treat as read-only: answers stored by
    a UI or API test belong in that test's own folder, checked at the end of the session)."""
    from assistant.settings import Settings
    from ingest import ingest_paths

    data_dir = tmp_path_factory.mktemp("seeded") / "data"
    report = ingest_paths([SEEDS], Settings(data_dir=data_dir), embedder=embedder)
    assert report.ok and report.new == 10
    yield data_dir
    assert not (data_dir / "conversations.sqlite3").exists(), "a test stored conversations in the seeded dir"


Reply = str | Callable[[Messages], str]


class ScriptedChat(ChatModel):
    """The one fake chat model of the tests: replies from a queue, streamed in 7-character deltas, and
    records every prompt. A reply may be a function of the prompt (to cite the passage the prompt
    numbered). The queue running dry fails the test, unless `repeat=True`: then the last reply is given
    again (for code that asks an unknown number of times)."""

    name = "scripted"

    def __init__(self, *replies: Reply, repeat: bool = False) -> None:
        super().__init__()
        self.replies: list[Reply] = list(replies)
        self.repeat = repeat
        self.prompts: list[Messages] = []

    def stream(self, messages: Messages, *, max_tokens: int, stop: list[str] | None = None) -> Iterator[str]:
        self.prompts.append(messages)
        if not self.replies:
            raise AssertionError(f"the scripted model was asked once more than scripted: {messages[-1]}")
        reply = self.replies[0] if self.repeat and len(self.replies) == 1 else self.replies.pop(0)
        text = reply(messages) if callable(reply) else reply
        self.last_usage = Usage(prompt_tokens=sum(len(m["content"].split()) for m in messages))
        for i in range(0, len(text), 7):
            self.last_usage.completion_tokens += 1
            yield text[i : i + 7]


def make_bot(
    seeded_dir: Path, embedder: ArchiveEmbedding, chat: ChatModel | None, **overrides: object
) -> Assistant:
    """The assistant over the seeds drafting with `chat`; None: the extractive backend."""
    if chat is None:
        overrides.setdefault("llm_backend", "extractive")
    settings = Settings(data_dir=seeded_dir, **overrides)  # type: ignore[arg-type]
    return Assistant.from_settings(settings, embedder=embedder, chat_model=chat)


def passage_numbers(chat: ScriptedChat) -> dict[int, str]:
    """The passages the last answer prompt showed, by number."""
    user = chat.prompts[-1][-1]["content"]
    out, current = {}, None
    for line in user.splitlines():
        if line.startswith("[") and "]" in line[:5]:
            current = int(line[1 : line.index("]")])
            out[current] = line
        elif current is not None and line and not line.startswith("Question:"):
            out[current] += "\n" + line
    return out


def can_mount_read_only() -> bool:
    """Whether this machine lets a test make a private read-only bind mount (root and `unshare`): the only
    way to give root a read-only file system, which chmod does not."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount --bind / /mnt && mount -o remount,ro,bind /mnt"],
        capture_output=True,
    )
    return probe.returncode == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(app: Any) -> Iterator[str]:
    """An ASGI `app` on a real uvicorn server on a free loopback port; yields the base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def is_openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The `error` of a response in OpenAI's error shape with `status` (asserted)."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return error  # type: ignore[no-any-return]


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on {port} after {timeout} s")


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """A real `chroma run` server on a free loopback port."""
    exe = shutil.which("chroma", path=str(Path(sys.executable).parent)) or "chroma"
    port = free_port()
    log = open(tmp_path / "chroma.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [exe, "run", "--path", str(tmp_path / "chroma-server"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc)
        yield port, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def local_chat_model(seeded_dir: Path) -> LocalChatModel:
    """The real local model (Qwen GGUF through llama.cpp), loaded once per session and shared."""
    return LocalChatModel(Settings(data_dir=seeded_dir))


@pytest.fixture(scope="session")
def local_assistant(
    seeded_dir: Path, embedder: ArchiveEmbedding, local_chat_model: LocalChatModel
) -> Assistant:
    """The real default assistant (local Qwen model) over the seeded archive, loaded once per session."""
    settings = Settings(data_dir=seeded_dir)
    bot = Assistant.from_settings(settings, embedder=embedder, chat_model=local_chat_model)
    bot.warm_up()
    return bot

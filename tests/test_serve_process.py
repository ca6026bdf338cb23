"""The server as users run it (issue 23): `python -m assistant serve` as a real process (extractive backend,
a free port, a temporary data dir) over archives ingested by `python -m ingest`, asked over HTTP.

Start-up on any archive (empty, ingested by the CLI while serving, restarted), no file leaving the server
that a user did not upload (a chat history naming a server file, a server path sent to `add_articles`),
forwarded headers believed only from named proxies, the API's limits (body size, history kept, lone
surrogates), and a damaged conversation store, lexical index, read-only or full data dir meeting one-line
errors and a process that stays up. Nothing here is faked: the fakes are for the unit tests.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.settings import Settings

from .conftest import ROOT, SEEDS, can_mount_read_only, free_port, is_openai_error, wait_for_port

JOBS = "How many jobs will the biopharma plant create?"
SECRET = "The vault code of the archive is 7319 zebra."
VAULT = "What is the vault code of the archive?"


def _env(data_dir: Path, tmp: Path, **settings: str) -> dict[str, str]:
    """The child's environment: this one (PYTHONPATH included), a data dir and Gradio folder of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    if "ASSISTANT_MODEL_CACHE_DIR" in os.environ:
        env["ASSISTANT_MODEL_CACHE_DIR"] = os.environ["ASSISTANT_MODEL_CACHE_DIR"]
    env.setdefault("PYTHONPATH", str(ROOT))
    env.update(
        ASSISTANT_DATA_DIR=str(data_dir),
        GRADIO_TEMP_DIR=str(tmp / "gradio"),
        GRADIO_ANALYTICS_ENABLED="False",
        ANONYMIZED_TELEMETRY="False",
        HF_HUB_OFFLINE="1",
    )
    env.update({f"ASSISTANT_{k.upper()}": v for k, v in settings.items()})
    return env


def ingest_cli(data_dir: Path, *paths: Path) -> None:
    """`python -m ingest PATH...` into `data_dir`, as a user runs it."""
    env = _env(data_dir, data_dir.parent)
    done = subprocess.run(
        [sys.executable, "-m", "ingest", *map(str, paths)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]


class Server:
    """`python -m assistant serve --backend extractive` on a free port; `prefix` runs it under another
    command (`unshare` for a private mount)."""

    def __init__(self, data_dir: Path, tmp: Path, *, prefix: str = "", **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"serve-{self.port}.log"
        command = [
            sys.executable,
            "-m",
            "assistant",
            "serve",
            "--backend",
            "extractive",
            "--port",
            str(self.port),
        ]
        if prefix:
            command = ["unshare", "-m", "sh", "-c", f"{prefix} && exec {' '.join(command)}"]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                command, env=_env(data_dir, tmp, **settings), stdout=log, stderr=subprocess.STDOUT, cwd=tmp
            )
        try:
            wait_for_port(self.port, self.proc, timeout=180)
        except Exception:
            self.stop()
            raise

    def ask(self, question: str, **body: Any) -> httpx.Response:
        request = {"messages": [{"role": "user", "content": question}], **body}
        return self.post("/v1/chat/completions", request)

    def post(self, route: str, body: Any) -> httpx.Response:
        """`body` as JSON with every non-ASCII character escaped (so lone surrogates travel as `\\ud800`)."""
        headers = {"content-type": "application/json"}
        return httpx.post(self.url + route, content=json.dumps(body).encode(), headers=headers, timeout=300)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def answer_text(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["choices"][0]["message"]["content"])


class Page:
    """The chat page's events over raw HTTP, as any client (not only its browser page) may send them."""

    def __init__(self, base: str, login: tuple[str, str] | None = None) -> None:
        self.base = base
        self.client = httpx.Client(timeout=300)
        if login:
            signed_in = self.client.post(f"{base}/login", data={"username": login[0], "password": login[1]})
            assert signed_in.status_code == 200, signed_in.text
        config = self.client.get(f"{base}/config").json()
        self.ids = {d["api_name"]: d["id"] for d in config["dependencies"] if d.get("api_name")}

    def call(self, api_name: str, data: list[Any]) -> dict[str, Any]:
        """Run one event; its `process_completed` message (with `success` and `output`)."""
        session = uuid.uuid4().hex
        body = {"data": data, "fn_index": self.ids[api_name], "session_hash": session, "event_data": None}
        joined = self.client.post(f"{self.base}/gradio_api/queue/join", json=body)
        assert joined.status_code == 200, joined.text
        with self.client.stream(
            "GET", f"{self.base}/gradio_api/queue/data", params={"session_hash": session}
        ) as s:
            for line in s.iter_lines():
                if line.startswith("data:"):
                    message = json.loads(line[5:])
                    if message.get("msg") == "process_completed":
                        return message  # type: ignore[no-any-return]
        raise AssertionError(f"no result of {api_name}")

    def upload(self, path: Path) -> str:
        with path.open("rb") as handle:
            sent = self.client.post(f"{self.base}/gradio_api/upload", files={"files": (path.name, handle)})
        assert sent.status_code == 200, sent.text
        return str(sent.json()[0])

    def close(self) -> None:
        self.client.close()


def _file(path: str, name: str) -> dict[str, Any]:
    return {"path": path, "orig_name": name, "meta": {"_type": "gradio.FileData"}}


def holding(folder: Path, text: str) -> list[Path]:
    """The files under `folder` whose bytes hold `text`."""
    return [p for p in folder.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive of the seeds ingested by `python -m ingest` (copy it before serving it)."""
    data_dir = tmp_path_factory.mktemp("ingested") / "data"
    ingest_cli(data_dir, SEEDS)
    return data_dir


@pytest.fixture
def archive(ingested: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(ingested, target)
    return target


# --- start-up -----------------------------------------------------------------------------------------------
def test_an_empty_archive_then_one_the_cli_ingests_while_serving_then_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = Server(data_dir, tmp_path)
    try:
        empty = is_openai_error(server.ask(JOBS), 503)
        assert "empty" in empty["message"] and "python -m ingest" in empty["message"]
        assert httpx.get(server.url + "/", timeout=30).status_code == 200  # the page answers too
        ingest_cli(data_dir, SEEDS)  # another process, while the server runs
        assert "180" in answer_text(server.ask(JOBS))
    finally:
        server.stop()
    for _ in range(2):  # restarted on the archive the CLI ingested: answers at once, every time
        server = Server(data_dir, tmp_path)
        try:
            assert "180" in answer_text(server.ask(JOBS))
        finally:
            server.stop()
        assert "Traceback" not in server.log() and "could not start" not in server.log(), server.log()


# --- files ------------------------------------------------------------------------------------------------
def test_no_file_leaves_the_server_unless_a_user_uploaded_it(archive: Path, tmp_path: Path) -> None:
    """With a login: a chat history naming a server file, and `add_articles` given a server path, neither
    copies it where the page serves files nor ingests it; a real upload is still added."""
    secret = tmp_path / "outside" / "notes.txt"
    secret.parent.mkdir()
    secret.write_text(f"# Vault notes\n\n{SECRET} It was set on Monday.\n")
    secret.chmod(0o600)
    server = Server(archive, tmp_path, ui_auth="ann:s3cret")
    page = Page(server.url, ("ann", "s3cret"))
    try:
        history = [{"role": "user", "content": [{"type": "file", "file": _file(str(secret), "notes.txt")}]}]
        asked = page.call("ask", [JOBS, history, None, 4, None, None, None])
        assert not asked["success"], asked  # refused before the handler runs
        added = page.call("add_articles", [[_file(str(secret), "notes.txt")]])
        assert not added["success"], added
        assert not holding(tmp_path / "gradio", "7319 zebra"), (
            "a server file was copied where the page serves"
        )
        assert not holding(archive, "7319 zebra"), "a server file was ingested"
        assert "7319" not in answer_text(server.ask(VAULT))
        bridge = tmp_path / "bridge.md"
        bridge.write_text("# A new bridge\n\nThe new bridge over the Ishim opened on Monday in Astana.\n")
        uploaded = page.call("add_articles", [[_file(page.upload(bridge), "bridge.md")]])
        assert uploaded["success"] and "1 new" in uploaded["output"]["data"][0], uploaded
    finally:
        page.close()
        server.stop()


def test_forwarded_addresses_are_believed_only_from_named_proxies(archive: Path, tmp_path: Path) -> None:
    """Twelve wrong passwords, each claiming another address: throttled all the same (the TCP peer counts),
    unless the peer is a proxy named in ASSISTANT_FORWARDED_ALLOW_IPS."""
    for proxies, throttled in (("", True), ("127.0.0.1", False)):
        server = Server(archive, tmp_path, ui_auth="ann:s3cret", forwarded_allow_ips=proxies)
        try:
            codes = [
                httpx.post(
                    f"{server.url}/login",
                    data={"username": "ann", "password": f"wrong-{i}"},
                    headers={"X-Forwarded-For": f"10.0.0.{i}"},
                    timeout=30,
                ).status_code
                for i in range(12)
            ]
        finally:
            server.stop()
        assert (429 in codes) is throttled, codes


# --- API limits -------------------------------------------------------------------------------------------
def test_the_api_limits_and_a_damaged_conversation_store(archive: Path, tmp_path: Path) -> None:
    server = Server(archive, tmp_path)
    try:
        big = {"messages": [{"role": "user", "content": "x" * 2_000_000}]}
        error = is_openai_error(server.post("/v1/chat/completions", big), 413)
        assert error["code"] == "request_too_large"

        def chunked() -> Iterator[bytes]:  # no Content-Length: read up to the limit, then refused
            yield b'{"messages": [{"role": "user", "content": "'
            for _ in range(40):
                yield b"y" * 50_000
            yield b'"}]}'

        sent = httpx.post(f"{server.url}/v1/chat/completions", content=chunked(), timeout=60)
        is_openai_error(sent, 413)
        # a long history naming a conversation: answered, and stored as the engine read it
        history = [{"role": ("user", "assistant")[i % 2], "content": "z" * 9_000} for i in range(80)]
        long = {"messages": [*history, {"role": "user", "content": JOBS}], "user": "long-one"}
        assert "180" in answer_text(server.post("/v1/chat/completions", long))
        with sqlite3.connect(archive / "conversations.sqlite3") as db:
            (stored,) = db.execute("SELECT history FROM turns").fetchone()
        kept = json.loads(stored)
        assert len(kept) <= 6 and all(len(m["content"]) <= 600 for m in kept)
        # lone surrogates: dropped from the question and history as the engine drops them; refused in a name
        odd = [
            {"role": "user", "content": "biopharma \ud800"},
            {"role": "assistant", "content": "A plant \udfff."},
        ]
        messages = [*odd, {"role": "user", "content": JOBS + " \ud800"}]
        assert "180" in answer_text(
            server.post("/v1/chat/completions", {"messages": messages, "user": "s-1"})
        )
        for named in ({"user": "chat-\ud800"}, {"metadata": {"conversation_id": "chat-\udc00"}}):
            is_openai_error(server.post("/v1/chat/completions", {"messages": messages, **named}), 400)
        # `curl -d` sends form encoding: the body is read as JSON all the same
        form = httpx.post(
            f"{server.url}/v1/chat/completions",
            content=json.dumps({"messages": [{"role": "user", "content": JOBS}]}),
            headers={"content-type": "application/x-www-form-urlencoded"},
            timeout=120,
        )
        assert "180" in answer_text(form)
        # a damaged conversation store: 503 where it is needed, answers without it still work
        for leftover in archive.glob("conversations.sqlite3*"):
            leftover.unlink()
        (archive / "conversations.sqlite3").write_bytes(b"this is not a database" * 200)
        is_openai_error(server.ask(JOBS, user="after-damage"), 503)
        rated = is_openai_error(server.post("/v1/feedback", {"id": "chatcmpl-abc", "rating": 1}), 503)
        assert "conversation store" in rated["message"]
        assert "180" in answer_text(server.ask(JOBS))
        assert "Traceback" not in server.log(), server.log()
    finally:
        server.stop()


def test_a_lexical_index_cut_short_under_the_server_is_rebuilt(archive: Path, tmp_path: Path) -> None:
    server = Server(archive, tmp_path)
    try:
        assert "180" in answer_text(server.ask(JOBS))  # the index is loaded (mapped) now
        index = Settings(data_dir=archive).state_dir / "bm25"
        for segment_file in index.iterdir():
            if segment_file.name not in ("meta.json", ".managed.json") and segment_file.is_file():
                os.truncate(segment_file, 0)  # in place: the server's mapping of it shrinks
        assert "180" in answer_text(server.ask(JOBS))
        assert server.alive()
    finally:
        server.stop()
    assert server.proc.returncode not in (-signal.SIGBUS, 128 + signal.SIGBUS), server.log()


# --- data dirs that cannot be written ---------------------------------------------------------------------
mounts = pytest.mark.skipif(not can_mount_read_only(), reason="needs a private mount (root, unshare)")


@mounts
def test_a_read_only_data_dir_answers_and_refuses_a_feed_in_one_line(archive: Path, tmp_path: Path) -> None:
    server = Server(
        archive, tmp_path, prefix=f"mount --bind {archive} {archive} && mount -o remount,ro,bind {archive}"
    )
    page = Page(server.url)
    try:
        assert "180" in answer_text(server.ask(JOBS))
        added = page.call("add_feed", ["https://example.invalid/feed.xml"])
        assert added["success"], added
        line = added["output"]["data"][0]
        assert line.startswith("✗") and "cannot be written" in line and "\n" not in line, line
    finally:
        page.close()
        server.stop()
    assert "Traceback" not in server.log(), server.log()


@mounts
def test_a_full_disk_during_ingest_loses_nothing_and_the_next_try_completes(
    archive: Path, tmp_path: Path
) -> None:
    """The data dir on a small file system of its own, filled up: adding an article fails in one line, the
    archive still answers, and once space is freed the same article is added."""
    size_kb = sum(p.stat().st_size for p in archive.rglob("*") if p.is_file()) // 1024 + 2048
    data_dir = tmp_path / "full"
    data_dir.mkdir()
    fill = (
        f"mount -t tmpfs -o size={size_kb}k tmpfs {data_dir} && cp -a {archive}/. {data_dir}/ && "
        f"(head -c {size_kb * 1024} /dev/zero > {data_dir}/filler; "
        f"truncate -s -60K {data_dir}/filler)"
    )
    server = Server(data_dir, tmp_path, prefix=fill)
    page = Page(server.url)
    article = tmp_path / "long.md"
    sentences = " ".join(f"The council approved road number {i} in Karaganda on Tuesday." for i in range(400))
    article.write_text(f"# Roads of Karaganda\n\n{sentences}\n")
    try:
        failed = page.call("add_articles", [[_file(page.upload(article), "long.md")]])
        assert failed["success"], failed
        said = failed["output"]["data"][0]
        assert "✗" in said and ("disk is full" in said or "No space left" in said), said
        assert "180" in answer_text(server.ask(JOBS))  # nothing committed was lost
        os.unlink(f"/proc/{server.proc.pid}/root{data_dir}/filler")  # space, seen inside its mount
        again = page.call("add_articles", [[_file(page.upload(article), "long.md")]])
        assert "1 new" in again["output"]["data"][0] or "1 changed" in again["output"]["data"][0], again
        assert "Karaganda" in answer_text(server.ask("Which roads did the council approve in Karaganda?"))
        assert "180" in answer_text(server.ask(JOBS))
    finally:
        page.close()
        server.stop()
    assert "Traceback" not in server.log(), server.log()

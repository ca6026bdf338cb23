"""A real browser (Debian's headless Chromium driven by Playwright) against the chat UI: the real model, and
the extractive backend over an article whose strings are hostile HTML."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant import Assistant
from assistant.app import Application
from assistant.ui import ChatBackend, build_app
from ingest.embedding import ArchiveEmbedding

from .conftest import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (make test installs it)"
    ),
]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def app_url(local_assistant: Assistant, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from assistant.conversations import ConversationStore

    port = free_port()
    settings = local_assistant.settings.model_copy(update={"ui_port": port})
    # the answers are stored as conversations: beside the test, not in the shared seeded data dir
    store = ConversationStore(tmp_path_factory.mktemp("conversations") / "conversations.sqlite3")
    demo = build_app(
        settings, ChatBackend(Application(settings, assistant=local_assistant, conversations=store))
    )
    demo.queue(default_concurrency_limit=1)
    demo.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, footer_links=[]
    )
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@contextlib.contextmanager
def open_page(url: str, profile: Path):
    """A fresh headless Chromium on the app, once the page says the assistant is ready."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1200, "height": 1000},
        )
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector("#question textarea", timeout=30_000)
        page.wait_for_function(
            "document.querySelector('#status').innerText.includes('Ready')", timeout=60_000
        )
        yield page
        browser.close()


@pytest.fixture
def page(app_url: str, tmp_path: Path):
    with open_page(app_url, tmp_path / "profile") as page:
        yield page


def ask(page, question: str) -> None:  # type: ignore[no-untyped-def]
    before = page.locator("#chat .message").count()
    page.fill("#question textarea", question)
    page.click("#ask")
    # the answer is final when its sources (or a refusal) appear and the streaming cursor is gone
    page.wait_for_function(
        """([n]) => {
            const msgs = document.querySelectorAll('#chat .message');
            const text = document.querySelector('#chat').innerText;
            return msgs.length > n + 1 && !text.includes('▌');
        }""",
        arg=[before],
        timeout=120_000,
    )


def shot(page, tmp_path: Path, name: str) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    target = os.environ.get("NEWS_ASSISTANT_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / name)
    return path


def test_ask_read_the_answer_and_open_its_source(page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ask(page, "How many jobs will the biopharma plant create?")
    chat = page.locator("#chat")
    assert "180" in chat.inner_text() and "[1]" in chat.inner_text()
    source = page.get_by_text("[1] Kazakhstan to build full-cycle biopharma hub").first
    source.click()
    mark = page.locator("#chat mark").first
    mark.wait_for(state="visible", timeout=10_000)
    assert "180 permanent jobs" in mark.inner_text()
    page.wait_for_timeout(500)
    assert shot(page, tmp_path, "answer.png").stat().st_size > 10_000


def test_follow_up_question_uses_the_conversation(page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ask(page, "Who was relieved as Chairman of the Asset Recovery Committee?")
    assert "Suindikov" in page.locator("#chat").inner_text()
    ask(page, "Where did he begin his career?")
    last = page.locator("#chat .message").all()[-3:]
    assert any("Shymkent" in m.inner_text() for m in last)
    shot(page, tmp_path, "follow-up.png")


def test_article_html_shows_as_text(page) -> None:  # type: ignore[no-untyped-def]
    ask(page, "<script>window.hacked=1</script> <b>bold</b> What is new?")
    assert page.evaluate("window.hacked === undefined")
    assert "<script>" in page.locator("#chat").inner_text()


# ------------------------------------------------------------------------------ hostile article strings


@pytest.fixture(scope="module")
def tripwire() -> Iterator[tuple[str, list[str]]]:
    """A tiny HTTP server on 127.0.0.1 that records every request: nothing on the page may reach it."""
    seen: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(f"{self.command} {self.path} referer={self.headers.get('Referer')}")
            self.send_response(204)
            self.end_headers()

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, name="tripwire", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()
    server.server_close()


def hostile_title(base: str) -> str:
    return (
        f'Tram news <img src="{base}/pixel.png"> <a href="{base}/phish">claim your prize</a> '
        f'<form action="{base}/steal" method="post"><input type="password" name="pw">'
        f"<button>Sign in</button></form> **bold** [md link]({base}/md) $$x^2$$ "
        "<script>window.hacked=1</script>"
    )


@pytest.fixture(scope="module")
def hostile_app(
    tmp_path_factory: pytest.TempPathFactory, embedder: ArchiveEmbedding, tripwire
) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The extractive backend (no LLM) over one article whose title, source and URL are hostile HTML."""
    from assistant import Assistant
    from assistant.settings import Settings
    from ingest import ingest_paths

    base, _ = tripwire
    folder = tmp_path_factory.mktemp("hostile")
    article = {
        "id": "tram",
        "title": hostile_title(base),
        "source": f'<img src="{base}/source.png">Daily <b>News</b>',
        "url": f'https://example.invalid/tram"><img src="{base}/url.png">',
        "published": "2026-02-03T10:00:00",
        "text": "The city council approved a tram line to the airport on Tuesday. "
        "The tram line to the airport will cost 40 million dollars and open in 2028.",
    }
    (folder / "articles.jsonl").write_text(json.dumps(article) + "\n", encoding="utf-8")
    port = free_port()
    settings = Settings(data_dir=folder / "data", llm_backend="extractive", ui_port=port)
    assert ingest_paths([folder / "articles.jsonl"], settings, embedder=embedder).new == 1
    bot = Assistant.from_settings(settings, embedder=embedder)
    demo = build_app(settings, ChatBackend(Application(settings, assistant=bot)))
    demo.queue(default_concurrency_limit=1)
    demo.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, footer_links=[]
    )
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_hostile_article_strings_show_as_text_and_reach_nothing(
    hostile_app: str, tripwire, tmp_path: Path
) -> None:
    base, seen = tripwire
    title = hostile_title(base)
    injected = f'img[src^="{base}"], a[href^="{base}"], form, input[type=password]'
    with open_page(hostile_app, tmp_path / "profile") as page:
        examples = page.locator("#examples")  # starter questions are built from titles (shown shortened)
        assert 'Tram news <img src="' in examples.inner_text()
        assert examples.locator(injected).count() == 0

        ask(page, "How much will the tram line to the airport cost?")
        chat = page.locator("#chat")
        assert "40 million" in chat.inner_text()
        header = page.get_by_text("[1] Tram news").first
        header.wait_for(state="visible", timeout=10_000)
        assert f"[1] {title}" in chat.inner_text()  # the source's header, literally
        header.click()
        source_line = f'<img src="{base}/source.png">Daily <b>News</b>'
        chat.get_by_text(source_line).filter(visible=True).first.wait_for(timeout=10_000)
        mark = chat.locator("mark").first
        mark.wait_for(state="visible", timeout=10_000)
        assert mark.inner_text().startswith("The tram line to the airport")
        shot(page, tmp_path, "hostile-chat.png")

        page.get_by_role("tab", name="Archive").click()
        table = page.locator("#archive")
        # (the grid keeps a hidden copy of the rows to size its columns: wait for the shown one)
        table.get_by_text("Tram news").filter(visible=True).first.wait_for(timeout=10_000)
        assert title in table.inner_text() and source_line in table.inner_text()
        shot(page, tmp_path, "hostile-archive.png")

        assert page.locator(injected).count() == 0, page.locator(injected).evaluate_all(
            "els => els.map(e => e.outerHTML)"
        )
        assert page.evaluate("window.hacked === undefined")
        page.wait_for_timeout(1000)  # time for any late fetch to arrive
    assert seen == []


# ------------------------------------------------------------------------------ conversations and thumbs


@pytest.fixture(scope="module")
def conversations_app(seeded_dir: Path, tmp_path_factory: pytest.TempPathFactory, embedder: ArchiveEmbedding):
    """The extractive backend (no LLM) over a copy of the seeded archive: the conversations are stored in
    the data dir, so not in the shared one."""
    from assistant import Assistant
    from assistant.settings import Settings

    data_dir = tmp_path_factory.mktemp("conversations") / "data"
    shutil.copytree(seeded_dir, data_dir)
    port = free_port()
    settings = Settings(data_dir=data_dir, llm_backend="extractive", ui_port=port)
    backend = ChatBackend(
        Application(settings, assistant=Assistant.from_settings(settings, embedder=embedder))
    )
    demo = build_app(settings, backend)
    demo.queue(default_concurrency_limit=1)
    demo.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, footer_links=[]
    )
    yield f"http://127.0.0.1:{port}/", backend
    demo.close()


def test_the_conversation_is_listed_reopened_and_thumbed_down(conversations_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, backend = conversations_app
    question = "<b>bold</b> How many surgeries a year do the hybrid operating rooms enable?"
    with open_page(url, tmp_path / "profile") as page:
        ask(page, question)
        assert "350" in page.locator("#chat").inner_text()
        listed = page.locator("#conversations")
        listed.get_by_text(question).wait_for(timeout=10_000)  # titled by the question, as text
        assert listed.locator("b").count() == 0

        page.fill("#feedback-comment textarea", "The count is per year, say so")
        page.locator("#chat").get_by_role("button", name="Dislike").first.click()
        page.locator("#feedback").get_by_text("👎 is kept").wait_for(timeout=10_000)
        [summary] = backend.store().conversations("")
        [turn] = backend.store().turns("", summary.id)
        assert summary.title == question
        assert (turn.rating, turn.comment) == (-1, "The count is per year, say so")
        shot(page, tmp_path, "conversation-thumbed.png")

        page.click("#new-conversation")
        page.wait_for_function("document.querySelectorAll('#chat .message').length === 0", timeout=10_000)
        listed.get_by_text(question).click()  # reopen it: the answer, its source and the thumb are back
        page.wait_for_function("document.querySelectorAll('#chat .message').length >= 3", timeout=10_000)
        assert "350" in page.locator("#chat").inner_text()
        page.locator("#chat").get_by_role("button", name="Disliked").first.wait_for(timeout=10_000)
        ask(page, "How many such surgeries are there?")  # continuing it adds a turn to the same one
        assert backend.store().turns("", summary.id)[0].question == question
        assert len(backend.store().turns("", summary.id)) == 2
        assert len(backend.store().conversations("")) == 1

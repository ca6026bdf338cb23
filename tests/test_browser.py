"""A real browser (Debian's headless Chromium driven by Playwright) against the chat UI on the real model."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.ui import ChatBackend, build_app

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
def app_url(local_assistant) -> Iterator[str]:  # type: ignore[no-untyped-def]
    port = free_port()
    settings = local_assistant.settings.model_copy(update={"ui_port": port})
    demo = build_app(settings, ChatBackend(settings, local_assistant))
    demo.queue(default_concurrency_limit=1)
    demo.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, footer_links=[]
    )
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture
def page(app_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1200, "height": 1000},
        )
        page = browser.new_page()
        page.goto(app_url)
        page.wait_for_selector("#question textarea", timeout=30_000)
        page.wait_for_function(
            "document.querySelector('#status').innerText.includes('Ready')", timeout=60_000
        )
        yield page
        browser.close()


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

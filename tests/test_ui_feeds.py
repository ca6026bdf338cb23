"""The feeds the server follows (`assistant.ui_feeds`): added and removed as in the Archive tab, polled in
the background over a real local HTTP server, their articles answerable without a restart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant import Assistant
from assistant.settings import Settings
from assistant.ui_feeds import FeedPoller
from evals.bench.feedsite import Item, Site, page, rss, serve, story
from ingest.store import PassageStore

from .conftest import free_port
from .test_feeds import DAY


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """The feed server on 127.0.0.1, which the fetcher is allowed to read."""
    monkeypatch.setenv("ASSISTANT_FETCH_ALLOW", "127.0.0.1")
    yield from serve(free_port())


def test_feeds_are_added_listed_removed_and_polled_in_the_background(
    site: Site, tmp_path: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path / "data", feed_interval=10, llm_backend="extractive")
    link = site.put("/bay/1.html", page("Harbour reopens", story(1)))
    first = Item("bay-1", "Harbour reopens", link, DAY, "The harbour reopens.")
    url = site.put("/bay.xml", rss("Bay Times", [first]), "application/rss+xml")
    poller = FeedPoller(settings, embedder=embedder)
    assert poller.rows() == [] and not (settings.state_dir / "feeds.sqlite3").exists()

    assert poller.add("ftp://example.org/feed").startswith("✗")
    message = poller.add(url)
    assert message.startswith(f"✓ {url}: articles: 1 new"), message
    ((listed, title, last_sync, status, articles),) = poller.rows()
    assert (listed, title, status, articles) == (url, "Bay Times", "ok", 1)
    assert last_sync[:4].isdigit()

    bot = Assistant.from_settings(settings, embedder=embedder)
    fact = "The ferry terminal will carry 4,312 passengers a day from March, the port authority said."
    link2 = site.put("/bay/2.html", page("Ferry terminal opens", f"{fact}\n\n{story(2)}"))
    second = Item("bay-2", "Ferry terminal opens", link2, DAY, "Ferry terminal.")
    site.put("/bay.xml", rss("Bay Times", [second, first]), "application/rss+xml")
    poller.start()  # polls at once, then every 10 s
    try:
        deadline = time.monotonic() + 60
        while len(PassageStore(settings).articles()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        poller.stop()
    assert len(PassageStore(settings).articles()) == 2
    assert poller.rows()[0][4] == 2
    answer = bot.ask("How many passengers a day will the ferry terminal carry?")  # the same Assistant
    assert not answer.refused and "4,312" in answer.text
    assert any(c.title == "Ferry terminal opens" for c in answer.citations)

    assert poller.remove(url).startswith("✓") and poller.rows() == []
    assert len(PassageStore(settings).articles()) == 2  # its articles stay
    assert poller.remove(url).startswith("✗")


def test_feeds_of_the_settings_are_listed_and_cannot_be_removed_in_the_ui(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", feeds="https://a.example/rss, https://b.example/atom")
    poller = FeedPoller(settings)
    assert [row[0] for row in poller.rows()] == ["https://a.example/rss", "https://b.example/atom"]
    assert poller.rows()[0][3] == "not polled yet"
    assert "ASSISTANT_FEEDS" in poller.remove("https://a.example/rss")
    with pytest.raises(ValueError, match="ASSISTANT_FEEDS takes http"):
        Settings(data_dir=tmp_path / "data", feeds="a.example/rss")

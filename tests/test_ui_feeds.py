"""The feeds the server follows (`assistant.ui_feeds`): added and removed as in the Archive tab, polled in
the background over a real local HTTP server, their articles answerable without a restart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant import Assistant
from assistant.settings import Settings
from assistant.ui_feeds import FeedJob, FeedPoller
from evals.bench.feedsite import Item, Site, page, rss, serve, story
from ingest.store import PassageStore
from ingest.sync import feed_state

from .conftest import DAY, free_port


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
    message = poller.add(url, wait=120)
    assert message.startswith(f"✓ {url}: articles: 1 new"), message
    ((listed, title, last_sync, status, articles),) = poller.rows()
    assert (listed, title, status, articles) == (url, "Bay Times", "done: 1 new, 0 changed", 1)
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


def test_a_slow_feed_is_its_own_job_and_never_holds_up_another_add(
    site: Site, tmp_path: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    """One feed's pages trickle until their deadline; meanwhile another feed (another server) is added
    and answered at once, and the table shows each feed's job."""
    settings = Settings(
        data_dir=tmp_path / "data", llm_backend="extractive", feed_timeout=4.0, feed_retries=0
    )
    items = []
    for n in range(3):
        link = site.put(f"/slow/{n}.html", page(f"Slow story {n}", story(90 + n)), trickle=0.5)
        items.append(Item(f"slow-{n}", f"Slow story {n}", link, DAY, f"Slow summary {n}."))
    slow = site.put("/slow.xml", rss("Slow Times", items), "application/rss+xml")
    poller = FeedPoller(settings, embedder=embedder)
    for other in serve(free_port()):
        link = other.put("/quick/1.html", page("Quick story", story(99)))
        quick = other.put(
            "/quick.xml",
            rss("Quick Post", [Item("q-1", "Quick story", link, DAY, "Q.")]),
            "application/rss+xml",
        )
        try:
            feed_state(settings).follow(slow)
            (job,) = poller.poll()  # the background poll's job
            deadline = time.monotonic() + 30
            while (poller.job(slow) or FeedJob("queued")).total != 3:  # its pages are being fetched
                assert time.monotonic() < deadline, poller.rows()
                time.sleep(0.05)
            started = time.monotonic()
            message = poller.add(quick, wait=120)
            assert message.startswith(f"✓ {quick}: articles: 1 new"), message
            assert not job.done()  # the slow feed is still at it: the add did not wait for it
            statuses = {row[0]: row[3] for row in poller.rows()}
            assert statuses[quick] == "done: 1 new, 0 changed"
            assert statuses[slow].startswith("fetching ") and statuses[slow].endswith("/3"), statuses
            assert time.monotonic() - started < 8  # ~ the slow pages' 4 s deadline: it did not wait for them
            report = job.result(timeout=120)
            assert report is not None and report.ingest.new == 3  # each read from its summary
            assert poller.job(slow) is not None and poller.job(slow).state == "done"  # type: ignore[union-attr]
        finally:
            poller.stop()


def test_add_feed_refuses_an_internal_address_without_following_it(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    poller = FeedPoller(settings)
    for url in (
        "http://127.0.0.1:9/admin/",
        "http://localhost:9/",
        "http://2130706433:9/",
        "http://[::1]:9/",
    ):
        message = poller.add(url)
        assert message.startswith(f"✗ {url}: refused: ") and "ASSISTANT_FETCH_ALLOW" in message, message
    assert poller.rows() == [] and poller.followed() == []


def test_feeds_of_the_settings_are_listed_and_cannot_be_removed_in_the_ui(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", feeds="https://a.example/rss, https://b.example/atom")
    poller = FeedPoller(settings)
    assert [row[0] for row in poller.rows()] == ["https://a.example/rss", "https://b.example/atom"]
    assert poller.rows()[0][3] == "not polled yet"
    assert "ASSISTANT_FEEDS" in poller.remove("https://a.example/rss")
    with pytest.raises(ValueError, match="ASSISTANT_FEEDS takes http"):
        Settings(data_dir=tmp_path / "data", feeds="a.example/rss")

"""Feeds and pages over real HTTP: a real server on 127.0.0.1 (`evals.bench.feedsite`), the real
embedder, a real Chroma in tmp_path. Every failure case also checks that nothing already stored is lost."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.bench.feedsite import Item, Site, atom, billion_laughs, external_entity, page, rss, serve, story
from ingest.cli import main as ingest_main
from ingest.embedding import ArchiveEmbedding
from ingest.errors import (
    FeedParseError,
    FetchError,
    FetchTimeoutError,
    HTTPStatusError,
    IngestError,
    NotTextError,
    RedirectLoopError,
    ResponseTooLargeError,
    UnsafeFeedError,
)
from ingest.feeds import item_origin, parse_feed
from ingest.settings import ArchiveSettings
from ingest.store import PassageStore
from ingest.sync import SyncReport, feed_state, read_feeds_file, sync_sources, watch
from ingest.web import Fetcher

from .conftest import DAY, free_port


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """The feed server on 127.0.0.1, which the fetcher is allowed to read (also from the command line)."""
    monkeypatch.setenv("ASSISTANT_FETCH_ALLOW", "127.0.0.1")
    yield from serve(free_port())


@pytest.fixture
def settings(tmp_path: Path) -> ArchiveSettings:
    return ArchiveSettings(
        data_dir=tmp_path / "data", feed_timeout=2.0, feed_retries=0, fetch_allow="127.0.0.1"
    )


def publish(site: Site, name: str, count: int, *, kind: str = "rss", seed: int = 0, first: int = 1) -> str:
    """A feed `/<name>.xml` of `count` items, each with its page `/<name>/<n>.html`; returns the feed URL.
    Two feeds of one `seed` carry the same texts (copies, stored once): give each feed its own."""
    items = []
    for n in range(first, first + count):
        title = f"{name.title()} story {n}"
        link = site.put(f"/{name}/{n}.html", page(title, story(seed * 1000 + n)))
        items.append(Item(f"{name}-{n}", title, link, DAY.replace(day=1 + n % 27), f"Summary of {title}."))
    text = rss(f"{name.title()} News", items) if kind == "rss" else atom(f"{name.title()} News", items)
    return site.put(f"/{name}.xml", text, "application/rss+xml" if kind == "rss" else "application/atom+xml")


def sync(urls: list[str], settings: ArchiveSettings, embedder: ArchiveEmbedding, **kw) -> SyncReport:
    return sync_sources(urls, settings, embedder=embedder, **kw)


def archive(settings: ArchiveSettings) -> tuple[dict[str, str], set[str]]:
    """{origin: content hash} of the ledger and the ids of every passage stored."""
    store = PassageStore(settings)
    ledger = {r.origin: r.content_hash for r in store.articles().values()}
    return ledger, {p.passage_id for p in store.iter_passages()}


def passages_of(settings: ArchiveSettings, origin: str) -> list[str]:
    from ingest.articles import article_id_of

    store = PassageStore(settings)
    return [p.text for p in store.get_passages(store.passage_ids(article_id_of(origin)))]


# --- a feed, polled twice -------------------------------------------------------------------------------
def test_a_feed_becomes_articles_and_an_unchanged_poll_is_one_conditional_request(
    site: Site, settings: ArchiveSettings, embedder
) -> None:  # type: ignore[no-untyped-def]
    url = publish(site, "city", 3)
    first = sync([url], settings, embedder)
    assert first.ok, first.ingest.failed
    assert (first.ingest.new, first.count("fetched")) == (3, 1)
    records = {r.origin: r for r in PassageStore(settings).articles().values()}
    one = records[item_origin(url, "city-1")]
    assert (one.title, one.source, one.url) == ("City story 1", "City News", site.url("/city/1.html"))
    assert one.published == "2026-01-02T08:30:00"
    assert story(1)[:60] in passages_of(settings, one.origin)[0]  # the page's text, not the summary
    agents = {hit.headers.get("User-Agent", "") for hit in site.hits}
    assert agents and all(agent.startswith("news-assistant/") for agent in agents)
    before = archive(settings)

    site.clear()
    second = sync([url], settings, embedder)
    assert second.ok
    assert (second.ingest.new, second.ingest.changed, second.ingest.passages_written) == (0, 0, 0)
    assert [h.path for h in site.hits] == ["/city.xml"]  # one request, no page fetched
    (hit,) = site.hits
    assert hit.headers.get("If-None-Match") == site.routes["/city.xml"].etag
    assert hit.headers.get("If-Modified-Since") == site.last_modified
    assert hit.status == 304 and second.count("not modified") == 1
    assert archive(settings) == before
    (record,) = feed_state(settings).sources([url]).values()
    assert (record.kind, record.title, record.status, record.articles) == (
        "feed",
        "City News",
        "not modified",
        3,
    )


def test_an_updated_item_has_its_passages_replaced_and_only_its_page_is_fetched(
    site: Site, settings: ArchiveSettings, embedder
) -> None:  # type: ignore[no-untyped-def]
    url = publish(site, "port", 3)
    assert sync([url], settings, embedder).ingest.new == 3
    old_text = passages_of(settings, item_origin(url, "port-2"))
    site.put("/port/2.html", page("Port story 2", story(777)))
    feed = site.routes["/port.xml"].body.decode().replace("Summary of Port story 2.", "Corrected summary.")
    site.put("/port.xml", feed, "application/rss+xml")
    site.clear()

    report = sync([url], settings, embedder)
    assert report.ok
    assert (report.ingest.new, report.ingest.changed) == (0, 1)
    assert sorted(h.path for h in site.hits) == ["/port.xml", "/port/2.html"]
    new_text = passages_of(settings, item_origin(url, "port-2"))
    assert new_text and new_text != old_text and story(777)[:60] in new_text[0]
    assert len(PassageStore(settings).articles()) == 3


def test_a_new_item_in_an_atom_feed_is_added(
    site: Site, settings: ArchiveSettings, embedder: ArchiveEmbedding
) -> None:
    url = publish(site, "valley", 2, kind="atom")
    first = sync([url], settings, embedder)
    assert first.ingest.new == 2 and first.sources[0].kind == "feed"
    before, passages = archive(settings)
    publish(site, "valley", 3, kind="atom")  # the same two and a third
    site.clear()

    report = sync([url], settings, embedder)
    assert report.ok
    assert (report.ingest.new, report.ingest.changed, report.sources[0].items_unchanged) == (1, 0, 2)
    assert [h.path for h in site.hits] == ["/valley.xml", "/valley/3.html"]
    after, passages_after = archive(settings)
    assert after.items() > before.items() and len(after) == 3  # the two kept as they were
    assert passages < passages_after
    assert {r.source for r in PassageStore(settings).articles().values()} == {"Valley News"}


def test_an_item_whose_page_cannot_be_fetched_is_read_from_the_feed(
    site: Site, settings: ArchiveSettings, embedder
) -> None:  # type: ignore[no-untyped-def]
    url = publish(site, "hill", 2)
    del site.routes["/hill/2.html"]  # 404
    report = sync([url], settings, embedder)
    assert report.ok and report.ingest.new == 2
    ((origin, why),) = report.sources[0].fallbacks
    assert origin == item_origin(url, "hill-2") and "404" in why
    assert passages_of(settings, origin) == ["Summary of Hill story 2."]


def test_a_page_url_is_one_article(site: Site, settings: ArchiveSettings, embedder: ArchiveEmbedding) -> None:
    url = site.put("/news/solo.html", page("A lone report", story(42)))
    report = sync([url], settings, embedder)
    assert report.ok and report.ingest.new == 1 and report.sources[0].kind == "page"
    (record,) = PassageStore(settings).articles().values()
    assert (record.title, record.source, record.origin) == ("A lone report", "Test Gazette", url)
    assert sync([url], settings, embedder).count("not modified") == 1


# --- failures: reported by URL, nothing stored is lost ---------------------------------------------------
def test_a_malformed_feed_is_reported_and_the_others_go_on(
    site: Site, settings: ArchiveSettings, embedder: ArchiveEmbedding, capsys: pytest.CaptureFixture[str]
) -> None:
    good = publish(site, "lake", 2)
    assert sync([good], settings, embedder).ingest.new == 2
    before = archive(settings)
    broken = site.put(
        "/broken.xml", rss("Broken", [])[:-20] + "<item><title>x</title>", "application/rss+xml"
    )
    other = publish(site, "sea", 1, seed=7)
    site.routes["/lake.xml"].body = site.routes["/lake.xml"].body.replace(b"</channel>", b"")  # now malformed

    code = ingest_main([broken, good, other, "--data-dir", str(settings.data_dir), "-q"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"failed: {broken}: the feed is not well-formed XML" in err
    assert f"failed: {good}: the feed is not well-formed XML" in err
    ledger, passages = archive(settings)
    assert before[0].items() <= ledger.items() and before[1] <= passages  # nothing lost
    assert item_origin(other, "sea-1") in ledger  # the good feed went in
    assert feed_state(settings).sources([good])[good].status == "failed"
    with pytest.raises(FeedParseError, match="not well-formed"):
        parse_feed(broken, site.routes["/broken.xml"].body, "application/rss+xml")
    with pytest.raises(FeedParseError, match="not an RSS or Atom feed"):
        parse_feed(broken, b"<?xml version='1.0'?><catalog><book/></catalog>", "application/xml")


@pytest.mark.parametrize("document", [billion_laughs, external_entity])
def test_entity_declarations_are_refused_within_seconds(
    site: Site, settings: ArchiveSettings, embedder: ArchiveEmbedding, document
) -> None:  # type: ignore[no-untyped-def]
    good = publish(site, "farm", 1)
    sync([good], settings, embedder)
    before = archive(settings)
    bomb = site.put("/bomb.xml", document(), "application/rss+xml")
    started = time.monotonic()
    report = sync([bomb, good], settings, embedder)
    assert time.monotonic() - started < 5
    ((url, reason),) = report.ingest.failed
    assert url == bomb and "declares XML entities" in reason
    assert archive(settings) == before
    with pytest.raises(UnsafeFeedError):
        parse_feed(bomb, document().encode(), "application/rss+xml")


def test_parsing_a_billion_laughs_feed_stays_small_and_fast() -> None:
    import tracemalloc

    tracemalloc.start()
    started = time.monotonic()
    with pytest.raises(UnsafeFeedError):
        parse_feed("http://x/bomb.xml", billion_laughs().encode(), "application/rss+xml")
    seconds = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert seconds < 2 and peak < 20 * 1024 * 1024


def bad_routes(site: Site) -> dict[str, tuple[type[FetchError], str]]:
    """Paths that fail, each with the error type and words of its message."""
    site.put("/huge.xml", b"<rss>" + b" " * (2 * 1024 * 1024), "application/rss+xml")
    site.put("/huge-streamed.xml", b"<rss>" + b" " * (2 * 1024 * 1024), "application/rss+xml", stream=True)
    site.put("/photo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 500, "image/png")
    site.put("/nul.html", b"<html>\x00\x01\x02" * 100, "text/html")
    site.put("/loop-a", b"", status=302, headers={"Location": "/loop-b"})
    site.put("/loop-b", b"", status=302, headers={"Location": "/loop-a"})
    site.put("/stalled.xml", b"", stall=True)
    site.put("/busy.xml", b"", status=503, conditional=False)
    return {
        "/huge.xml": (ResponseTooLargeError, "too large"),
        "/huge-streamed.xml": (ResponseTooLargeError, "too large"),
        "/photo.png": (NotTextError, "image/png, not a feed or an HTML page"),
        "/nul.html": (NotTextError, "binary"),
        "/loop-a": (RedirectLoopError, "redirects in a loop"),
        "/stalled.xml": (FetchTimeoutError, "did not send the whole response within 1 s"),
        "/busy.xml": (HTTPStatusError, "503"),
        "/missing.xml": (HTTPStatusError, "404 Not Found; check the URL"),
    }


def test_bad_responses_get_clear_errors(site: Site, tmp_path: Path) -> None:
    expected = bad_routes(site)
    limits = ArchiveSettings(data_dir=tmp_path / "d", feed_timeout=1.0, feed_max_mb=1.0, feed_retries=0)
    with Fetcher(limits) as web:
        for path, (kind, words) in expected.items():
            with pytest.raises(kind) as caught:
                web.get(site.url(path))
            assert words in str(caught.value) and site.url(path) in str(caught.value), path


def test_failing_sources_are_reported_by_url_and_lose_nothing(
    site: Site, settings: ArchiveSettings, embedder
) -> None:  # type: ignore[no-untyped-def]
    good = publish(site, "mill", 2)
    assert sync([good], settings, embedder).ingest.new == 2
    before = archive(settings)
    expected = bad_routes(site)
    limits = settings.model_copy(update={"feed_timeout": 1.0, "feed_max_mb": 1.0})
    urls = [site.url(path) for path in expected]
    started = time.monotonic()
    report = sync([*urls, good], limits, embedder)
    assert time.monotonic() - started < 10  # the stalled server costs one timeout
    assert not report.ok
    failed = dict(report.ingest.failed)
    assert set(failed) == set(urls)
    for path, (_, words) in expected.items():
        assert words in failed[site.url(path)], path
    assert report.sources[-1].status == "not modified"
    assert archive(settings) == before


def test_connection_failures_and_5xx_are_retried_with_backoff(site: Site, tmp_path: Path) -> None:
    url = site.put("/flaky.xml", rss("Flaky", []), "application/rss+xml", fail_first=2)
    settings = ArchiveSettings(data_dir=tmp_path / "d", feed_retries=2)
    with Fetcher(settings, backoff=0.01) as web:
        assert web.get(url).status == 200
        assert [h.status for h in site.hits_of("/flaky.xml")] == [503, 503, 200]
        closed = f"http://127.0.0.1:{free_port()}/feed.xml"
        started = time.monotonic()
        with pytest.raises(FetchError, match="cannot connect"):
            web.get(closed)
        assert time.monotonic() - started >= 0.03  # two pauses: 0.01 + 0.02


def test_feeds_are_fetched_with_bounded_concurrency(site: Site, settings: ArchiveSettings) -> None:
    urls = [
        site.put(f"/slow-{n}.xml", rss(f"Slow {n}", []), "application/rss+xml", delay=0.2) for n in range(8)
    ]
    report = sync_sources(urls, settings.model_copy(update={"feed_concurrency": 2}))
    assert report.ok and report.count("fetched") == 8
    assert site.most_in_flight == 2


def test_items_per_feed_are_capped(site: Site, settings: ArchiveSettings, embedder: ArchiveEmbedding) -> None:
    url = publish(site, "cap", 4)
    report = sync([url], settings.model_copy(update={"feed_max_items": 2}), embedder)
    assert report.ingest.new == 2
    assert len([h for h in site.hits if h.path.startswith("/cap/")]) == 2


# --- items that leave a feed ---------------------------------------------------------------------------
def test_items_that_leave_a_feed_stay_unless_pruned_and_prune_touches_only_that_feed(
    site: Site, settings: ArchiveSettings, embedder: ArchiveEmbedding, tmp_path: Path
) -> None:
    a = publish(site, "north", 3)
    b = publish(site, "south", 2, seed=2)
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "note.md").write_text(f"# A filed note\n\n{story(5)}\n", encoding="utf-8")
    assert ingest_main([str(folder), a, b, "--data-dir", str(settings.data_dir), "-q"]) == 0
    assert len(PassageStore(settings).articles()) == 6
    publish(site, "north", 2, first=2)  # north-1 leaves the feed
    publish(site, "south", 1, seed=2)  # south-2 leaves too, but south is not pruned below

    kept = sync([a, b], settings, embedder)
    assert kept.ok and kept.ingest.pruned == 0
    assert len(PassageStore(settings).articles()) == 6  # an archive keeps history

    site.clear()
    pruned = sync([a], settings, embedder, prune=True)  # north answers 304: its last listing decides
    assert pruned.sources[0].status == "not modified" and pruned.ingest.pruned == 1
    origins = {r.origin for r in PassageStore(settings).articles().values()}
    assert item_origin(a, "north-1") not in origins
    assert {item_origin(a, "north-2"), item_origin(b, "south-2")} <= origins
    assert any(o.endswith("/files/note.md") for o in origins) and len(origins) == 5
    assert passages_of(settings, item_origin(a, "north-1")) == []
    assert feed_state(settings).sources([a])[a].articles == 2


# --- the command line, the feeds file, watching ----------------------------------------------------------
def test_a_feeds_file_skips_comments_and_refuses_other_lines(tmp_path: Path) -> None:
    listing = tmp_path / "feeds.txt"
    listing.write_text(
        "# my feeds\n\nhttps://a.example/feed.xml  # the A feed\nhttp://b.example/rss#top\n", encoding="utf-8"
    )
    assert read_feeds_file(listing) == ["https://a.example/feed.xml", "http://b.example/rss#top"]
    listing.write_text("https://a.example/feed.xml\nnews/today.txt\n", encoding="utf-8")
    with pytest.raises(IngestError, match=re.escape("line 2: 'news/today.txt' is not an http")):
        read_feeds_file(listing)


def test_the_command_reads_a_feeds_file(
    site: Site, settings: ArchiveSettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = publish(site, "bay", 2)
    listing = tmp_path / "feeds.txt"
    listing.write_text(f"# local\n{url}\n", encoding="utf-8")
    data = ["--data-dir", str(settings.data_dir), "-q"]
    assert ingest_main(["--feeds", str(listing), *data]) == 0
    out = capsys.readouterr().out
    assert "2 new" in out and "sources: 1 fetched" in out
    assert ingest_main(["--feeds", str(listing), *data]) == 0
    assert "sources: 0 fetched, 1 not modified" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        ingest_main(["--watch", "5", str(tmp_path), *data])  # --watch needs feeds


def test_watch_polls_again_and_picks_up_new_items(
    site: Site, settings: ArchiveSettings, embedder: ArchiveEmbedding
) -> None:
    url = publish(site, "dock", 1)
    reports: list[SyncReport] = []

    def seen(report: SyncReport) -> None:
        reports.append(report)
        if len(reports) == 1:
            publish(site, "dock", 2)  # a second item appears before the next poll

    last = watch([url], settings, 0.05, on_report=seen, rounds=3, embedder=embedder)
    assert [r.ingest.new for r in reports] == [1, 1, 0]
    assert last is reports[-1] and last.count("not modified") == 1
    assert len(PassageStore(settings).articles()) == 2

"""The feeds section: many feeds served from 127.0.0.1 and synced into a fresh data dir.

`python -m evals.bench feeds [--feeds 200] [--items 50] [--new-items 10]` measures, with the real embedder:
1. the first sync of every feed (each item's page fetched and extracted, embedded, committed): articles/s;
2. an unchanged poll of every feed (one conditional request each, answered 304), beside the bare cost of
   the same conditional requests made by the fetcher alone on the same thread pool;
3. the cost of `--new-items` new items spread over the feeds, in an archive of feeds x items articles
   (it must not grow with the archive);
4. slow servers (`--slow-feeds 20 --slow-items 10 --slow-servers 3 --slow-timeout 3`): a first sync of
   slow-feeds x slow-items into a fresh archive where the pages of `--slow-servers` feeds sit on servers
   of their own that trickle their headers (a line every 0.5 s, without end). Each such page is cut off
   at the response deadline (`--slow-timeout`) and read from the feed's summary instead; pages are
   fetched in parallel, `fetch_per_host` at a time per server, so the fetching should take about
   ceil(slow-items / per host) deadlines however many slow servers there are, not the sum of their
   pages' deadlines (the serial cost before pages were fetched in parallel).
The server is `feedsite` (http.server in a thread, in this process): its own work shares the cores with
the sync, as a small local feed host would.
"""

from __future__ import annotations

import socket
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..tables import table
from .common import fresh_settings, load_embedder
from .feedsite import Item, Site, page, rss, serve, story
from .measure import header, load_average, machine, peak_rss_mb, say, timed

if TYPE_CHECKING:
    from assistant.settings import Settings
    from ingest.embedding import Embedder
    from ingest.sync import SyncReport

__all__ = ["SlowServers", "feeds_section", "render_feeds"]

_START = datetime(2026, 1, 1, tzinfo=UTC)


def feeds_section(
    feeds: int = 200,
    items: int = 50,
    new_items: int = 10,
    seed: int = 0,
    settings: Settings | None = None,
    workdir: Path | None = None,
    embedder: Embedder | None = None,
    slow: SlowServers | None = None,
) -> dict[str, Any]:
    """Serve `feeds` feeds of `items` items each and time the first sync, an unchanged poll and the sync
    that adds `new_items` items; then the slow servers' sync (`slow`, default `SlowServers()`)."""
    from ingest.store import PassageStore
    from ingest.sync import feed_state, sync_sources
    from ingest.web import Fetcher

    started = machine()
    with tempfile.TemporaryDirectory(prefix="bench-feeds-", dir=workdir) as tmp_name:
        base = fresh_settings(Path(tmp_name) / "data", settings)
        load_s = 0.0
        if embedder is None:
            embedder, load_s = load_embedder(base)
        server = serve(_free_port())
        site = next(server)
        base = base.model_copy(update={"fetch_allow": (*base.fetch_allow, site.host)})  # its own server
        try:
            say(f"feeds: publishing {feeds} feeds of {items} items")
            listed = {n: [_item(site, n, i, seed) for i in range(items)] for n in range(feeds)}
            urls = [_publish(site, n, listed[n]) for n in range(feeds)]

            say("feeds: first sync")
            first, first_s, first_cpu = timed(lambda: sync_sources(urls, base, embedder=embedder))
            passages = PassageStore(base).count()

            say("feeds: unchanged poll")
            site.clear()
            again, again_s, again_cpu = timed(lambda: sync_sources(urls, base, embedder=embedder))
            answered_304 = sum(hit.status == 304 for hit in site.hits)
            etags = {url: record.etag for url, record in feed_state(base).sources(urls).items()}
            with Fetcher(base) as web, ThreadPoolExecutor(base.feed_concurrency) as pool:
                _, bare_s, _ = timed(lambda: list(pool.map(lambda u: web.get(u, etag=etags[u]), urls)))

            say(f"feeds: {new_items} new items")
            for k in range(new_items):
                n = k % feeds
                listed[n].insert(0, _item(site, n, items + k // feeds, seed))
                _publish(site, n, listed[n])
            site.clear()
            added, added_s, added_cpu = timed(lambda: sync_sources(urls, base, embedder=embedder))
            added_requests = len(site.hits)

            slow = slow or SlowServers()
            say(f"feeds: {slow.feeds} feeds, {slow.servers} of them on slow servers")
            slow_data = Path(tmp_name) / "slow"
            slowed = _slow_sync(site, slow, fresh_settings(slow_data, base), embedder)
        finally:
            server.close()
    return {
        "machine": started,
        "load_average_after": load_average(),
        "sizes": {"feeds": feeds, "items": items, "new_items": new_items, "seed": seed},
        "settings": {
            "feed_concurrency": base.feed_concurrency,
            "embed_batch": base.embed_batch,
            "embed_threads": base.embed_threads,
        },
        "embedder_load_s": load_s,
        "first_sync": _figures(first, first_s, first_cpu) | {"passages": passages},
        "unchanged_poll": _figures(again, again_s, again_cpu)
        | {"answered_304": answered_304, "bare_conditional_requests_s": bare_s},
        "new_items": _figures(added, added_s, added_cpu) | {"requests_seen": added_requests},
        "slow_servers": slowed,
        "peak_rss_mb": peak_rss_mb(),
    }


@dataclass(frozen=True)
class SlowServers:
    """The slow-server sync: `feeds` feeds of `items` items, the pages of `servers` of them on servers that
    trickle their headers; `timeout` is the response deadline (ASSISTANT_FEED_TIMEOUT) of that sync."""

    feeds: int = 20
    items: int = 10
    servers: int = 3
    timeout: float = 3.0


def _slow_sync(site: Site, slow: SlowServers, settings: Settings, embedder: Embedder) -> dict[str, Any]:
    """One first sync with slow servers among fast ones; its figures beside the bounds it should meet."""
    from ingest.sync import sync_sources

    sites = [serve(_free_port()) for _ in range(slow.servers)]
    try:
        slow_sites = [next(s) for s in sites]
        urls = []
        for n in range(slow.feeds):
            host = slow_sites[n] if n < slow.servers else site
            listed = [
                _item(host, 10_000 + n, i, 7, trickle=0.5 if n < slow.servers else 0.0)
                for i in range(slow.items)
            ]
            urls.append(_publish(site, 10_000 + n, listed))
        limits = settings.model_copy(update={"feed_timeout": slow.timeout, "feed_retries": 0})
        report, seconds, cpu = timed(lambda: sync_sources(urls, limits, embedder=embedder))
    finally:
        for s in sites:
            s.close()
    per_host = limits.fetch_per_host
    rounds = -(-slow.items // per_host)
    fallbacks = sum(len(o.fallbacks) for o in report.sources)
    return _figures(report, seconds, cpu) | {
        "feeds": slow.feeds,
        "items": slow.items,
        "slow_servers": slow.servers,
        "slow_pages": slow.servers * slow.items,
        "timeout_s": slow.timeout,
        "fetch_per_host": per_host,
        "fetch_concurrency": limits.fetch_concurrency,
        "fetch_s": report.fetch_seconds,
        "read_from_summary": fallbacks,
        "expected_fetch_bound_s": rounds * slow.timeout,
        "serial_sum_s": slow.servers * slow.items * slow.timeout,
    }


def _figures(report: SyncReport, seconds: float, cpu: float) -> dict[str, Any]:
    ingest = report.ingest
    return {
        "seconds": seconds,
        "cpu_s": cpu,
        "requests": report.requests,
        "failed": len(ingest.failed),
        "new": ingest.new,
        "changed": ingest.changed,
        "unchanged": ingest.unchanged,
        "passages_written": ingest.passages_written,
        "embed_s": ingest.embed_seconds,
        "articles_per_s": ingest.new / seconds if seconds else 0.0,
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _item(site: Site, feed: int, number: int, seed: int, trickle: float = 0.0) -> Item:
    title = f"Feed {feed} story {number}"
    text = story(seed * 10_000_000 + feed * 10_000 + number) + "\n\n" + story(-(feed * 10_000 + number) - 1)
    link = site.put(f"/f{feed}/{number}.html", page(title, text, site_name=f"Site {feed}"), trickle=trickle)
    return Item(f"f{feed}-{number}", title, link, _START + timedelta(minutes=number), f"Summary of {title}.")


def _publish(site: Site, feed: int, listed: list[Item]) -> str:
    return site.put(f"/f{feed}.xml", rss(f"Feed {feed}", listed), "application/rss+xml")


def render_feeds(data: dict[str, Any]) -> str:
    sizes = data["sizes"]
    rows = [
        [
            name, data[key]["seconds"], data[key]["cpu_s"], data[key]["requests"], data[key]["new"],
            data[key]["passages_written"], data[key]["embed_s"], data[key]["articles_per_s"],
            data[key]["failed"],
        ]
        for name, key in (
            ("first sync", "first_sync"),
            ("unchanged poll", "unchanged_poll"),
            (f"{sizes['new_items']} new items", "new_items"),
        )
    ]  # fmt: skip
    poll = data["unchanged_poll"]
    return "\n\n".join(
        [
            header("feeds", data),
            f"{sizes['feeds']} feeds x {sizes['items']} items served from 127.0.0.1, "
            f"{data['settings']['feed_concurrency']} feeds at a time; archive after the first sync: "
            f"{data['first_sync']['new']} articles, {data['first_sync']['passages']} passages",
            table(
                [
                    "sync",
                    "seconds",
                    "cpu s",
                    "requests",
                    "new",
                    "passages",
                    "embed s",
                    "articles/s",
                    "failed",
                ],
                rows,
            ),
            f"unchanged poll: {poll['answered_304']} of {poll['requests']} requests answered 304; the same "
            f"conditional requests alone take {poll['bare_conditional_requests_s']:.2f} s",
            _render_slow(data["slow_servers"]),
            f"peak memory {data['peak_rss_mb']:.0f} MB",
        ]
    )


def _render_slow(slow: dict[str, Any]) -> str:
    return (
        f"slow servers: {slow['feeds']} feeds x {slow['items']} items, the pages of {slow['slow_servers']} "
        f"feeds on servers trickling their headers ({slow['slow_pages']} pages), a {slow['timeout_s']:g} s "
        f"deadline, {slow['fetch_per_host']} requests per server and {slow['fetch_concurrency']} in all: "
        f"fetching took {slow['fetch_s']:.1f} s (the sync {slow['seconds']:.1f} s with embedding), "
        f"{slow['read_from_summary']} pages read from the feed's summary instead; bound by the deadline: "
        f"~{slow['expected_fetch_bound_s']:g} s (ceil({slow['items']} / {slow['fetch_per_host']}) "
        "deadlines), "
        f"against {slow['serial_sum_s']:g} s for the slow pages one after another"
    )

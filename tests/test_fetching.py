"""Fetching the web safely, over real HTTP on loopback: the address policy (127.0.0.2 stands for an
internal server; the feed server on 127.0.0.1 is the one allowed), deadlines a slow server cannot beat,
pages fetched in parallel within per-server and global limits, and a sync's time budget."""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.bench.feedsite import Item, Site, page, rss, serve, story
from ingest.addresses import AddressPolicy, internal_kind, parse_allow
from ingest.errors import AddressNotAllowedError, FetchTimeoutError
from ingest.feeds import item_origin
from ingest.fetchpool import HostPool
from ingest.settings import ArchiveSettings
from ingest.store import PassageStore
from ingest.sync import feed_state, sync_sources
from ingest.web import Fetcher

from .conftest import DAY, ROOT, free_port

LOOPBACK = re.compile(r"127\.0\.0\.2(, | is )a loopback address")
SECRET = "The internal database password is hunter2-orange-7."


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """The public feed server (127.0.0.1, allowed)."""
    monkeypatch.setenv("ASSISTANT_FETCH_ALLOW", "127.0.0.1")
    yield from serve(free_port())


@pytest.fixture
def internal() -> Iterator[Site]:
    """An internal server (127.0.0.2, not allowed) holding a secret page."""
    for inner in serve(free_port(), host="127.0.0.2"):
        inner.put("/admin/secret.html", page("Database credentials", f"{SECRET}\n\n{story(3)}"))
        yield inner


@pytest.fixture
def settings(tmp_path: Path) -> ArchiveSettings:
    return ArchiveSettings(
        data_dir=tmp_path / "data", feed_timeout=3.0, feed_retries=0, fetch_allow="127.0.0.1"
    )


def stored_text(settings: ArchiveSettings) -> str:
    return "\n".join(p.text for p in PassageStore(settings).iter_passages())


def spellings(inner: Site, path: str) -> list[str]:
    """The internal server's URL spelt as a dotted, decimal, hex, short and IPv4-mapped IPv6 address."""
    number = int(ipaddress.IPv4Address(inner.host))
    return [
        inner.url(path),
        f"http://{number}:{inner.port}{path}",
        f"http://{hex(number)}:{inner.port}{path}",
        f"http://127.2:{inner.port}{path}",
        f"http://[::ffff:{inner.host}]:{inner.port}{path}",
    ]


# --- the address policy, unit by unit -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.0.0.2", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # the cloud metadata service
        ("100.64.0.1", "non-public"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_internal_addresses_are_classified_by_ipaddress(address: str, kind: str | None) -> None:
    assert internal_kind(ipaddress.ip_address(address)) == kind


def test_the_allow_list_takes_hosts_addresses_and_networks() -> None:
    policy = AddressPolicy.parse(["127.0.0.1", "10.0.0.0/8", "Intranet.Example", "fd00::/8"])
    loopback, private = ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("10.9.8.7")
    assert policy.refusal("x", loopback) is None and policy.refusal("x", private) is None
    assert policy.refusal("x", ipaddress.ip_address("::ffff:127.0.0.1")) is None  # the same address
    assert policy.refusal("x", ipaddress.ip_address("127.0.0.2")) == "a loopback address"
    assert policy.refusal("intranet.example", ipaddress.ip_address("192.168.0.9")) is None  # by name
    assert policy.refusal("x", ipaddress.ip_address("fd12::1")) is None
    assert policy.refusal("x", ipaddress.ip_address("192.168.0.9")) == "a private address"
    assert AddressPolicy().refusal("x", ipaddress.ip_address("93.184.216.34")) is None
    for bad in ("0177.1", "2130706433", "http://x/", "a b"):
        with pytest.raises(ValueError, match="ASSISTANT_FETCH_ALLOW takes host names"):
            parse_allow([bad])
    with pytest.raises(ValueError, match="ASSISTANT_FETCH_ALLOW"):
        ArchiveSettings(fetch_allow="10.0.0.0/8, not a host")
    assert ArchiveSettings(fetch_allow=" 127.0.0.1 ,10.0.0.0/8").fetch_allow == ("127.0.0.1", "10.0.0.0/8")


# --- hostile feeds: item links, redirects, spellings --------------------------------------------------------
def test_a_feeds_links_to_an_internal_server_are_refused_and_nothing_of_it_is_stored(
    site: Site, internal: Site, settings: ArchiveSettings, embedder
) -> None:  # type: ignore[no-untyped-def]
    site.put("/go", b"", status=302, headers={"Location": internal.url("/admin/secret.html")})
    links = [*spellings(internal, "/admin/secret.html"), site.url("/go")]
    items = [Item(f"x-{n}", f"Item {n}", link, DAY, f"Summary {n}.") for n, link in enumerate(links)]
    feed = site.put("/hostile.xml", rss("Hostile", items), "application/rss+xml")

    report = sync_sources([feed], settings, embedder=embedder)
    assert internal.hits == []  # not one request reached the internal server
    assert "hunter2" not in stored_text(settings)
    reasons = dict(report.sources[0].fallbacks)
    assert len(reasons) == len(links)  # each item read from the feed's own text instead
    for n, link in enumerate(links):
        why = reasons[item_origin(feed, f"x-{n}")]
        assert why.startswith(f"{link}: refused: ") and LOOPBACK.search(why), why
        assert "ASSISTANT_FETCH_ALLOW" in why and "\n" not in why
    assert "redirects to " + internal.url("/admin/secret.html") in reasons[item_origin(feed, "x-5")]


def test_the_url_given_and_its_redirects_are_refused_by_the_fetcher(site: Site, internal: Site) -> None:
    site.put("/hop", b"", status=301, headers={"Location": site.url("/hop2")})
    site.put("/hop2", b"", status=307, headers={"Location": internal.url("/admin/secret.html")})
    with Fetcher(ArchiveSettings(fetch_allow="127.0.0.1", feed_retries=0)) as web:
        for url in [*spellings(internal, "/admin/secret.html"), site.url("/hop")]:
            with pytest.raises(AddressNotAllowedError) as caught:
                web.get(url)
            assert str(caught.value).startswith(f"{url}: refused: ") and "127.0.0.2" in str(caught.value)
    with (
        Fetcher(ArchiveSettings(feed_retries=0, fetch_allow=())) as web,
        pytest.raises(AddressNotAllowedError, match="localhost"),
    ):
        web.get(f"http://localhost:{site.port}/")
    assert internal.hits == []
    allowed = ArchiveSettings(fetch_allow="127.0.0.0/8", feed_retries=0)
    with Fetcher(allowed) as web:  # the operator's allow list opens the way
        assert b"hunter2" in web.get(site.url("/hop")).body


def test_the_command_refuses_an_internal_url_in_one_line_and_its_flag_allows_it(
    internal: Site, tmp_path: Path
) -> None:
    """The path a user takes: `python -m ingest URL` as a real process."""
    url = internal.url("/admin/secret.html")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ASSISTANT_DATA_DIR": str(tmp_path / "data")}
    env.pop("ASSISTANT_FETCH_ALLOW", None)
    refused = subprocess.run(
        [sys.executable, "-m", "ingest", "-q", url], capture_output=True, text=True, env=env, timeout=120
    )
    assert refused.returncode == 1, refused.stderr[-2000:]
    (line,) = [x for x in refused.stderr.splitlines() if x.startswith("failed: ")]
    assert line.startswith(f"failed: {url}: refused: 127.0.0.2 is a loopback address")
    assert "ASSISTANT_FETCH_ALLOW" in line and "--fetch-allow" in line
    assert internal.hits == []
    allowed = subprocess.run(
        [sys.executable, "-m", "ingest", "-q", url, "--fetch-allow", "127.0.0.2", "--embedder", "minilm"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert allowed.returncode == 0, allowed.stderr[-2000:]
    assert "1 new" in allowed.stdout and len(internal.hits) == 1


# --- deadlines ----------------------------------------------------------------------------------------------
def test_a_server_trickling_its_headers_is_cut_off_at_the_deadline(site: Site) -> None:
    url = site.put("/slow.xml", b"", trickle=0.3)  # a header line every 0.3 s, without end
    with Fetcher(ArchiveSettings(fetch_allow="127.0.0.1", feed_timeout=1.5, feed_retries=2)) as web:
        started = time.monotonic()
        with pytest.raises(FetchTimeoutError, match=r"did not send the whole response within 1\.5 s"):
            web.get(url)
        assert time.monotonic() - started < 3.0  # one deadline, not retried, whatever the pace
        started = time.monotonic()
        with pytest.raises(FetchTimeoutError, match="time budget ran out"):
            web.get(url, until=time.monotonic() + 0.5)  # a sync's budget cuts it shorter
        assert time.monotonic() - started < 1.5


def test_the_command_on_a_trickling_server_ends_by_its_deadline(site: Site, tmp_path: Path) -> None:
    url = site.put("/slow.xml", b"", trickle=0.5)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ASSISTANT_DATA_DIR": str(tmp_path / "data")}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "ingest", "-q", url, "--feed-timeout", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1 and "did not send the whole response within 2 s" in done.stderr
    assert time.monotonic() - started < 60  # the process start and imports, plus one 2 s deadline


def test_a_slow_item_among_fast_ones_costs_one_deadline_and_the_rest_go_in(
    site: Site, settings: ArchiveSettings, embedder
) -> None:  # type: ignore[no-untyped-def]
    items = []
    for n in range(6):
        link = site.put(f"/mix/{n}.html", page(f"Mixed story {n}", story(50 + n)))
        items.append(Item(f"mix-{n}", f"Mixed story {n}", link, DAY, f"Summary {n}."))
    site.routes["/mix/2.html"].trickle = 0.5
    feed = site.put("/mix.xml", rss("Mixed", items), "application/rss+xml")
    started = time.monotonic()
    report = sync_sources([feed], settings.model_copy(update={"feed_timeout": 2.0}), embedder=embedder)
    fetching = report.seconds
    assert time.monotonic() - started < 30
    assert report.ingest.new == 6
    ((origin, why),) = report.sources[0].fallbacks
    assert origin == item_origin(feed, "mix-2") and "within 2 s" in why
    assert fetching < 30


def test_item_pages_are_fetched_in_parallel_within_the_per_server_limit(
    site: Site, settings: ArchiveSettings, embedder
) -> None:  # type: ignore[no-untyped-def]
    items = [
        Item(f"p-{n}", f"Parallel {n}", site.put(f"/par/{n}.html", page(f"Parallel {n}", story(n))), DAY, ".")
        for n in range(8)
    ]
    for n in range(8):
        site.routes[f"/par/{n}.html"].delay = 0.4
    feed = site.put("/par.xml", rss("Parallel", items), "application/rss+xml")
    limits = settings.model_copy(update={"fetch_per_host": 3, "fetch_concurrency": 8})
    report = sync_sources([feed], limits, embedder=embedder)
    assert report.sources[0].status == "fetched" and len(report.sources[0].read) == 8
    assert site.most_in_flight == 3  # in parallel, and never more than 3 on one server


def test_the_pool_keeps_its_limits_and_serves_servers_in_turn() -> None:
    lock = threading.Lock()
    running: dict[str, int] = {}
    most: dict[str, int] = {}
    order: list[str] = []

    def work(server: str) -> str:
        with lock:
            running[server] = running.get(server, 0) + 1
            most[server] = max(most.get(server, 0), running[server])
            order.append(server)
        time.sleep(0.05)
        with lock:
            running[server] -= 1
        return server

    with HostPool(total=3, per_host=2) as pool:
        busy = [pool.submit("busy:80", lambda: work("busy:80")) for _ in range(10)]
        late = pool.submit("late:80", lambda: work("late:80"))
        assert late.result(timeout=5) == "late:80"
        assert [f.result(timeout=5) for f in busy] == ["busy:80"] * 10
    assert most == {"busy:80": 2, "late:80": 1} and pool.most_busy == 3
    assert order.index("late:80") < 4  # the newcomer went ahead of the busy server's queue


def test_a_sync_ends_by_its_budget_and_skipped_items_come_next_poll(
    site: Site, settings: ArchiveSettings, embedder
) -> None:  # type: ignore[no-untyped-def]
    items = []
    for n in range(6):
        link = site.put(f"/late/{n}.html", page(f"Late story {n}", story(70 + n)), trickle=0.5)
        items.append(Item(f"late-{n}", f"Late story {n}", link, DAY, f"Summary {n}."))
    feed = site.put("/late.xml", rss("Late", items), "application/rss+xml")
    tight = settings.model_copy(update={"feed_timeout": 30.0, "feed_budget": 2.0, "fetch_per_host": 2})
    started = time.monotonic()
    report = sync_sources([feed], tight, embedder=embedder)
    assert time.monotonic() - started < 15  # the budget, not 6 x 30 s
    assert len(report.sources[0].items_skipped) == 6 and report.skipped == 6 and not report.ok
    assert "skipped when the 2 s budget ran out" in report.summary()
    assert report.ingest.new == 0  # nothing stored from the summaries: the pages come next time
    assert feed_state(settings).sources([feed])[feed].etag is None  # so the next poll fetches it whole

    for n in range(6):
        site.routes[f"/late/{n}.html"].trickle = 0.0
    again = sync_sources([feed], tight, embedder=embedder)
    assert again.ok and again.ingest.new == 6 and not again.sources[0].fallbacks

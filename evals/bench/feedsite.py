"""A real HTTP server on loopback (http.server in a thread) serving feeds and pages to the feed benchmark
and the feed tests.

`Site` holds routes (path -> `Route`) that tests change while it runs, answers conditional requests with
304 when the validators match, and logs every request (path, headers, status) and the most requests it
had in flight at once. It listens on 127.0.0.1 unless told another loopback address: a site on 127.0.0.2
stands for an internal server the fetcher must refuse. The fetcher refuses loopback addresses unless
allowed, so whoever fetches from a site allows its address (`ASSISTANT_FETCH_ALLOW`, `Site.host`).
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

_WORDS = (
    "council budget river bridge school hospital airport railway museum festival harvest export wheat "
    "copper energy solar wind grid tariff minister mayor court ruling election vote parliament senator "
    "treaty border trade market shares bank inflation wages housing rent storm flood drought wildfire "
    "vaccine clinic research university students teachers football stadium league coach transfer "
    "orchestra library bakery factory workers union strike contract pipeline harbour ferry tourism"
).split()


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    conditional: bool = True  # send ETag / Last-Modified and answer 304 to a match
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    stall: bool = False  # send nothing until the site stops
    stream: bool = False  # send the body in chunks without a Content-Length
    trickle: float = 0.0  # seconds between header lines, sent one by one without end (a slow server)
    fail_first: int = 0  # answer 503 this many times first

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha1(self.body).hexdigest()[:16] + '"'


@dataclass(frozen=True)
class Hit:
    path: str
    headers: dict[str, str]
    status: int


class Site:
    """The routes and the request log; `url(path)` is the address of a path."""

    last_modified = format_datetime(datetime(2026, 1, 2, 9, 0, tzinfo=UTC), usegmt=True)

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self.routes: dict[str, Route] = {}
        self.hits: list[Hit] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.stopping = threading.Event()
        self._lock = threading.Lock()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def put(
        self, path: str, body: str | bytes, content_type: str = "text/html; charset=utf-8", **kw: object
    ) -> str:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = Route(data, content_type, **kw)  # type: ignore[arg-type]
        return self.url(path)

    def hits_of(self, path: str) -> list[Hit]:
        with self._lock:
            return [hit for hit in self.hits if hit.path == path]

    def clear(self) -> None:
        with self._lock:
            self.hits.clear()
            self.most_in_flight = 0

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def _leave(self, hit: Hit) -> None:
        with self._lock:
            self.in_flight -= 1
            self.hits.append(hit)


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            site._enter()
            status = 0
            try:
                status = self._answer()
            except (BrokenPipeError, ConnectionResetError):
                status = -1
            finally:
                site._leave(Hit(self.path, dict(self.headers.items()), status))

        def _answer(self) -> int:
            route = site.routes.get(self.path)
            if route is None:
                return self._send(404, b"not found", "text/plain")
            if route.stall:
                site.stopping.wait(30)
                return 0
            if route.trickle:
                return self._trickle(route.trickle)
            if route.delay:
                time.sleep(route.delay)
            if route.fail_first > 0:
                route.fail_first -= 1
                return self._send(503, b"busy", "text/plain")
            extra = dict(route.headers)
            if route.conditional:
                extra.update({"ETag": route.etag, "Last-Modified": site.last_modified})
                if self.headers.get("If-None-Match") == route.etag:
                    return self._send(304, b"", None, extra)
            if route.status in (301, 302, 303, 307, 308):
                return self._send(route.status, b"", None, extra)
            if route.stream:
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Connection", "close")
                self.end_headers()
                for start in range(0, len(route.body), 64 * 1024):
                    self.wfile.write(route.body[start : start + 64 * 1024])
                return route.status
            return self._send(route.status, route.body, route.content_type, extra)

        def _trickle(self, pause: float) -> int:
            """A status line, then one header line every `pause` seconds until the site stops."""
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            for n in range(int(300 / pause)):
                self.wfile.write(f"X-Slow-{n}: still coming\r\n".encode())
                self.wfile.flush()
                if site.stopping.wait(pause):
                    break
            return 0

        def _send(
            self, status: int, body: bytes, ctype: str | None, extra: dict[str, str] | None = None
        ) -> int:
            self.send_response(status)
            if ctype:
                self.send_header("Content-Type", ctype)
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)
            return status

    return Handler


def serve(port: int, host: str = "127.0.0.1") -> Generator[Site, None, None]:
    """Run a `Site` on `host`:`port` in a thread until the generator is closed."""
    site = Site(port, host)
    server = ThreadingHTTPServer((host, port), _handler(site))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="feed-site", daemon=True)
    thread.start()
    try:
        yield site
    finally:
        site.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


# --- content ---------------------------------------------------------------------------------------------
def story(seed: int, sentences: int = 8) -> str:
    """Varied, deterministic news-like prose (so no two articles are copies and none is repetitive)."""
    rng = random.Random(seed)
    out = []
    for _ in range(sentences):
        words = rng.sample(_WORDS, 9)
        out.append(
            f"The {words[0]} {words[1]} met the {words[2]} of {words[3]} on {rng.randint(2, 28)} "
            f"January after {rng.randint(3, 900)} {words[4]} {words[5]} asked about {words[6]} "
            f"{words[7]} and {words[8]}."
        )
    return " ".join(out)


def page(title: str, text: str, site_name: str = "Test Gazette") -> str:
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in text.split("\n\n"))
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta property="og:site_name" content="{escape(site_name)}"></head><body>'
        f"<nav><a href='/'>Home</a></nav><article><h1>{escape(title)}</h1>{paragraphs}</article>"
        "<footer>All rights reserved.</footer></body></html>"
    )


@dataclass(frozen=True)
class Item:
    guid: str
    title: str
    link: str
    published: datetime
    summary: str


def rss(title: str, items: list[Item]) -> str:
    entries = "".join(
        f"<item><guid isPermaLink='false'>{escape(i.guid)}</guid><title>{escape(i.title)}</title>"
        f"<link>{escape(i.link)}</link><pubDate>{format_datetime(i.published, usegmt=True)}</pubDate>"
        f"<description>{escape(i.summary)}</description></item>"
        for i in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>http://127.0.0.1/</link><description>test</description>"
        f"{entries}</channel></rss>"
    )


def atom(title: str, items: list[Item]) -> str:
    entries = "".join(
        f"<entry><id>{escape(i.guid)}</id><title>{escape(i.title)}</title>"
        f'<link href="{escape(i.link)}"/><updated>{i.published.isoformat()}</updated>'
        f"<summary>{escape(i.summary)}</summary></entry>"
        for i in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{escape(title)}</title><id>urn:test:{escape(title)}</id>"
        f"<updated>2026-01-02T09:00:00Z</updated>{entries}</feed>"
    )


def billion_laughs() -> str:
    levels = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY lol0 "lol">{levels}]>'
        '<rss version="2.0"><channel><title>Laughs</title><item><title>&lol9;</title>'
        "<description>&lol9;</description><link>http://127.0.0.1/x</link></item></channel></rss>"
    )


def external_entity() -> str:
    return (
        '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'
        '<rss version="2.0"><channel><title>Secrets</title><item><title>&secret;</title>'
        "<description>&secret;</description><link>http://127.0.0.1/y</link></item></channel></rss>"
    )

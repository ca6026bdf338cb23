"""HTTP for feeds and pages: one polite, bounded client (httpx) and the errors a user can act on.

- Every request names the project in its User-Agent (`ASSISTANT_FEED_USER_AGENT`).
- Addresses: the host of the URL, of every redirect and of every feed item's link is resolved and checked
  on the address connected to (`ingest.connections`, `ingest.addresses`): loopback, private, link-local,
  multicast, reserved and unspecified addresses are refused (`AddressNotAllowedError`) unless
  `ASSISTANT_FETCH_ALLOW` allows them. No proxy is used (the check could not see where a proxy connects).
- Time: the whole response, from resolving the host to the last byte and over every redirect, must
  arrive within `ASSISTANT_FEED_TIMEOUT` seconds, however the server paces it (one header line a second
  is cut off like silence); a caller may cut that shorter still (`until`, a sync's budget).
- Size: a `Content-Length` over `ASSISTANT_FEED_MAX_MB` is refused before the body is read; without one the
  body is streamed and abandoned as soon as it passes the limit.
- Type: the response must be text (HTML, XML, a feed, plain text): images, PDFs, audio and bodies holding
  NUL bytes are refused (`NotTextError`) without reading them.
- Redirects are followed up to five hops; a loop is a `RedirectLoopError`.
- Failures to connect and 5xx / 429 answers are retried `ASSISTANT_FEED_RETRIES` times with exponential
  backoff (tenacity; a `Retry-After` of up to 30 s is honoured); timeouts and refusals are not retried.
- Conditional GET: the caller passes the ETag / Last-Modified it kept; a 304 comes back as
  `Response.not_modified`.

Left out on purpose: robots.txt, cookies, authentication and proxies. Politeness across requests (how many
at once per server) is `ingest.fetchpool`'s.
"""

from __future__ import annotations

import email.message
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from types import TracebackType

import httpcore
import httpx
import tenacity

from .addresses import ALLOW_SETTING, AddressPolicy
from .connections import AddressRefused, GuardedBackend, GuardedTransport
from .errors import (
    AddressNotAllowedError,
    FetchError,
    FetchTimeoutError,
    HTTPStatusError,
    NotTextError,
    RedirectLoopError,
    ResponseTooLargeError,
)
from .settings import ArchiveSettings

__all__ = ["Fetcher", "Response", "is_web_url", "server_of"]

_MAX_REDIRECTS = 5
_MAX_RETRY_AFTER = 30.0
_SNIFF_BYTES = 8 * 1024
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, "
    "text/html;q=0.8, application/xhtml+xml;q=0.8, */*;q=0.1"
)
_TEXT_TYPES = ("application/xml", "application/xhtml+xml", "application/json", "application/rss+xml")


def is_web_url(value: str) -> bool:
    """Whether a command-line argument names a web resource rather than a file."""
    return value.lower().startswith(("http://", "https://"))


def server_of(url: str) -> str:
    """The server a URL is fetched from (host and port): the unit of politeness."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return url
    return f"{parsed.host}:{parsed.port or (443 if parsed.scheme == 'https' else 80)}"


@dataclass(frozen=True)
class Response:
    """A fetched feed or page (or a 304: `not_modified`, no body)."""

    url: str  # the final URL, after redirects
    status: int
    content_type: str  # the media type alone, lower case ("text/html"); "" when the server sent none
    charset: str | None
    body: bytes
    etag: str | None
    last_modified: str | None

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    def text(self) -> str:
        """The body decoded with the charset the server declared, else UTF-8 (bad bytes replaced)."""
        try:
            return self.body.decode(self.charset or "utf-8", errors="replace")
        except LookupError:  # an unknown charset name
            return self.body.decode("utf-8", errors="replace")


class Fetcher:
    """Fetches feeds and pages within the limits of the settings. Thread-safe (one httpx client, shared).

    `backoff` is the first retry's pause in seconds (doubled each time)."""

    def __init__(self, settings: ArchiveSettings, *, backoff: float = 0.5) -> None:
        self.timeout = settings.feed_timeout
        self.max_bytes = int(settings.feed_max_mb * 1024 * 1024)
        self.retries = settings.feed_retries
        self.backoff = backoff
        self.policy = AddressPolicy.parse(settings.fetch_allow)
        self._backend = GuardedBackend(self.policy)
        self._client = httpx.Client(
            headers={"User-Agent": settings.feed_user_agent, "Accept": _ACCEPT},
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
            follow_redirects=False,  # followed in `_get_once`, within one deadline
            transport=GuardedTransport(self._backend),
            trust_env=False,
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()
        self._backend.close()

    def check_address(self, url: str) -> None:
        """Raise `AddressNotAllowedError` when the URL's host resolves only to addresses the policy refuses
        (a quick check before following a URL; the fetch checks every connection again). Other problems
        (a name that does not resolve, a bad URL) are left to the fetch to report."""
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            return
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            with self._backend.deadline(time.monotonic() + min(self.timeout, 10.0)):
                self._backend.allowed_addresses(parsed.host, port)
        except AddressRefused as exc:
            raise AddressNotAllowedError(url, _refusal(url, url, exc)) from None
        except (httpcore.ConnectError, httpcore.ConnectTimeout):
            return  # the name does not resolve (now): the fetch says so

    def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        until: float | None = None,
    ) -> Response:
        """GET `url` (conditionally when validators are given); raises a `FetchError` subclass naming the
        URL and the reason. `until` (`time.monotonic()`) cuts the response's deadline shorter, and no retry
        starts after it."""
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified

        def stop(state: tenacity.RetryCallState) -> bool:
            used_up = state.attempt_number > self.retries
            return used_up or (until is not None and time.monotonic() + self._pause(state) >= until)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Retryable), stop=stop, wait=self._pause, reraise=True
        )
        try:
            return retrying(self._get_once, url, headers, until)
        except _Retryable as exc:
            raise exc.error from None

    def _pause(self, state: tenacity.RetryCallState) -> float:
        """The pause before the next try: the server's Retry-After, else the backoff doubled each time."""
        failure = state.outcome.exception() if state.outcome is not None else None
        if isinstance(failure, _Retryable) and failure.wait is not None:
            return failure.wait
        return float(self.backoff * 2 ** (state.attempt_number - 1))

    def _get_once(self, url: str, headers: dict[str, str], until: float | None) -> Response:
        own = time.monotonic() + self.timeout
        deadline = own if until is None else min(own, until)
        hop = url
        try:
            with self._backend.deadline(deadline):
                request = self._client.build_request("GET", url, headers=headers)
                for _ in range(_MAX_REDIRECTS + 1):
                    hop = str(request.url)
                    response = self._client.send(request, stream=True)
                    try:
                        if response.next_request is None:
                            return self._read(url, response, deadline)
                        request = response.next_request
                    finally:
                        response.close()
            raise RedirectLoopError(
                url,
                f"redirects in a loop (or through more than {_MAX_REDIRECTS} hops); open it in a browser "
                "and give the address it ends at",
            )
        except AddressRefused as exc:
            raise AddressNotAllowedError(url, _refusal(url, hop, exc)) from None
        except httpx.TimeoutException as exc:
            raise FetchTimeoutError(url, self._timeout_reason(exc, cut=deadline < own)) from None
        except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
            raise _Retryable(FetchError(url, f"cannot connect ({exc or type(exc).__name__})"), None) from None
        except httpx.UnsupportedProtocol:
            raise FetchError(url, "only http:// and https:// URLs can be fetched") from None
        except httpx.InvalidURL as exc:
            raise FetchError(url, f"not a valid URL ({exc})") from None
        except httpx.HTTPError as exc:  # the rest of httpx's errors (read errors, decoding)
            raise FetchError(url, f"the request failed ({type(exc).__name__}: {exc})") from None

    def _read(self, url: str, response: httpx.Response, deadline: float) -> Response:
        """The response of the last hop: its status checked, its type checked, its body read."""
        if response.status_code >= 500 or response.status_code == 429:
            raise _Retryable(HTTPStatusError(url, _status_reason(response)), _retry_after(response.headers))
        if response.status_code >= 400:
            raise HTTPStatusError(url, _status_reason(response))
        media = _media_type(response.headers.get("content-type", ""))
        if response.status_code == 304:
            body = b""
        else:
            if media and not _is_text(media):
                raise NotTextError(
                    url,
                    f"the server sent {media}, not a feed or an HTML page; give the URL of a feed "
                    "or of an article page",
                )
            body = self._read_body(url, response, deadline)
        return Response(
            url=str(response.url),
            status=response.status_code,
            content_type=media,
            charset=response.charset_encoding,
            body=body,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
        )

    def _read_body(self, url: str, response: httpx.Response, deadline: float) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise ResponseTooLargeError(url, self._too_large(f"{int(declared)} bytes"))
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise ResponseTooLargeError(url, self._too_large(f"more than {self.max_bytes} bytes"))
            chunks.append(chunk)
        body = b"".join(chunks)
        if b"\x00" in body[:_SNIFF_BYTES]:
            raise NotTextError(url, "the response is binary (it holds NUL bytes), not a feed or an HTML page")
        return body

    def _too_large(self, size: str) -> str:
        return (
            f"the response is too large ({size}; the limit is {self.max_bytes} bytes); raise "
            "ASSISTANT_FEED_MAX_MB if this feed or page is meant to be this big"
        )

    def _timeout_reason(self, exc: httpx.TimeoutException, *, cut: bool) -> str:
        if cut:
            return (
                "the sync's time budget ran out before the response was whole; it is fetched at the next "
                "poll (raise ASSISTANT_FEED_BUDGET to give syncs longer)"
            )
        what = "connect" if isinstance(exc, httpx.ConnectTimeout) else "send the whole response"
        return (
            f"the server did not {what} within {self.timeout:g} s (slow or stalled); try again later or "
            "raise ASSISTANT_FEED_TIMEOUT"
        )


class _Retryable(Exception):
    """A failure worth another try: `error` is raised once the retries are used up."""

    def __init__(self, error: FetchError, wait: float | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait = wait


def _refusal(url: str, hop: str, exc: AddressRefused) -> str:
    """One line: where the refused address came from, what it is, and the setting that would allow it."""
    via = "" if hop == url else f"it redirects to {hop}, whose host "
    what = (
        f"{exc.host} is {exc.why}"
        if exc.host == exc.address
        else f"{exc.host} resolves to {exc.address}, {exc.why}"
    )
    return (
        f"refused: {via}{what}; internal addresses are not "
        f"fetched unless {ALLOW_SETTING} (or --fetch-allow) allows them, e.g. {ALLOW_SETTING}={exc.address}"
    )


def _status_reason(response: httpx.Response) -> str:
    code = response.status_code
    hint = {
        401: "; the feed needs a login, which is not supported",
        403: "; the server refuses this reader",
        404: "; check the URL",
        410: "; the feed is gone",
        429: "; the server asks to be polled less often",
    }.get(code, "; try again later" if code >= 500 else "")
    return f"the server answered {code} {response.reason_phrase}".rstrip() + hint


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return min(float(value), _MAX_RETRY_AFTER)
    try:
        wait = parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError):
        return None
    return min(max(wait, 0.0), _MAX_RETRY_AFTER)


def _media_type(header: str) -> str:
    """`text/html` from `text/html; charset=UTF-8` (the standard library's MIME parser); "" for none."""
    if not header.strip():
        return ""
    message = email.message.Message()
    message["content-type"] = header
    return message.get_content_type()


def _is_text(media: str) -> bool:
    return media.startswith("text/") or media in _TEXT_TYPES or media.endswith("+xml")

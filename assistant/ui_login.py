"""Login throttling for the UI: repeated wrong passwords from one client address are refused for a while.

Gradio checks the password on `POST /login` (`launch(auth=...)`; the comparison is `hmac.compare_digest`)
but answers every guess at once. `LoginThrottle` is a small ASGI middleware in front of the app that
only looks at that route. Every attempt counts as a failure when it starts (so parallel guesses are
bounded too) and a successful login (200) clears the client's count. The first `free_attempts` are
answered as usual; after that the client must pause, `first_pause` seconds after the first extra
failure, doubling with each further one up to `max_pause`. An attempt during a pause gets
429 Too Many Requests with a Retry-After header and a message saying how long to wait, and is not
passed to Gradio, so it costs no guess. A client quiet for `forget_after` seconds starts afresh.

Left out: the client is the TCP peer address. Behind a reverse proxy every user has the proxy's
address (and shares its pauses): throttle logins at the proxy there. Gradio's login page shows no text
for a 429 (only "Incorrect Credentials" for a 400); the UI's login message says what happens.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

FREE_ATTEMPTS = 5
FIRST_PAUSE = 1.0  # seconds
MAX_PAUSE = 300.0
FORGET_AFTER = 900.0
MAX_CLIENTS = 10_000

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class _Client:
    attempts: int = 0
    last: float = 0.0
    until: float = 0.0  # no attempt before this time


class LoginAttempts:
    """The login attempts of each client since its last success, and the pause each must keep."""

    def __init__(
        self,
        *,
        free_attempts: int = FREE_ATTEMPTS,
        first_pause: float = FIRST_PAUSE,
        max_pause: float = MAX_PAUSE,
        forget_after: float = FORGET_AFTER,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free_attempts = free_attempts
        self.first_pause = first_pause
        self.max_pause = max_pause
        self.forget_after = max(forget_after, max_pause)  # a pause never outlives its record
        self.max_clients = max_clients
        self._clock = clock
        self._clients: dict[str, _Client] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._clients)

    def admit(self, client: str) -> float:
        """0.0 if `client` may try now (the attempt is counted), else the seconds it still has to wait."""
        with self._lock:
            now = self._clock()
            record = self._clients.get(client)
            if record is None or now - record.last >= self.forget_after:
                self._bound(now)
                record = self._clients[client] = _Client()
            if record.until > now:
                return record.until - now
            record.attempts += 1
            record.last = now
            extra = record.attempts - self.free_attempts
            if extra >= 0:
                record.until = now + min(self.max_pause, self.first_pause * 2 ** min(extra, 32))
            return 0.0

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._clients.pop(client, None)

    def _bound(self, now: float) -> None:
        """Make room for one more client: forget quiet clients, then the longest quiet half if still full."""
        if len(self._clients) < self.max_clients:
            return
        for key in [k for k, r in self._clients.items() if now - r.last >= self.forget_after]:
            del self._clients[key]
        if len(self._clients) >= self.max_clients:
            by_age = sorted(self._clients, key=lambda k: self._clients[k].last)
            for key in by_age[: len(by_age) - self.max_clients // 2]:
                del self._clients[key]


class LoginThrottle:
    """ASGI middleware: `POST .../login` goes through `LoginAttempts`; every other request passes by."""

    def __init__(self, app: ASGIApp, attempts: LoginAttempts | None = None) -> None:
        self.app = app
        self.attempts = attempts if attempts is not None else LoginAttempts()  # an empty one is falsy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].rstrip("/").endswith("/login")
        ):
            await self.app(scope, receive, send)
            return
        client = scope["client"][0] if scope.get("client") else "unknown"
        wait = self.attempts.admit(client)
        if wait > 0:
            await _refusal(math.ceil(wait))(scope, receive, send)
            return
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        if status == 200:
            self.attempts.succeeded(client)


def _refusal(seconds: int) -> Any:
    from starlette.responses import JSONResponse

    detail = f"Too many failed sign-ins from this address: try again in {seconds} s."
    return JSONResponse({"detail": detail}, status_code=429, headers={"Retry-After": str(seconds)})

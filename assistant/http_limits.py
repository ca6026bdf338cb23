"""A limit on request bodies, as ASGI middleware in front of the API and the chat page.

A body whose `Content-Length` is over the limit is refused before any of it is read; a body sent without
one (chunked) is read up to the limit and refused as soon as it passes it, else handed on whole. The
refusal is the caller's (`refusal(path, limit)`: the API answers in OpenAI's error shape). Paths for which
`exempt(path)` is true (the page's uploads, which Gradio limits itself) pass untouched.

Left out: a time limit on slow bodies (uvicorn's and a proxy's timeouts are for that).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["BodyLimit"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """Refuses request bodies over `limit` bytes (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        refusal: Callable[[str, int], Any],
        exempt: Callable[[str], bool] = lambda path: False,
    ) -> None:
        self.app = app
        self.limit = limit
        self.refusal = refusal
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or self.exempt(path):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None:
            if declared > self.limit:
                await self.refusal(path, self.limit)(scope, receive, send)
                return
            await self.app(scope, receive, send)  # the server reads no more than it declares
            return
        body = await _read_up_to(receive, self.limit)
        if body is None:
            await self.refusal(path, self.limit)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: the disconnect
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length before we are called
    return None


async def _read_up_to(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes `limit` bytes (or the client went away)."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)

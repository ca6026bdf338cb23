"""The OpenAI-compatible API: `/v1/models`, `/v1/chat/completions` and `/v1/feedback` over one `Assistant`.

`create_app(settings, assistant, queue, store)` returns a FastAPI app; nothing starts on import, and
`ui.serve()` mounts the chat UI on the same app and runs both in one process, sharing one model and one
`ModelQueue`.

- **Requests**: OpenAI's chat request. The last user message is the question, the user and assistant
  messages before it the conversation (system messages are ignored: the assistant's prompts are its own).
  Extra fields: `max_sources`, `published_after`, `published_before` (ISO dates, whole days). Fields
  of OpenAI's this API does not use (`temperature`, `tools`, ...) are ignored; any `model` name is
  accepted and answered by `news-assistant`.
- **Conversations**: a request that names a conversation is stored (question, history, answer with its
  citations and timings, and the settings used) in the data dir's `ConversationStore`; one that does not
  is kept nowhere. The name is `metadata.conversation_id` (a string, 1-200 characters), or failing that
  OpenAI's `user` field. The response `id` is then `chatcmpl-<turn id>`, which `/v1/feedback` takes.
  Conversations belong to the client's key: with keys set the owner is `api:` and the first 16 hex digits
  of the key's SHA-256 (the key itself is never stored), without keys `api`. A conversation id is the
  client's own within its owner (stored as `<owner>/<id>`), so two keys may both use `chat-1` and neither
  reads, continues nor rates the other's.
- **Feedback**: `POST /v1/feedback` with `{"id": "chatcmpl-...", "rating": 1 | -1, "comment": "..."}`
  judges a stored answer of the same owner (a second judgement replaces the first): 200 `{"ok": true,
  "id": ...}`, 400 for a bad body or rating, 404 for an id that was not stored or is another owner's.
  `python -m evals feedback export` turns the judged answers into an eval set.
- **Responses**: OpenAI's `chat.completion`, the text keeping its [n] markers, plus top-level `citations`
  (n, title, url, published, source, the passage `text`, the `span` of the supporting sentence in it and
  that `supporting_text`) and `refused`, which OpenAI clients ignore.
- **Streaming** (`"stream": true`): the engine streams a draft that the grounding guards may then rewrite
  (unsupported sentences and markers removed, or the whole answer turned into a refusal), and a stream of
  OpenAI chunks can only append. So the answer is computed first and the final, grounded text is then
  sent as chunks of a few words: concatenating the content deltas gives exactly `Answer.text`, never a
  retracted draft. The final chunk carries `finish_reason: "stop"`, `usage`, `citations` and `refused`;
  `data: [DONE]` ends the stream. The price is the time to the first token: it becomes the time to the
  whole answer (local model, README figures: 3.75 s to the first token, 5.45 s p50 / 6.74 s p95 to
  the end, so about 1.7 s at p50); the chat UI keeps streaming the draft live.
- **One model, one queue**: every answer, from the UI or the API, holds the `ModelQueue`'s turn. An API
  request waits for its turn in order, behind at most `api_queue_size` others; one more is answered 429
  at once (with Retry-After), one that waited `api_queue_timeout` seconds 503. The UI's answers wait in
  the same line (Gradio's own queue bounds them).
- **Auth**: with `api_keys` set, every `/v1` route needs `Authorization: Bearer <key>` (checked before the
  request is read, each key compared with `hmac.compare_digest`), else 401. Keys appear in no log or
  error. `check_exposure` refuses to serve the API beyond loopback without keys.
- **Errors**: OpenAI's `{"error": {"message", "type", "param", "code"}}`: 400 for anything wrong with
  the request (never 500), 401, 404/405 for unknown routes, 429 and 503 when busy, 503 when the archive or
  the model is unavailable.

Routes added to the `/v1` router get the same auth and error format.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from .conversations import ConversationError, ConversationStore
from .engine import Assistant
from .errors import AssistantError, ConfigError, QuestionError
from .settings import Settings
from .types import Answer, Citation

MODEL = "news-assistant"
COMPLETION_PREFIX = "chatcmpl-"
MAX_CONVERSATION_ID = 200
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_WORDS = re.compile(r"(?<=\s)(?=\S)")  # before each word that follows white space
_WORDS_PER_CHUNK = 3


# --- one model, one queue ---------------------------------------------------------------------------------
class QueueFullError(AssistantError):
    """The model is answering and as many requests as allowed already wait for it."""


class QueueTimeoutError(AssistantError):
    """A request waited for the model longer than allowed."""


class ModelQueue:
    """Turns at the one model, first come first served: `with queue.turn(): ...` answers one question.

    `size` requests may wait while one answers; `turn(bounded=True)` (the API) raises `QueueFullError`
    when they already do, and `QueueTimeoutError` after waiting `timeout` seconds. `bounded=False` (the
    UI, whose Gradio queue bounds it) waits in the same line without either limit.
    """

    def __init__(self, size: int = 8, timeout: float = 120.0) -> None:
        self.size = size
        self.timeout = timeout
        self._cond = threading.Condition()
        self._waiting: deque[object] = deque()
        self._busy = False

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @contextmanager
    def turn(self, *, bounded: bool = True) -> Iterator[None]:
        with self._cond:
            if self._busy or self._waiting:
                if bounded and len(self._waiting) >= self.size:
                    raise QueueFullError(
                        f"the assistant is busy ({len(self._waiting)} requests already wait): retry shortly"
                    )
                ticket = object()
                self._waiting.append(ticket)
                ready = self._cond.wait_for(
                    lambda: not self._busy and self._waiting[0] is ticket,
                    timeout=self.timeout if bounded else None,
                )
                self._waiting.remove(ticket)
                if not ready:
                    self._cond.notify_all()  # the next in line may be first now
                    raise QueueTimeoutError(f"the assistant stayed busy for {self.timeout:g} s: retry later")
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()


def check_exposure(settings: Settings, *, host: str, share: bool = False) -> None:
    """Refuse to serve the API without keys anywhere but on loopback (the chat UI has its own rule)."""
    if settings.api_enabled and not settings.api_keys and (share or host not in LOOPBACK):
        where = "a public share link" if share else host
        raise ConfigError(
            f"the API would answer anyone who can reach {where} without a key: set ASSISTANT_API_KEYS="
            "key1,key2 (clients send 'Authorization: Bearer <key>'), serve on 127.0.0.1, or turn the API "
            "off with ASSISTANT_API_ENABLED=false"
        )


# --- requests ---------------------------------------------------------------------------------------------
class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    """One message of the conversation; fields of OpenAI's that the assistant does not use are ignored."""

    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[_Part] | None = None

    def text(self) -> str:
        if self.content is None or isinstance(self.content, str):
            return self.content or ""
        if any(part.type != "text" for part in self.content):
            raise APIError(400, "this model reads text only (a message has a non-text part)", "messages")
        return "".join(part.text or "" for part in self.content)


class ChatRequest(BaseModel):
    """OpenAI's chat completion request, with the assistant's own optional fields."""

    model_config = ConfigDict(extra="ignore")
    messages: list[ChatMessage] = Field(min_length=1)
    model: str | None = None
    stream: bool = False
    max_sources: int | None = Field(None, ge=1, le=20)
    published_after: date | None = None
    published_before: date | None = None
    user: str | None = None
    metadata: dict[str, Any] | None = None

    def question_and_history(self) -> tuple[str, list[dict[str, str]]]:
        """The last user message, and the user and assistant messages before it."""
        last = max((i for i, m in enumerate(self.messages) if m.role == "user"), default=None)
        if last is None:
            raise APIError(400, "messages holds no user message: the last one is the question", "messages")
        history = [
            {"role": m.role, "content": m.text()}
            for m in self.messages[:last]
            if m.role in ("user", "assistant")
        ]
        return self.messages[last].text(), history

    def conversation_id(self) -> str | None:
        """The client's name for the conversation: `metadata.conversation_id`, else `user`; None: not kept."""
        name, param = self.user, "user"
        if self.metadata and "conversation_id" in self.metadata:
            name, param = self.metadata["conversation_id"], "metadata.conversation_id"
        if name is None:
            return None
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_CONVERSATION_ID:
            raise APIError(
                400, f"{param} names the conversation: a string of 1-{MAX_CONVERSATION_ID} characters", param
            )
        return name.strip()


class FeedbackRequest(BaseModel):
    """`POST /v1/feedback`: the judged completion's id, +1 or -1, and an optional comment."""

    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=300)
    rating: int = Field(strict=True)  # strict: neither true nor "1"
    comment: str | None = Field(None, max_length=10_000)


# --- errors -----------------------------------------------------------------------------------------------
class APIError(Exception):
    """An error answered in OpenAI's format."""

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        *,
        type: str = "invalid_request_error",  # OpenAI's field name
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.type = type
        self.code = code
        self.headers = headers

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def _from_assistant_error(exc: AssistantError, retry_after: float) -> APIError:
    if isinstance(exc, QuestionError):
        return APIError(400, str(exc), "messages")
    if isinstance(exc, QueueFullError):
        seconds = str(max(1, round(retry_after)))
        return APIError(
            429, str(exc), type="rate_limit_error", code="queue_full", headers={"Retry-After": seconds}
        )
    if isinstance(exc, QueueTimeoutError):
        return APIError(503, str(exc), type="server_error", code="busy", headers={"Retry-After": "10"})
    return APIError(503, f"the assistant is unavailable: {exc}", type="server_error", code="unavailable")


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    """A readable message and the parameter at fault; the input values are not echoed."""
    problems = []
    param = None
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ()) if p != "body"]
        if error.get("type") == "json_invalid":
            detail = error.get("ctx", {}).get("error", "")
            problems.append(
                f"the body is not valid JSON ({detail})" if detail else "the body is not valid JSON"
            )
            continue
        where = ".".join(loc)
        param = param or (loc[0] if loc else None)
        problems.append(f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg")))
    return "; ".join(problems[:5]) or "invalid request", param


# --- auth -------------------------------------------------------------------------------------------------
class BearerAuth:
    """ASGI middleware: every `/v1` request needs one of the keys, checked before anything else runs."""

    def __init__(self, app: ASGIApp, keys: Sequence[bytes]) -> None:
        self.app = app
        self.keys = tuple(keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == "/v1" or path.startswith("/v1/")) or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        error = APIError(
            401,
            "a valid API key is required: send 'Authorization: Bearer <key>'",
            type="invalid_request_error",
            code="invalid_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )
        await error.response()(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        header = next((v for k, v in scope.get("headers", ()) if k == b"authorization"), b"")
        scheme, _, token = header.partition(b" ")
        token = token.strip()
        if scheme.lower() != b"bearer" or not token:
            return False
        matches = [hmac.compare_digest(token, key) for key in self.keys]  # every key: no early exit
        return any(matches)


def api_owner(settings: Settings, authorization: str | None) -> str:
    """Whose conversations a request reaches: `api:<16 hex digits of the key's SHA-256>` with keys (the
    middleware has checked the key), `api` without."""
    if not settings.api_keys:
        return "api"
    token = (authorization or "").partition(" ")[2].strip()
    return "api:" + hashlib.sha256(token.encode()).hexdigest()[:16]


# --- responses --------------------------------------------------------------------------------------------
def _citation(c: Citation) -> dict[str, Any]:
    return {
        "n": c.n,
        "title": c.title,
        "url": c.url,
        "published": c.published,
        "source": c.source,
        "also_in": list(c.also_in),
        "text": c.text,
        "span": list(c.span),
        "supporting_text": c.supporting_text,
        "passage_id": c.passage_id,
        "article_id": c.article_id,
    }


def _usage(answer: Answer) -> dict[str, int]:
    prompt, completion = answer.timings.prompt_tokens, answer.timings.completion_tokens
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def completion(answer: Answer, completion_id: str, created: int) -> dict[str, Any]:
    """The `chat.completion` object of one answer, with `citations` and `refused` beside OpenAI's fields."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(answer),
        "citations": [_citation(c) for c in answer.citations],
        "refused": answer.refused,
    }


def text_chunks(text: str, words: int = _WORDS_PER_CHUNK) -> list[str]:
    """`text` in pieces of a few words that concatenate to exactly `text`."""
    pieces = [p for p in _WORDS.split(text) if p]
    return ["".join(pieces[i : i + words]) for i in range(0, len(pieces), words)]


def chunks(answer: Answer, completion_id: str, created: int) -> Iterator[dict[str, Any]]:
    """The `chat.completion.chunk` objects of one (already grounded) answer."""

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL,
            "choices": [choice],
            **extra,
        }

    yield chunk({"role": "assistant", "content": ""})
    for piece in text_chunks(answer.text):
        yield chunk({"content": piece})
    yield chunk(
        {},
        "stop",
        usage=_usage(answer),
        citations=[_citation(c) for c in answer.citations],
        refused=answer.refused,
    )


def _events(items: Iterator[dict[str, Any]]) -> Iterator[str]:
    for item in items:
        yield f"data: {json.dumps(item, ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"


# --- the app ----------------------------------------------------------------------------------------------
def create_app(
    settings: Settings,
    assistant: Callable[[], Assistant],
    queue: ModelQueue | None = None,
    store: ConversationStore | None = None,
) -> FastAPI:
    """The API app. `assistant` gives the (loaded) assistant, waiting while it loads; `queue` is shared
    with whatever else uses the model (the chat UI); `store` keeps the named conversations (default: the
    data dir's, opened when a request first needs it). Mount other apps (the UI) after this one's routes."""
    queue = queue or ModelQueue(settings.api_queue_size, settings.api_queue_timeout)
    opened: list[ConversationStore] = [store] if store is not None else []
    opening = threading.Lock()

    def conversations() -> ConversationStore:
        with opening:
            if not opened:
                opened.append(ConversationStore.in_data_dir(settings.data_dir))
            return opened[0]

    app = FastAPI(title="News Assistant API", docs_url=None, redoc_url=None, openapi_url=None)
    if settings.api_keys:
        keys = [k.get_secret_value().encode() for k in settings.api_keys]
        app.add_middleware(BearerAuth, keys=keys)
    seconds_per_answer = 6.0  # Retry-After for a full queue: the waiting answers at about this pace

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _validation_message(exc)
        return APIError(400, message, param).response()

    @app.exception_handler(Exception)
    async def _failed(request: Request, exc: Exception) -> JSONResponse:  # logged by Starlette as well
        return APIError(500, "the server failed to answer", type="server_error").response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "invalid_request_error" if exc.status_code < 500 else "server_error"
        return APIError(exc.status_code, str(exc.detail), type=kind, headers=exc.headers).response()

    router = APIRouter(prefix="/v1")

    @router.get("/models")
    def models() -> dict[str, Any]:
        created = int(time.time())
        return {
            "object": "list",
            "data": [{"id": MODEL, "object": "model", "created": created, "owned_by": "news-assistant"}],
        }

    @router.post("/chat/completions", response_model=None)
    def chat_completions(request: ChatRequest, http: Request) -> JSONResponse | StreamingResponse:
        question, history = request.question_and_history()
        conversation = request.conversation_id()
        if not question.strip():
            raise APIError(400, "the question (the last user message) is empty", "messages")
        if len(question) > settings.max_question_chars:
            raise APIError(
                400,
                f"the question is too long ({len(question):,} characters; the limit is "
                f"{settings.max_question_chars:,})",
                "messages",
            )
        between = (request.published_after, request.published_before)
        if between[0] and between[1] and between[1] < between[0]:
            raise APIError(400, "published_before is earlier than published_after", "published_before")
        try:
            with queue.turn():
                answer = assistant().ask(
                    question,
                    history,
                    max_sources=request.max_sources,
                    published_between=between,
                )
        except AssistantError as exc:
            raise _from_assistant_error(exc, seconds_per_answer * (queue.waiting + 1)) from exc
        turn_id = uuid.uuid4().hex
        if conversation is not None:
            owner = api_owner(settings, http.headers.get("authorization"))
            used = {
                "source": "api",
                "backend": answer.backend,
                "max_sources": request.max_sources or settings.max_sources,
                "published_after": request.published_after,
                "published_before": request.published_before,
            }
            try:
                turn_id = (
                    conversations()
                    .add_turn(owner, f"{owner}/{conversation}", question, history, answer, used)
                    .id
                )
            except (ConversationError, sqlite3.Error) as exc:
                raise APIError(
                    503, f"the answer could not be stored: {exc}", type="server_error", code="unavailable"
                ) from exc
        completion_id = f"{COMPLETION_PREFIX}{turn_id}"
        created = int(time.time())
        if not request.stream:
            return JSONResponse(completion(answer, completion_id, created))
        return StreamingResponse(
            _events(chunks(answer, completion_id, created)),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @router.post("/feedback")
    def feedback(request: FeedbackRequest, http: Request) -> dict[str, Any]:
        if request.rating not in (1, -1):
            raise APIError(400, "rating is 1 (a good answer) or -1 (a bad one)", "rating")
        turn_id = request.id.removeprefix(COMPLETION_PREFIX)
        owner = api_owner(settings, http.headers.get("authorization"))
        try:
            conversations().rate(owner, turn_id, request.rating, request.comment or "")
        except ConversationError as exc:
            raise APIError(
                404,
                "no stored answer has this id: only answers to requests that named a conversation "
                "(metadata.conversation_id or user) are kept, each for the key that asked",
                "id",
                code="not_found",
            ) from exc
        return {"ok": True, "id": request.id, "rating": request.rating}

    @router.api_route(
        "/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
    )
    def unknown(path: str, request: Request) -> None:
        known = {"models": "GET", "chat/completions": "POST", "feedback": "POST"}
        if path.strip("/") in known:
            allowed = known[path.strip("/")]
            raise APIError(405, f"use {allowed} here", headers={"Allow": allowed})
        routes = "/v1/models, /v1/chat/completions and /v1/feedback"
        raise APIError(404, f"no route /v1/{path}: the API has {routes}")

    app.include_router(router)
    return app


__all__ = [
    "MODEL",
    "APIError",
    "BearerAuth",
    "ChatMessage",
    "ChatRequest",
    "FeedbackRequest",
    "ModelQueue",
    "QueueFullError",
    "QueueTimeoutError",
    "api_owner",
    "check_exposure",
    "completion",
    "create_app",
    "text_chunks",
]

"""The OpenAI-compatible API: `/v1/models`, `/v1/chat/completions` and `/v1/feedback` over one `Assistant`.

`create_app(app)` returns a FastAPI app over the process's `Application` (its assistant, model queue and
conversation store); nothing starts on import, and `serve.serve()` mounts the chat UI on the same app and
runs both in one process, sharing one model and one `ModelQueue`.

- **Requests**: OpenAI's chat request. The last user message is the question, the user and assistant
  messages before it the conversation (system messages are ignored: the assistant's prompts are its own).
  Extra fields: `max_sources`, `published_after`, `published_before` (ISO dates, whole days). Fields
  of OpenAI's this API does not use (`temperature`, `tools`, ...) are ignored; any `model` name is
  accepted and answered by `news-assistant`. The body is read as JSON whatever its content type (so a
  bare `curl -d '{...}'` works), and at most `max_body_mb` of it (1 MB by default; more gets 413).
- **Conversations**: a request that names a conversation is stored (question, the history as the engine
  read it: its last six turns, answer with its citations and timings, and the settings used) in the data
  dir's `ConversationStore`; one that does not is kept nowhere. The name is `metadata.conversation_id` (a
  string, 1-200 characters, valid Unicode: a lone surrogate is a 400), or failing that OpenAI's `user`
  field; lone surrogates in the question and the history are dropped, as the engine drops them. The
  response `id` is then `chatcmpl-<turn id>`, which `/v1/feedback` takes.
  Conversations belong to the client's key: with keys set the owner is `api:` and the first 16 hex digits
  of the key's SHA-256 (the key itself is never stored), without keys `api`. A conversation id is the
  client's own within its owner (stored as `<owner>/<id>`), so two keys may both use `chat-1` and neither
  reads, continues nor rates the other's.
- **Feedback**: `POST /v1/feedback` with `{"id": "chatcmpl-...", "rating": 1 | -1, "comment": "..."}`
  judges a stored answer of the same owner (a second judgement replaces the first): 200 `{"ok": true,
  "id": ...}`, 400 for a bad body or rating, 404 for an id that was not stored or is another owner's,
  503 when the conversation store cannot be used (damaged, read-only, disk full).
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
  the request (never 500), 401, 404/405 for unknown routes, 413 for a body over the limit, 429 and 503
  when busy, 503 when the archive, the model (still loading, or its start failed: the message says why)
  or the conversation store is unavailable.

Routes added to the `/v1` router get the same auth and error format.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .engine import history_used
from .errors import (
    APIError,
    AssistantError,
    ConfigError,
    ConversationNotFoundError,
    QuestionError,
    QueueFullError,
    QueueTimeoutError,
    StartupError,
)
from .http_limits import BodyLimit
from .model_queue import ModelQueue
from .settings import Settings
from .text import clean_question
from .types import Answer

if TYPE_CHECKING:
    from .app import Application

MODEL = "news-assistant"
COMPLETION_PREFIX = "chatcmpl-"
MAX_CONVERSATION_ID = 200
LOOPBACK = ("127.0.0.1", "localhost", "::1")
SECONDS_PER_ANSWER = 6.0  # Retry-After for a full queue: the waiting answers go at about this pace
_WORDS = re.compile(r"(?<=\s)(?=\S)")  # before each word that follows white space
_WORDS_PER_CHUNK = 3
_SURROGATE = re.compile(r"[\ud800-\udfff]")
M = TypeVar("M", bound=BaseModel)


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
        """The client's name for the conversation: `metadata.conversation_id`, else `user`; None: not kept.
        A name is kept exactly as given, so one that is not valid Unicode (a lone surrogate) is refused."""
        name, param = self.user, "user"
        if self.metadata and "conversation_id" in self.metadata:
            name, param = self.metadata["conversation_id"], "metadata.conversation_id"
        if name is None:
            return None
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_CONVERSATION_ID:
            raise APIError(
                400, f"{param} names the conversation: a string of 1-{MAX_CONVERSATION_ID} characters", param
            )
        if _SURROGATE.search(name):
            raise APIError(400, f"{param} is not valid Unicode text (it holds a lone surrogate)", param)
        return name.strip()


class FeedbackRequest(BaseModel):
    """`POST /v1/feedback`: the judged completion's id, +1 or -1, and an optional comment."""

    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=300)
    rating: int = Field(strict=True)  # strict: neither true nor "1"
    comment: str | None = Field(None, max_length=10_000)


def _parsed(model: type[M], raw: bytes) -> M:
    """The request body as `model`, read as JSON whatever its content type says (`curl -d` sends form
    encoding); anything else is a 400 naming what is wrong."""
    try:  # the stdlib parser: pydantic's refuses the escape of a lone surrogate, which the engine drops
        data = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        problem = {"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error", "input": {}}
        raise RequestValidationError([{**problem, "ctx": {"error": str(exc)}}]) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


# --- errors -----------------------------------------------------------------------------------------------
def _response(error: APIError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


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
    if isinstance(exc, StartupError):
        return APIError(503, str(exc), type="server_error", code="unavailable", headers={"Retry-After": "10"})
    return APIError(503, f"the assistant is unavailable: {exc}", type="server_error", code="unavailable")


def _store_unavailable(exc: AssistantError, what: str) -> APIError:
    return APIError(503, f"{what}: {exc}", type="server_error", code="unavailable")


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


def too_large(path: str, limit: int) -> Response:
    """The 413 of a body over the limit: in OpenAI's shape under /v1, FastAPI's `detail` elsewhere."""
    message = (
        f"the request body is larger than the server reads ({limit / 1e6:g} MB, ASSISTANT_MAX_BODY_MB); "
        "the engine reads only the question and the last few turns of the conversation"
    )
    if path == "/v1" or path.startswith("/v1/"):
        return _response(APIError(413, message, code="request_too_large"))
    return JSONResponse({"detail": message}, status_code=413)


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
        await _response(error)(scope, receive, send)

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
        "citations": [c.to_dict() for c in answer.citations],
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
        citations=[c.to_dict() for c in answer.citations],
        refused=answer.refused,
    )


def _events(items: Iterator[dict[str, Any]]) -> Iterator[str]:
    for item in items:
        yield f"data: {json.dumps(item, ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"


# --- what the routes do -----------------------------------------------------------------------------------
def _answer(app: Application, request: ChatRequest, authorization: str | None) -> Response:
    """Answer one chat request (on a worker thread: the model's turn is waited for here) and store it as
    a turn of the conversation it names, with the history as the engine read it."""
    settings = app.settings
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
        with app.queue.turn():
            answer = app.assistant().ask(
                question, history, max_sources=request.max_sources, published_between=between
            )
    except AssistantError as exc:
        raise _from_assistant_error(exc, SECONDS_PER_ANSWER * (app.queue.waiting + 1)) from exc
    turn_id = uuid.uuid4().hex
    if conversation is not None:
        owner = api_owner(settings, authorization)
        used = {
            "source": "api",
            "backend": answer.backend,
            "max_sources": request.max_sources or settings.max_sources,
            "published_after": request.published_after,
            "published_before": request.published_before,
        }
        try:
            turn = app.conversations().add_turn(
                owner,
                f"{owner}/{conversation}",
                clean_question(question),
                history_used(history),
                answer,
                used,
            )
        except AssistantError as exc:
            raise _store_unavailable(exc, "the answer could not be stored") from exc
        turn_id = turn.id
    completion_id = f"{COMPLETION_PREFIX}{turn_id}"
    created = int(time.time())
    if not request.stream:
        return JSONResponse(completion(answer, completion_id, created))
    return StreamingResponse(
        _events(chunks(answer, completion_id, created)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _rate(app: Application, request: FeedbackRequest, authorization: str | None) -> dict[str, Any]:
    if request.rating not in (1, -1):
        raise APIError(400, "rating is 1 (a good answer) or -1 (a bad one)", "rating")
    turn_id = request.id.removeprefix(COMPLETION_PREFIX)
    owner = api_owner(app.settings, authorization)
    try:
        app.conversations().rate(owner, turn_id, request.rating, request.comment or "")
    except ConversationNotFoundError as exc:
        raise APIError(
            404,
            "no stored answer has this id: only answers to requests that named a conversation "
            "(metadata.conversation_id or user) are kept, each for the key that asked",
            "id",
            code="not_found",
        ) from exc
    except AssistantError as exc:
        raise _store_unavailable(exc, "the feedback could not be stored") from exc
    return {"ok": True, "id": request.id, "rating": request.rating}


# --- the app ----------------------------------------------------------------------------------------------
def create_app(app: Application) -> FastAPI:
    """The API app over the application object (its assistant, queue and conversation store), with the
    keys' middleware and the body limit. Mount other apps (the UI) after this one's routes."""
    web = FastAPI(title="News Assistant API", docs_url=None, redoc_url=None, openapi_url=None)
    if app.settings.api_keys:
        keys = [k.get_secret_value().encode() for k in app.settings.api_keys]
        web.add_middleware(BearerAuth, keys=keys)
    limit_bodies(web, app.settings)
    _error_handlers(web)
    web.include_router(_router(app))
    return web


def limit_bodies(web: FastAPI, settings: Settings) -> None:
    """Refuse (413) any request body over `max_body_mb`, uploads to the page aside (they have their own
    limit); checked before the body is read."""
    web.add_middleware(
        BodyLimit,
        limit=int(settings.max_body_mb * 1_000_000),
        exempt=lambda path: path.endswith("/gradio_api/upload"),
        refusal=too_large,
    )


def _error_handlers(web: FastAPI) -> None:
    @web.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return _response(exc)

    @web.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _validation_message(exc)
        return _response(APIError(400, message, param))

    @web.exception_handler(Exception)
    async def _failed(request: Request, exc: Exception) -> JSONResponse:  # logged by Starlette as well
        return _response(APIError(500, "the server failed to answer", type="server_error"))

    @web.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "invalid_request_error" if exc.status_code < 500 else "server_error"
        return _response(APIError(exc.status_code, str(exc.detail), type=kind, headers=exc.headers))


def _router(app: Application) -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.get("/models")
    def models() -> dict[str, Any]:
        created = int(time.time())
        return {
            "object": "list",
            "data": [{"id": MODEL, "object": "model", "created": created, "owned_by": "news-assistant"}],
        }

    @router.post("/chat/completions", response_model=None)
    async def chat_completions(http: Request) -> Response:
        request = _parsed(ChatRequest, await http.body())
        return await run_in_threadpool(_answer, app, request, http.headers.get("authorization"))

    @router.post("/feedback")
    async def feedback(http: Request) -> dict[str, Any]:
        request = _parsed(FeedbackRequest, await http.body())
        return await run_in_threadpool(_rate, app, request, http.headers.get("authorization"))

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

    return router


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
    "limit_bodies",
    "text_chunks",
    "too_large",
]

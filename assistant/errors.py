"""The errors of answering and serving, beside the archive's (re-exported here so one import serves the
answering layer).

Each type says what went wrong in words a user can act on; the CLI, the UI and the API translate them into
messages at the edge (`APIError` is that translation for the API: an HTTP status and OpenAI's error body).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingest.errors import (
    ArchiveDamagedError,
    ArchiveUnavailableError,
    ArchiveWriteError,
    AssistantError,
    ConfigError,
    EmptyArchiveError,
    IngestError,
    IngestLockedError,
    ModelUnavailableError,
)


class QuestionError(AssistantError):
    """The question cannot be asked as given (empty, or too long)."""


class GeneratorError(AssistantError):
    """The language model backend failed or timed out while answering."""


class PromptError(AssistantError):
    """A prompt template file is missing or does not use the variables it must."""


class StartupError(AssistantError):
    """The assistant could not be loaded (the server says why and tries again)."""


# --- the model's queue ------------------------------------------------------------------------------------
class QueueFullError(AssistantError):
    """The model is answering and as many requests as allowed already wait for it."""


class QueueTimeoutError(AssistantError):
    """A request waited for the model longer than allowed."""


# --- stored conversations ---------------------------------------------------------------------------------
class ConversationError(AssistantError):
    """A conversation or turn cannot be read or written (see the two kinds below)."""


class ConversationNotFoundError(ConversationError):
    """This owner has no such conversation or answer."""


class ConversationStoreError(ConversationError):
    """The conversation store cannot be used (damaged, read-only, or its disk is full)."""


# --- uploads ----------------------------------------------------------------------------------------------
class UploadError(AssistantError):
    """An upload could not be stored, or is not an upload at all."""


# --- the API's answer to any of these ---------------------------------------------------------------------
class APIError(Exception):
    """An error answered in OpenAI's format: `status`, and `body()` as `{"error": {...}}`."""

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

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


__all__ = [
    "APIError",
    "ArchiveDamagedError",
    "ArchiveUnavailableError",
    "ArchiveWriteError",
    "AssistantError",
    "ConfigError",
    "ConversationError",
    "ConversationNotFoundError",
    "ConversationStoreError",
    "EmptyArchiveError",
    "GeneratorError",
    "IngestError",
    "IngestLockedError",
    "ModelUnavailableError",
    "PromptError",
    "QuestionError",
    "QueueFullError",
    "QueueTimeoutError",
    "StartupError",
    "UploadError",
]

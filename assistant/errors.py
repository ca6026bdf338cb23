"""The errors of answering, beside the archive's (re-exported here so one import serves the answering layer).

Each type says what went wrong in words a user can act on; the CLI and the UI translate them into messages
at the edge.
"""

from __future__ import annotations

from ingest.errors import (
    ArchiveDamagedError,
    ArchiveUnavailableError,
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


__all__ = [
    "ArchiveDamagedError",
    "ArchiveUnavailableError",
    "AssistantError",
    "ConfigError",
    "EmptyArchiveError",
    "GeneratorError",
    "IngestError",
    "IngestLockedError",
    "ModelUnavailableError",
    "PromptError",
    "QuestionError",
]

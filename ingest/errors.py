"""The errors of the archive (reading, storing, embedding) and the base class of every error the product
raises on purpose.

Each type says what went wrong in words a user can act on; the CLIs and the UI translate them into
messages at the edge. Nothing here catches anything. The answering layer adds its own in
`assistant/errors.py`.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base class: an expected failure with a message meant for the user."""


class ConfigError(AssistantError):
    """A setting is missing or invalid (names the setting and its environment variable)."""


class ArchiveUnavailableError(AssistantError):
    """The Chroma store cannot be reached or opened."""


class ArchiveDamagedError(ArchiveUnavailableError):
    """The archive's files exist but are damaged (e.g. an empty or truncated database)."""


class EmbedderMismatchError(ArchiveUnavailableError):
    """The archive's vectors come from another embedder than the one configured (or a re-embedding of it
    was interrupted): searching it would compare vectors from two spaces."""


class EmptyArchiveError(AssistantError):
    """The archive holds no passages yet; ingest articles first."""


class ModelUnavailableError(AssistantError):
    """A model (embedder or LLM) cannot be found, verified or loaded."""


class IngestError(AssistantError):
    """Ingest cannot run at all (as opposed to one bad file, which is reported and skipped)."""


class IngestLockedError(IngestError):
    """Another ingest holds the lock on this data dir."""

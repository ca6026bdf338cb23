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


class ArchiveWriteError(ArchiveUnavailableError):
    """The archive cannot be written: its disk is full or its files are read-only. What was committed before
    is kept; the same ingest run again completes the rest."""


class EmbedderMismatchError(ArchiveUnavailableError):
    """The archive's vectors come from another embedder than the one configured (or a re-embedding of it
    was interrupted): searching it would compare vectors from two spaces."""


class EmptyArchiveError(AssistantError):
    """The archive holds no passages yet; ingest articles first."""


class ModelUnavailableError(AssistantError):
    """A model (embedder or LLM) cannot be found, verified or loaded."""


class ReadError(AssistantError):
    """A file cannot be read as articles (reported and skipped); the message says why, in words a user can
    act on."""


class IngestError(AssistantError):
    """Ingest cannot run at all (as opposed to one bad file, which is reported and skipped)."""


class IngestLockedError(IngestError):
    """Another ingest holds the lock on this data dir."""


class FetchError(AssistantError):
    """A feed or page could not be fetched or used; the message names the URL and what to do."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class AddressNotAllowedError(FetchError):
    """The URL (or a redirect, or a feed item's link) leads to an internal address (loopback, private,
    link-local, ...) that ASSISTANT_FETCH_ALLOW does not allow."""


class FetchTimeoutError(FetchError):
    """The server did not answer, or sent its response too slowly, within the time allowed."""


class ResponseTooLargeError(FetchError):
    """The response is larger than the size allowed (ASSISTANT_FEED_MAX_MB)."""


class NotTextError(FetchError):
    """The response is binary or of a type that is neither a feed nor an HTML page."""


class RedirectLoopError(FetchError):
    """The URL redirects in a loop, or through too many hops."""


class HTTPStatusError(FetchError):
    """The server answered with an error status (after the retries allowed)."""


class UnsafeFeedError(FetchError):
    """The XML declares entities or external references (entity expansion, external-entity attacks)."""


class FeedParseError(FetchError):
    """The response is not a well-formed RSS or Atom feed."""

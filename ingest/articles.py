"""The article record every reader produces and every later stage consumes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Article:
    """One news article, faithful to its file.

    `origin` names where it came from: the file's absolute path (its folder resolved) plus `#<position>`
    for files holding several articles (a feed, a .jsonl); `article_id` is derived from `origin`, so an
    edited article keeps its id (its passages are replaced) while `content_hash` changes, and two files
    of one name in two folders of one name are two articles. (Archives ingested before held origins as
    `<folder name>/<relative path>`; ingest recognises those records, see `ingest.plan`.)
    """

    title: str
    text: str
    origin: str
    published: str | None = None  # ISO 8601, e.g. "2026-01-01T16:52:00"
    source: str = ""
    url: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def article_id(self) -> str:
        return article_id_of(self.origin)

    @property
    def content_hash(self) -> str:
        payload = "\x1f".join((self.title, self.text, self.published or "", self.source, self.url))
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:20]


def article_id_of(origin: str) -> str:
    """The article id of an origin (16 hex digits of its SHA-1)."""
    return hashlib.sha1(origin.encode("utf-8")).hexdigest()[:16]

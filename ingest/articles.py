"""The article record every reader produces and every later stage consumes, and how two records are known
to be one article (`copy_keys`) with the other places it came from (`Holder`, `also_in`)."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "Article",
    "Holder",
    "also_in_labels",
    "article_id_of",
    "canonical_url",
    "decode_holders",
    "encode_holders",
    "normalised",
]

SHORT_TEXT = 200  # normalised characters below which a text alone does not identify an article


@dataclass(frozen=True)
class Holder:
    """A place an article came from: its origin (a file, a feed item, a page) and a name for readers (the
    feed's title, the site, the file's name)."""

    origin: str
    label: str


@dataclass(frozen=True)
class Article:
    """One news article, faithful to its file.

    `origin` names where it came from: the file's absolute path (its folder resolved) plus `#<position>`
    for files holding several articles (a feed, a .jsonl); `article_id` is derived from `origin`, so an
    edited article keeps its id (its passages are replaced) while `content_hash` changes, and two files
    of one name in two folders of one name are two articles. (Archives ingested before held origins as
    `<folder name>/<relative path>`; ingest recognises those records, see `ingest.plan`.)

    `guid` (a feed item's GUID) and `canonical_url` (the page's own address, after redirects) help tell
    the same article arriving by two routes (`copy_keys`); `also_in` lists the other places ingest found
    it (readers leave it empty). None of the three is part of `content_hash`.
    """

    title: str
    text: str
    origin: str
    published: str | None = None  # ISO 8601, e.g. "2026-01-01T16:52:00"
    source: str = ""
    url: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    guid: str = ""
    canonical_url: str = ""
    also_in: tuple[Holder, ...] = ()

    @property
    def article_id(self) -> str:
        return article_id_of(self.origin)

    @property
    def content_hash(self) -> str:
        payload = "\x1f".join((self.title, self.text, self.published or "", self.source, self.url))
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:20]

    @property
    def holder(self) -> Holder:
        return Holder(self.origin, label_of(self.source, self.url, self.origin))

    def copy_keys(self) -> dict[str, str]:
        """The keys under which a copy of this article is found: its normalised text without the headline
        it may open with (with its title when the text is short: two items reading "Read more." are not one
        article), its canonical URL (the page's own address once it was read; else the link given, with the
        title: feeds that give every item one link must not fold them together) and its GUID (with its
        title)."""
        text, title = normalised(self.text), normalised(self.title)
        if title and text.startswith(title):  # a page's text may open with its headline, a file's not
            text = text[len(title) :].lstrip()
        keys = {"text_key": "text:" + _digest(text if len(text) >= SHORT_TEXT else f"{title}\x1f{text}")}
        page = canonical_url(self.canonical_url)
        if page:  # the address a page read declared or ended at: one article, whatever it was called
            keys["url_key"] = "url:" + _digest(page)
        elif canonical_url(self.url):
            keys["url_key"] = "url:" + _digest(f"{canonical_url(self.url)}\x1f{title}")
        if self.guid.strip():
            keys["guid_key"] = "guid:" + _digest(f"{self.guid.strip()}\x1f{title}")
        return keys


def article_id_of(origin: str) -> str:
    """The article id of an origin (16 hex digits of its SHA-1)."""
    return hashlib.sha1(origin.encode("utf-8")).hexdigest()[:16]


def normalised(text: str) -> str:
    """Text as compared for copies: Unicode NFKC, case folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def canonical_url(url: str) -> str:
    """An http(s) URL as compared for copies: scheme and host in lower case, no default port, no fragment,
    `/` for an empty path; "" for anything else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return ""
    host = parts.hostname.lower()
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path or "/", parts.query, ""))


def label_of(source: str, url: str, origin: str) -> str:
    """A name for readers: the source, else the URL's host, else the file's name (never a server path)."""
    if source.strip():
        return source.strip()
    host = urlsplit(url).hostname if url else None
    if host:
        return host
    return PurePosixPath(origin.partition("#")[0]).name or origin


def encode_holders(holders: tuple[Holder, ...]) -> str:
    """The metadata value of `also_in` (JSON: a list of [origin, label])."""
    return json.dumps([[h.origin, h.label] for h in holders], ensure_ascii=False) if holders else ""


def decode_holders(value: object) -> tuple[Holder, ...]:
    """`encode_holders` undone; a missing or damaged value is no holder."""
    if not isinstance(value, str) or not value:
        return ()
    try:
        pairs: Any = json.loads(value)
        return tuple(Holder(str(origin), str(label)) for origin, label in pairs)
    except (ValueError, TypeError):
        return ()


def also_in_labels(metadata: Mapping[str, Any]) -> tuple[str, ...]:
    """The other sources of a stored passage's article, by name, each once and not its own source."""
    own = str(metadata.get("source", ""))
    labels = (h.label for h in decode_holders(metadata.get("also_in")))
    return tuple(label for label in dict.fromkeys(labels) if label and label != own)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:24]

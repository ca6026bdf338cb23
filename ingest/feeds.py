"""RSS and Atom feeds, and article pages, turned into `Article` records.

- Feed or page: the response's content type decides (an XML or feed type is a feed, HTML a page); a body
  whose type says neither is a feed when it opens like XML.
- Safe parsing: before feedparser reads a feed, the XML is scanned by defusedxml, which refuses any entity
  declaration or external reference as it meets it (`UnsafeFeedError`): a "billion laughs" document is
  refused after its first declaration, without expanding anything. A feed that is not well-formed XML is a
  `FeedParseError` (feedparser's lenient fallback is not trusted with it: nothing of it is stored).
- An item is known by its GUID (Atom `id`), else its link, else a hash of its title and date; its origin
  is `<feed URL>#<that key>`, so its article id stays the same however the feed changes, and items
  repeated within a feed are taken once. Its fingerprint (key, link, title, dates, content) tells a sync
  whether the item changed since the last fetch.
- An item's article: the text extracted from its page (trafilatura, as for `.html` files), else the
  item's own content or summary; title, date and URL from the item, else from the page; source: the
  feed's title (else the feed's host). Its GUID and the page's canonical URL (the address it declares,
  else where the redirects ended) go with it, so ingest can tell the same article in two feeds.

Left out on purpose: enclosures (podcasts), comments feeds, JSON Feed, and following a page's
`<link rel="alternate">` to its feed (give the feed's URL).
"""

from __future__ import annotations

import hashlib
import xml.sax
import xml.sax.handler
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urldefrag, urlsplit

from .articles import Article
from .errors import FeedParseError, UnsafeFeedError
from .readers import first_sentence_title, lone_surrogate, read_html

__all__ = [
    "Entry",
    "Feed",
    "html_text",
    "item_article",
    "item_origin",
    "looks_like_feed",
    "normalise_url",
    "page_article",
    "parse_feed",
]

_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/xml")
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_BLOCKS = ("p", "br", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "tr", "pre")


@dataclass(frozen=True)
class Entry:
    """One item of a feed, as the feed describes it."""

    key: str  # GUID / Atom id, else the link, else a hash of title and date
    guid: str  # the GUID / Atom id alone ("" when the item has none)
    link: str
    title: str
    published: str | None  # ISO 8601, UTC
    content_html: str  # the item's content, else its summary (HTML, sanitised by feedparser)
    fingerprint: str  # changes whenever the item does


@dataclass(frozen=True)
class Feed:
    """A parsed feed: its title and its items in feed order, each key once."""

    title: str
    entries: list[Entry]
    repeated: int  # items skipped because an earlier item had the same key


def normalise_url(url: str) -> str:
    """The URL without its fragment or surrounding whitespace: how feeds and pages are known."""
    return urldefrag(url.strip())[0]


def item_origin(feed_url: str, key: str) -> str:
    return f"{feed_url}#{key}"


def looks_like_feed(content_type: str, body: bytes) -> bool:
    """Whether a response is a feed (else it is taken as a page)."""
    head = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if content_type in _HTML_TYPES:
        return head.startswith((b"<rss", b"<feed", b"<rdf")) or (
            head.startswith(b"<?xml") and b"<html" not in body[:2048].lower()
        )
    if content_type in _FEED_TYPES or content_type == "text/xml" or content_type.endswith("+xml"):
        return True
    return head.startswith((b"<?xml", b"<rss", b"<feed", b"<rdf"))


def parse_feed(url: str, body: bytes, content_type: str) -> Feed:
    """The feed in `body`; `UnsafeFeedError` for entity declarations or external references,
    `FeedParseError` for XML that is not well-formed or that is no RSS or Atom feed."""
    import feedparser  # imported when a feed is read, not by `python -m ingest` on files

    _refuse_entities(url, body)
    parsed = feedparser.parse(
        body, response_headers={"content-type": content_type or "application/xml", "content-location": url}
    )
    problem = parsed.get("bozo_exception")
    if isinstance(problem, xml.sax.SAXException):
        raise FeedParseError(
            url, f"the feed is not well-formed XML ({problem}); nothing of it was stored, tell its publisher"
        )
    if not parsed.get("version"):
        raise FeedParseError(url, "this is XML but not an RSS or Atom feed")
    feed_info: Any = parsed.get("feed", {})
    title = " ".join(str(feed_info.get("title", "")).split()) or (urlsplit(url).hostname or url)
    entries: list[Entry] = []
    keys: set[str] = set()
    repeated = 0
    for raw in parsed.get("entries", []):
        entry = _entry(raw)
        if entry.key in keys:
            repeated += 1
            continue
        keys.add(entry.key)
        entries.append(entry)
    return Feed(title=title, entries=entries, repeated=repeated)


def _refuse_entities(url: str, body: bytes) -> None:
    """Scan the XML with defusedxml (no tree is built): an entity declaration or an external reference
    raises `UnsafeFeedError` as soon as the parser meets it. Malformed XML is left to feedparser."""
    import defusedxml.sax
    from defusedxml import DefusedXmlException

    try:
        defusedxml.sax.parseString(
            body,
            xml.sax.handler.ContentHandler(),
            forbid_dtd=False,
            forbid_entities=True,
            forbid_external=True,
        )
    except DefusedXmlException as exc:
        raise UnsafeFeedError(
            url,
            f"the feed declares XML entities or external references ({type(exc).__name__}), which can "
            "blow up memory or read local files; it was refused unread",
        ) from None
    except xml.sax.SAXException:
        pass  # not well-formed: feedparser says why


def _entry(raw: Any) -> Entry:
    link = normalise_url(str(raw.get("link", "") or ""))
    title = " ".join(str(raw.get("title", "") or "").split())
    stamp = raw.get("published_parsed") or raw.get("updated_parsed")
    published = datetime(*stamp[:6]).isoformat() if stamp else None
    contents = raw.get("content") or []
    content_html = str(contents[0].get("value", "") if contents else "") or str(raw.get("summary", "") or "")
    guid = str(raw.get("id", "") or "").strip()
    key = guid or link
    if not key:
        key = "sha1:" + _sha1(title, published or "", content_html)[:16]
    fingerprint = _sha1(
        key, link, title, str(raw.get("updated", "")), str(raw.get("published", "")), content_html
    )
    return Entry(key, guid, link, title, published, content_html, fingerprint)


def _sha1(*parts: str) -> str:
    return hashlib.sha1("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def html_text(fragment: str) -> str:
    """The text of an HTML fragment (a feed item's summary), one blank line between its blocks."""
    import lxml.html
    from lxml.etree import ParserError

    if not fragment.strip():
        return ""
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (ParserError, ValueError):
        return " ".join(fragment.split())
    for element in root.iter(*_BLOCKS):
        element.tail = "\n\n" + (element.tail or "")
    paragraphs = (" ".join(part.split()) for part in root.text_content().split("\n\n"))
    return "\n\n".join(p for p in paragraphs if p)


def page_article(html: str, origin: str, url: str) -> Article:
    """The article of a page fetched from `url` (the address it ended at, after redirects; `ReadError`
    when it holds none). Its canonical URL is the one the page declares, else `url`."""
    article = read_html(html, origin)
    return Article(
        title=article.title,
        text=article.text,
        origin=origin,
        published=article.published,
        source=article.source or (urlsplit(url).hostname or ""),
        url=article.url or url,
        extra=article.extra,
        canonical_url=article.url or url,
    )


def item_article(feed_url: str, feed: Feed, entry: Entry, page: Article | None) -> Article | None:
    """The article of a feed item: its page's text (`page`) or else its own; None when it has no text."""
    text = page.text if page is not None else html_text(entry.content_html)
    if not text or lone_surrogate(text):
        return None
    title = entry.title or (page.title if page is not None else "") or first_sentence_title(text)
    return Article(
        title=title,
        text=text,
        origin=item_origin(feed_url, entry.key),
        published=entry.published or (page.published if page is not None else None),
        source=feed.title,
        url=entry.link or (page.url if page is not None else ""),
        extra={"feed": feed_url},
        guid=entry.guid,
        canonical_url=page.canonical_url if page is not None else "",
    )

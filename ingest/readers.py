"""Turn article files into `Article` records, faithfully.

Formats, chosen by file suffix:

- `.txt`: either a news feed in the seed shape (articles opening with a `DD.MM.YYYY, HH:MM VIEWS` line,
  then a title line, then paragraphs; articles separated by NBSP-only lines) - recognised by its first
  line, not its name - or a single plain article (optional short title line, optional `Source:` /
  `URL:` / `Published:` lines right after the title, with or without a blank line between, or at the end).
- `.md` / `.markdown`: a `# Title` heading (or a title line directly followed by metadata lines),
  optional metadata lines after it, then the body.
- `.html` / `.htm`: main text and metadata extracted by trafilatura (no regexes on HTML).
- `.jsonl`: one JSON object per line with `title` and `text`; bad lines are skipped and reported.

Text is kept as written: line endings become `\\n`, a UTF-8 BOM is dropped, trailing whitespace of lines
is stripped and paragraphs are joined with one blank line; nothing else is removed except the
recognised title and metadata lines. Without a title line, the title is the article's first sentence,
shortened at a word boundary. An article holding a lone surrogate (from a `\\ud800` JSON escape, say)
cannot be stored: it is skipped and reported, the rest of its file is read.

Left out on purpose: guessing encodings other than UTF-8 (such files are reported, not decoded), YAML
front matter in Markdown (kept as body text), Markdown-to-plain-text conversion, following symlinked
folders, and any format not listed in `SUPPORTED_SUFFIXES`.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .articles import Article
from .errors import ReadError
from .sentences import first_sentence

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl")

_SNIFF_BYTES = 8 * 1024
_MAX_CONTROL_RATIO = 0.10  # more control characters than this in the first 8 KiB: not a text file
_TITLE_MAX_WORDS = 12
_TITLE_MAX_CHARS = 90
_TITLE_LINE_MAX_CHARS = 150
_QAZINFORM = "Qazinform News Agency"

# `DD.MM.YYYY, HH:MM VIEWS`, the first one optionally preceded by ` date YYYY-MM-DD ` (the feed's date).
_FEED_HEADER = re.compile(
    r"^\s*(?:date\s+\d{4}-\d{2}-\d{2}\s+)?"
    r"(?P<day>\d{2})\.(?P<month>\d{2})\.(?P<year>\d{4}),\s+(?P<hour>\d{2}):(?P<minute>\d{2})"
    r"(?:\s+(?P<views>\d+))?\s*$"
)
_META_LINE = re.compile(r"^\s*(?P<key>source|url|published)\s*:\s*(?P<value>\S.*?)\s*$", re.IGNORECASE)
_SURROGATE = re.compile("[\ud800-\udfff]")
_IMAGES_LINE = re.compile(r"^Images \| (?P<credit>\S.*?)\s*$")


@dataclass(frozen=True)
class ReadResult:
    """The articles of one file, and the problems with the parts of it that were skipped."""

    articles: list[Article]
    problems: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- files


@dataclass(frozen=True)
class FoundFile:
    """An article file to read: its path, its origin prefix, and the prefix the earlier ingest gave it."""

    path: Path
    origin: str  # the absolute path, folder resolved, POSIX form: its articles' origins start with it
    legacy_origin: str  # `<folder name>/<relative path>`: how archives ingested before held it


def scan_paths(paths: Iterable[Path]) -> list[FoundFile]:
    """Expand files and folders into the article files under them.

    Folders are walked recursively in sorted order, skipping hidden files and folders, symlinked
    folders and unsupported suffixes; a file given directly with an unsupported suffix is skipped with
    a warning. A file's origin is its absolute path (its folder resolved), so it names one file on this
    machine however it was reached (through its folder or directly, by a relative or symlinked folder
    path) and two files of one name in two folders of one name stay two articles. A file reached twice
    is listed once. A missing path raises `ReadError`.
    """
    found: list[FoundFile] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise ReadError(f"{printable(path)}: no such file or folder")
        if path.is_dir():
            root_name = _folder_name(path)
            pairs: Iterable[tuple[Path, str]] = (
                (file, f"{root_name}/{file.relative_to(path).as_posix()}") for file in _walk(path)
            )
        elif _is_supported(path):
            pairs = [(path, f"{_folder_name(path.parent)}/{path.name}")]
        else:
            log.warning(
                "skipping %s: not one of the supported types %s",
                printable(path),
                ", ".join(SUPPORTED_SUFFIXES),
            )
            pairs = []
        for file, legacy in pairs:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                found.append(FoundFile(file, printable(_absolute(file)), printable(Path(legacy))))
    return found


def find_files(paths: Iterable[Path]) -> list[tuple[Path, str]]:
    """`(path, origin prefix)` of the article files under `paths` (see `scan_paths`)."""
    return [(f.path, f.origin) for f in scan_paths(paths)]


def origin_prefixes(root: Path) -> tuple[str, str]:
    """What the origins of the articles found under `root` (a folder or a file given to `scan_paths`)
    start with: as now written, and as the earlier ingest wrote them."""
    if root.is_dir():
        resolved = root.resolve()
        current = printable(resolved)
        return current if current.endswith("/") else f"{current}/", printable(
            Path(_folder_name(resolved))
        ) + "/"
    return printable(_absolute(root)), printable(Path(_folder_name(root.parent)) / root.name)


def _absolute(file: Path) -> Path:
    """The file's path from the resolved folder it is in: a symlinked file keeps its own name and place."""
    return file.parent.resolve() / file.name


def printable(path: Path) -> str:
    """`path` in POSIX form as valid Unicode: bytes of a file name that are not UTF-8 (which Python keeps
    as lone surrogates, unstorable) are written as `\\xNN`."""
    return path.as_posix().encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _folder_name(folder: Path) -> str:
    return folder.resolve().name or "root"


def _is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_SUFFIXES


def _walk(folder: Path) -> Iterator[Path]:
    """Supported, non-hidden files under `folder`, depth first, sorted by name."""
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        raise ReadError(f"{folder}: cannot list folder: {exc.strerror or exc}") from exc
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if not entry.is_symlink():
                yield from _walk(entry)
        elif entry.is_file() and _is_supported(entry):
            yield entry


# ----------------------------------------------------------------------------------------- reading


def read_file(path: Path, origin: str, max_bytes: int) -> ReadResult:
    """Read one file into articles, dispatching on its suffix.

    Raises `ReadError` when the file as a whole is unusable: empty or whitespace only, larger than
    `max_bytes`, binary, not UTF-8, unparseable, or holding no article. Parts of a file that are
    skipped (a bad `.jsonl` line, a feed entry without text) are listed in `ReadResult.problems`.
    """
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ReadError(f"unsupported file type {suffix or '(none)'!r}; use one of {SUPPORTED_SUFFIXES}")
    text = _load_text(path, max_bytes)
    if suffix == ".txt":
        result = _read_txt(text, origin, path.stem)
    elif suffix in (".md", ".markdown"):
        result = ReadResult([_read_markdown(text, origin)])
    elif suffix in (".html", ".htm"):
        result = ReadResult([_read_html(text, origin)])
    else:
        result = _read_jsonl(text, origin)
    result = _storable(result)
    if not result.articles:
        detail = "; ".join(result.problems[:3])
        raise ReadError("no article found" + (f" ({detail})" if detail else ""))
    return result


def _storable(result: ReadResult) -> ReadResult:
    """Drop articles holding a lone surrogate (a code point that is not valid Unicode on its own, as a
    `\\ud800` JSON escape or an HTML character reference can produce): no store can encode them."""
    articles: list[Article] = []
    problems = list(result.problems)
    for article in result.articles:
        fields = {"title": article.title, "text": article.text, "source": article.source, "url": article.url}
        bad = [name for name, value in fields.items() if lone_surrogate(value)]
        if bad:
            problems.append(f"{article.origin}: {_surrogate_problem(bad[0])}; skipped")
        else:
            articles.append(article)
    return ReadResult(articles, problems)


def lone_surrogate(text: str) -> bool:
    """Whether `text` holds a surrogate code point (a valid pair is one character in a Python string)."""
    return _SURROGATE.search(text) is not None


def _surrogate_problem(key: str) -> str:
    return f"'{key}' holds a lone surrogate (half of an encoded character), which is not valid Unicode"


def _load_text(path: Path, max_bytes: int) -> str:
    """The file's text, decoded as UTF-8, BOM dropped and line endings normalised to `\\n`."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ReadError(f"file is too large ({size} bytes; the limit is {max_bytes} bytes)")
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise ReadError(f"cannot read the file: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise ReadError(f"file is too large (more than {max_bytes} bytes)")
    if not data:
        raise ReadError("file is empty")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ReadError("file is UTF-16 encoded; save it as UTF-8")
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise ReadError("file looks binary (it contains NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReadError(
            f"file is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
        ) from exc
    if _control_ratio(text[:_SNIFF_BYTES]) > _MAX_CONTROL_RATIO:
        raise ReadError("file looks binary (mostly control characters), not text")
    if not text.strip():
        raise ReadError("file holds only whitespace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _control_ratio(sample: str) -> float:
    controls = sum(1 for ch in sample if ch not in "\t\n\r\f" and unicodedata.category(ch) == "Cc")
    return controls / max(len(sample), 1)


# ------------------------------------------------------------------------------------ text helpers


def _is_blank(line: str) -> bool:
    return not line.strip()  # str.strip() also removes NBSP, so NBSP-only separator lines count as blank


def _paragraphs(lines: Iterable[str]) -> str:
    """Lines (trailing whitespace stripped) grouped into paragraphs at blank lines, joined by `\\n\\n`."""
    blocks: list[list[str]] = [[]]
    for line in lines:
        if _is_blank(line):
            if blocks[-1]:
                blocks.append([])
        else:
            blocks[-1].append(line.rstrip())
    return "\n\n".join("\n".join(block) for block in blocks if block)


def _strip_blank_edges(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and _is_blank(lines[start]):
        start += 1
    while end > start and _is_blank(lines[end - 1]):
        end -= 1
    return lines[start:end]


def first_sentence_title(text: str) -> str:
    """The first sentence of `text`, shortened to about 12 words / 90 characters with "…" if cut."""
    first_paragraph = text.strip().split("\n\n", 1)[0]
    sentence = first_sentence(" ".join(first_paragraph.split()))
    words = sentence.split()
    if len(words) <= _TITLE_MAX_WORDS and len(sentence) <= _TITLE_MAX_CHARS:
        return sentence
    kept: list[str] = []
    for word in words[:_TITLE_MAX_WORDS]:
        if len(" ".join([*kept, word])) + 1 > _TITLE_MAX_CHARS:
            break
        kept.append(word)
    if not kept:  # one enormous word
        return words[0][: _TITLE_MAX_CHARS - 1] + "…"
    return " ".join(kept).rstrip(",;:—–-") + "…"


def normalise_published(raw: str) -> str | None:
    """An ISO date or datetime as `YYYY-MM-DDTHH:MM:SS` (aware times converted to UTC), else None."""
    value = raw.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


@dataclass
class _Meta:
    """Values of the recognised `Source:` / `URL:` / `Published:` lines."""

    source: str = ""
    url: str = ""
    published: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def take(self, key: str, value: str) -> None:
        key = key.lower()
        if key == "source":
            self.source = value
        elif key == "url":
            self.url = value
        else:
            self.published = normalise_published(value)
            if self.published is None:
                self.extra["published_raw"] = value


def _take_leading_meta(lines: list[str], meta: _Meta) -> list[str]:
    """Consume metadata lines at the start of `lines` (blank lines between them allowed)."""
    index = 0
    while index < len(lines):
        if _is_blank(lines[index]):
            index += 1
            continue
        match = _META_LINE.match(lines[index])
        if not match:
            break
        meta.take(match["key"], match["value"])
        index += 1
    return lines[index:]


def _take_trailing_meta(lines: list[str], meta: _Meta) -> list[str]:
    """Consume metadata lines at the end of `lines` (blank lines between them allowed)."""
    end = len(lines)
    found: list[re.Match[str]] = []
    while end > 0:
        if _is_blank(lines[end - 1]):
            end -= 1
            continue
        match = _META_LINE.match(lines[end - 1])
        if not match:
            break
        found.append(match)
        end -= 1
    for match in reversed(found):
        meta.take(match["key"], match["value"])
    return lines[:end]


# ------------------------------------------------------------------------------------------ .txt


def _read_txt(text: str, origin: str, stem: str) -> ReadResult:
    lines = text.split("\n")
    first = next(line for line in lines if not _is_blank(line))
    if _FEED_HEADER.match(first):
        return _read_feed(lines, origin, stem)
    return ReadResult([_read_plain(lines, origin)])


def _read_plain(lines: list[str], origin: str) -> Article:
    """A single article: an optional short title line, metadata lines, the body."""
    lines = _strip_blank_edges(lines)
    meta = _Meta()
    title = ""
    if len(lines) > 2 and _looks_like_title(lines[0]) and (_is_blank(lines[1]) or _META_LINE.match(lines[1])):
        title = lines[0].strip()
        lines = _take_leading_meta(lines[1:], meta)
    lines = _take_trailing_meta(lines, meta)
    body = _paragraphs(lines)
    if not body:
        raise ReadError("no article text found (only a title or metadata lines)")
    return Article(
        title=title or first_sentence_title(body),
        text=body,
        origin=origin,
        published=meta.published,
        source=meta.source,
        url=meta.url,
        extra=meta.extra,
    )


def _looks_like_title(line: str) -> bool:
    stripped = line.strip()
    return (
        len(stripped) <= _TITLE_LINE_MAX_CHARS and not stripped.endswith(".") and not _META_LINE.match(line)
    )


def _read_feed(lines: list[str], origin: str, stem: str) -> ReadResult:
    """A feed: articles each opening with a `DD.MM.YYYY, HH:MM VIEWS` line at the start of a paragraph."""
    articles: list[Article] = []
    problems: list[str] = []
    for number, (header, body_lines) in enumerate(_feed_entries(lines), start=1):
        entry = f"entry {number} ({header.strip()})"
        content = _strip_blank_edges(body_lines)
        if not content:
            problems.append(f"{entry}: no title or text; skipped")
            continue
        title = content[0].strip()
        body = _paragraphs(content[1:])
        if not body:
            problems.append(f"{entry}: a title but no text; skipped")
            continue
        articles.append(_feed_article(header, title, body, f"{origin}#{number}", stem))
    return ReadResult(articles, problems)


def _feed_entries(lines: list[str]) -> Iterator[tuple[str, list[str]]]:
    """(header line, following lines) per feed entry; a header must open a paragraph."""
    header: str | None = None
    body: list[str] = []
    previous_blank = True
    for line in lines:
        if previous_blank and _FEED_HEADER.match(line):
            if header is not None:
                yield header, body
            header, body = line, []
        elif header is not None:
            body.append(line)
        previous_blank = _is_blank(line)
    if header is not None:
        yield header, body


def _feed_article(header: str, title: str, body: str, origin: str, stem: str) -> Article:
    match = _FEED_HEADER.match(header)
    assert match is not None  # _feed_entries only yields matching headers
    extra: dict[str, str] = {}
    if match["views"]:
        extra["views"] = match["views"]
    for line in body.split("\n"):
        images = _IMAGES_LINE.match(line)
        if images:  # the credit stays in the text too; extra just names it
            extra["images"] = images["credit"]
            break
    try:
        published: str | None = datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
        ).isoformat()
    except ValueError:
        published = None
        extra["published_raw"] = header.strip()
    return Article(
        title=title,
        text=body,
        origin=origin,
        published=published,
        source=_QAZINFORM if _QAZINFORM in f"{title}\n{body}" else stem,
        extra=extra,
    )


# ------------------------------------------------------------------------------------------- .md


def _read_markdown(text: str, origin: str) -> Article:
    """`# Title`, optional metadata lines, body; without a heading the title is the first sentence."""
    lines = text.split("\n")
    meta = _Meta()
    heading = next((i for i, line in enumerate(lines) if line.startswith("# ")), None)
    if heading is None:
        title = ""
        first = next((i for i, line in enumerate(lines) if not _is_blank(line)), len(lines))
        if first + 1 < len(lines) and _looks_like_title(lines[first]) and _META_LINE.match(lines[first + 1]):
            title = lines[first].strip()  # a title line directly followed by metadata lines
            lines = lines[first + 1 :]
        lines = _take_leading_meta(lines, meta)
    else:
        title = re.sub(r"\s+#+\s*$", "", lines[heading][2:]).strip()
        lines = lines[:heading] + _take_leading_meta(lines[heading + 1 :], meta)
    body = _paragraphs(lines)
    if not body:
        raise ReadError("no article text found (only a heading or metadata lines)")
    return Article(
        title=title or first_sentence_title(body),
        text=body,
        origin=origin,
        published=meta.published,
        source=meta.source,
        url=meta.url,
        extra=meta.extra,
    )


# ----------------------------------------------------------------------------------------- .html


def read_html(html: str, origin: str) -> Article:
    """The article of an HTML page (a file's or one fetched from the web); `ReadError` when it holds none."""
    return _storable_one(_read_html(html, origin))


def _storable_one(article: Article) -> Article:
    result = _storable(ReadResult([article]))
    if not result.articles:
        raise ReadError(result.problems[0])
    return article


def _read_html(html: str, origin: str) -> Article:
    """Main text and metadata by trafilatura; scripts, styles, navigation and comments are left out."""
    import trafilatura  # slow to import; only HTML needs it

    try:
        extracted = trafilatura.extract(
            html, output_format="txt", include_comments=False, include_tables=True, favor_recall=True
        )
        metadata = trafilatura.extract_metadata(
            html, date_config={"extensive_search": False, "original_date": True}
        )
    except Exception as exc:  # trafilatura/lxml raise many types on malformed input
        raise ReadError(f"the HTML cannot be parsed ({type(exc).__name__})") from exc
    body = _paragraphs((extracted or "").split("\n"))
    if not body:
        raise ReadError("no article text found in the HTML")
    title = (getattr(metadata, "title", None) or "").strip()
    published: str | None = None
    extra: dict[str, str] = {}
    raw_date = getattr(metadata, "date", None)
    if raw_date:
        published = normalise_published(str(raw_date))
        if published is None:
            extra["published_raw"] = str(raw_date)
    return Article(
        title=title or first_sentence_title(body),
        text=body,
        origin=origin,
        published=published,
        source=(getattr(metadata, "sitename", None) or getattr(metadata, "hostname", None) or "").strip(),
        url=(getattr(metadata, "url", None) or "").strip(),
        extra=extra,
    )


# ---------------------------------------------------------------------------------------- .jsonl


def _read_jsonl(text: str, origin: str) -> ReadResult:
    """One article per JSON object line; bad lines are skipped and listed as problems."""
    articles: list[Article] = []
    problems: list[str] = []
    used: set[str] = set()
    for number, line in enumerate(text.split("\n"), start=1):
        if _is_blank(line):
            continue
        try:
            article, notes = _jsonl_record(line, number, origin, used)
        except ValueError as exc:
            problems.append(f"line {number}: {exc}; skipped")
            continue
        problems.extend(f"line {number}: {note}" for note in notes)
        used.add(article.origin)
        articles.append(article)
    return ReadResult(articles, problems)


def _jsonl_record(line: str, number: int, origin: str, used: set[str]) -> tuple[Article, list[str]]:
    """The article of one line and notes about ignored fields; ValueError if the line is unusable."""
    try:
        record: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    for key in ("title", "text"):
        value = record.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"'{key}' is missing or not a non-empty string")
    for key in ("title", "text", "published", "source", "url", "id"):
        value = record.get(key)
        if isinstance(value, str) and lone_surrogate(value):
            raise ValueError(_surrogate_problem(key))
    notes: list[str] = []
    optional: dict[str, str] = {}
    for key in ("published", "source", "url", "id"):
        value = record.get(key)
        if value is None:
            continue
        if isinstance(value, str) or (key == "id" and isinstance(value, int) and not isinstance(value, bool)):
            optional[key] = str(value).strip()
        else:
            notes.append(f"'{key}' is not a string; ignored")
    record_origin = f"{origin}#{optional['id']}" if optional.get("id") else f"{origin}#L{number}"
    if record_origin in used:
        notes.append(f"id {optional.get('id')!r} repeats an earlier line; using the line number instead")
        record_origin = f"{origin}#L{number}"
        if record_origin in used:
            raise ValueError("its id collides with another record")
    extra: dict[str, str] = {}
    published = None
    if optional.get("published"):
        published = normalise_published(optional["published"])
        if published is None:
            extra["published_raw"] = optional["published"]
    body = _paragraphs(record["text"].replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    article = Article(
        title=" ".join(record["title"].split()),
        text=body,
        origin=record_origin,
        published=published,
        source=optional.get("source", ""),
        url=optional.get("url", ""),
        extra=extra,
    )
    return article, notes

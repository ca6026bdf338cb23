"""The lexical half of hybrid retrieval: BM25 over the committed passages, in a Tantivy index
(`state/<collection>/bm25/`), so that adding a few articles costs what those articles cost, not what the
archive costs.

Tantivy keeps the index as Lucene does: immutable segments, deletes by term, merges in the background
(its log merge policy, so no merge rewrites the archive for ten new articles), and one commit point, its
`meta.json`, written by rename: a reader sees the old commit or the new one, never half. BM25 runs
against index-wide statistics (documents, document frequencies, average length over every segment;
deleted passages count until a merge drops them), so a passage scores the same in a new small segment as
in a fresh build.

One document per passage: `passage_id` (stored), `article_id` (raw term: an article's passages are
deleted by it), `content_hash` and `source` (stored), `text` (title + passage, analysed: `\\w\\w+` words,
lower case, Tantivy's English stop words, Snowball English stems; numbers lose their thousands separators
first, see `normalise`), `published_ts` (i64, fast: the date filter is a range query) and `head` (1 on an
article's first passage: counting heads counts articles). The committed articles (article_id -> content
hash, what the retriever serves) are looked up in the index, never loaded whole.

Tantivy maps the segment files into memory: a file cut short in place under a running reader would kill
the process with SIGBUS at the next search. `LexicalIndex.intact()` notices it (a `stat` of each file it
opened: the same file, now shorter) so that the reader reopens or rebuilds the index instead; a file
cut short during a search itself is not caught.

Left out on purpose: positions (no phrase queries), field weights, Tantivy's query language (user text is
analysed into terms and never parsed, so no input is a syntax error).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tantivy

if TYPE_CHECKING:
    from .settings import ArchiveSettings
    from .store import PassageStore

__all__ = [
    "ArticlePassages",
    "LexicalIndex",
    "build_index",
    "index_dir",
    "mark_pending",
    "normalise",
    "pending",
    "rebuild_lexical_index",
    "saved_at",
    "update_lexical_index",
]

ANALYZER = "news_en_v1"  # the text field's analyzer: a new name when it changes (the old index is rebuilt)
UPDATE_HEAP, UPDATE_THREADS = 50_000_000, 1  # the writer of an ingest's few articles
REBUILD_HEAP, REBUILD_THREADS = 100_000_000, 2  # the writer of a full rebuild
_COMMIT = "meta.json"  # Tantivy's commit point
_NOT_MAPPED = (_COMMIT, ".managed.json")  # read whole, never mapped
_THOUSANDS = re.compile(r"(?<=\d)[,\u00a0\u202f](?=\d{3}(?!\d))")
_LOAD_TRIES = 3
_ERRORS = (OSError, ValueError, RuntimeError)


def normalise(text: str) -> str:
    """Lower-level text normalisation shared by indexing and querying ("12,000" -> "12000"); lone
    surrogates, which cannot cross into Tantivy, become "?"."""
    return _THOUSANDS.sub("", text).encode("utf-8", "replace").decode("utf-8")


def index_dir(settings: ArchiveSettings) -> Path:
    """Where the collection's BM25 index is saved."""
    return settings.state_dir / "bm25"


def saved_at(directory: Path) -> float:
    """When the index in `directory` was last committed (the mtime of Tantivy's `meta.json`; -1 when there
    is none): ingest commits at the end of every run that changed the archive, so this one `stat` tells
    readers to reload."""
    try:
        return (directory / _COMMIT).stat().st_mtime
    except OSError:
        return -1.0


def _pending_marker(directory: Path) -> Path:
    return directory.with_name(directory.name + ".pending")


def mark_pending(directory: Path) -> None:
    """Note that an ingest is about to change the archive: if it dies before it commits the index, the
    marker stays and the next ingest (or a reader, when no ingest runs) rebuilds the index."""
    marker = _pending_marker(directory)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"pid {os.getpid()}\n")


def pending(directory: Path) -> bool:
    """Whether an ingest changed (or was changing) the archive without committing the index after it."""
    return _pending_marker(directory).exists()


def _clear_pending(directory: Path) -> None:
    with contextlib.suppress(OSError):
        _pending_marker(directory).unlink()


@dataclass(frozen=True)
class ArticlePassages:
    """A committed article's passages as the index takes them: (passage_id, text, published_ts)."""

    article_id: str
    content_hash: str
    source: str
    passages: Sequence[tuple[str, str, int]]


@lru_cache(maxsize=1)
def _analyzer() -> tantivy.TextAnalyzer:
    """bm25s's tokenisation, as Tantivy filters: `\\w\\w+` words, lower case, stop words, English stems."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(r"\w\w+"))
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stopword("english"))
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


@lru_cache(maxsize=1)
def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    for name in ("passage_id", "article_id", "content_hash", "source"):
        builder.add_text_field(name, stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("text", tokenizer_name=ANALYZER, index_option="freq")
    builder.add_integer_field("published_ts", indexed=True, fast=True)
    builder.add_integer_field("head", indexed=True)
    return builder.build()


def _opened(index: tantivy.Index) -> tantivy.Index:
    index.register_tokenizer(ANALYZER, _analyzer())
    index.config_reader(reload_policy="Manual")
    return index


def _is_panic(exc: BaseException) -> bool:
    """A Rust panic inside Tantivy (pyo3's PanicException, a BaseException): a damaged index."""
    return type(exc).__name__ == "PanicException"


def _term(field: str, value: str | int) -> tantivy.Query:
    option = "freq" if field == "text" else "basic"
    return tantivy.Query.term_query(_schema(), field, value, index_option=option)


# --- the index ----------------------------------------------------------------------------------------------
class CommittedArticles(Mapping[str, str]):
    """article_id -> content hash of the committed articles the index holds, looked up in the index (a term
    query each, remembered), never loaded whole."""

    def __init__(self, index: LexicalIndex) -> None:
        self._index = index
        self._known: dict[str, str | None] = {}

    def get(self, article_id: str, default: Any = None) -> Any:
        if not isinstance(article_id, str):
            return default
        if article_id not in self._known:
            self._known[article_id] = self._index._content_hash(article_id)
        found = self._known[article_id]
        return default if found is None else found

    def __getitem__(self, article_id: str) -> str:
        found = self.get(article_id)
        if found is None:
            raise KeyError(article_id)
        return str(found)

    def __contains__(self, article_id: object) -> bool:
        return isinstance(article_id, str) and self.get(article_id) is not None

    def __iter__(self) -> Iterator[str]:
        for doc in self._index._docs(_term("head", 1), self._index.articles):
            yield str(doc.get_first("article_id"))

    def __len__(self) -> int:
        return self._index.articles


class LexicalIndex:
    """BM25 over one searcher of the index (a fixed commit: a reload makes a new `LexicalIndex`); `search`
    returns (passage_id, score) best first, optionally within a range of publication times. `len()`
    counts the passages, `articles` the articles, `committed` maps the articles to their hashes."""

    def __init__(self, directory: Path, index: tantivy.Index, mtime: float) -> None:
        self.directory = directory
        self.saved_at = mtime
        self._index = index
        self._files = _file_sizes(directory)  # before the searcher opens them: no file is longer than seen
        self._searcher = index.searcher()
        self.committed = CommittedArticles(self)

    def intact(self) -> bool:
        """False when a file of the index was cut short in place since this index opened it: searching it
        would touch memory past the file's end (SIGBUS), so the caller must reopen or rebuild the index."""
        for name, (inode, size) in self._files.items():
            try:
                now = os.stat(self.directory / name)
            except OSError:
                continue  # removed or replaced by name: the mapping keeps the old file whole
            if now.st_ino == inode and now.st_size < size:
                return False
        return True

    def __len__(self) -> int:
        return int(self._searcher.num_docs)

    @cached_property
    def articles(self) -> int:
        """The committed articles: the heads of their passages."""
        if not len(self):
            return 0
        found = self._searcher.search(_term("head", 1), 1, count=True)
        return int(found.count)  # type: ignore[attr-defined]  # (missing from the 0.27 stub)

    @cached_property
    def sources(self) -> frozenset[str]:
        """The sources of the live articles (a source's term outlives its last article until a merge: each
        is checked)."""
        names = [str(term) for term, _ in self._searcher.terms_with_prefix("source", "")]
        return frozenset(n for n in names if self._searcher.search(_term("source", n), 1, count=False).hits)

    @property
    def segments(self) -> int:
        return int(self._searcher.num_segments)

    @property
    def ids(self) -> list[str]:
        """The passage ids (the whole archive: for tests and checks, not for queries)."""
        return [str(doc.get_first("passage_id")) for doc in self._docs(tantivy.Query.all_query(), len(self))]

    def _docs(self, query: tantivy.Query, limit: int) -> Iterator[tantivy.Document]:
        if limit <= 0:
            return
        for _, address in self._searcher.search(query, limit, count=False).hits:
            yield self._searcher.doc(address)

    def _content_hash(self, article_id: str) -> str | None:
        doc = next(self._docs(_term("article_id", article_id), 1), None)
        return None if doc is None else str(doc.get_first("content_hash"))

    @staticmethod
    def tokenize(text: str) -> list[str]:
        """The terms the index holds for `text` (and searches for, as a query)."""
        return list(_analyzer().analyze(normalise(text)))

    def search(self, query: str, k: int, published: tuple[int, int] | None = None) -> list[tuple[str, float]]:
        """The best `k` passages for `query` by BM25 (any of its terms; never a syntax error), within
        `published` ([start, end) of `published_ts`) when given."""
        terms = list(dict.fromkeys(self.tokenize(query)))
        if not terms or k <= 0 or not len(self):
            return []
        found = tantivy.Query.boolean_query([(tantivy.Occur.Should, _term("text", t)) for t in terms])
        if published is not None:
            start, end = published
            if start >= end:
                return []
            within = tantivy.Query.range_query(
                _schema(), "published_ts", tantivy.FieldType.Integer, start, end, include_upper=False
            )
            found = tantivy.Query.boolean_query(
                [
                    (tantivy.Occur.Must, found),
                    (tantivy.Occur.Must, tantivy.Query.const_score_query(within, 0.0)),
                ]
            )
        hits = self._searcher.search(found, k, count=False).hits
        return [(str(self._searcher.doc(a).get_first("passage_id")), float(score)) for score, a in hits]

    # --- persistence ----------------------------------------------------------------------------------------
    @classmethod
    def load(cls, directory: Path, previous: LexicalIndex | None = None) -> LexicalIndex | None:
        """The committed index, or None when there is none or it is damaged (it will be rebuilt): no
        commit, another schema, unreadable or truncated files. With `previous` (of the same directory) its
        Tantivy index is reloaded: only the new segments are opened."""
        for _ in range(_LOAD_TRIES):
            before = saved_at(directory)
            if before < 0:
                return None
            try:
                index: tantivy.Index | None = None
                if previous is not None and previous.directory == directory:
                    index = previous._index
                    index.reload()
                else:
                    index = _opened(tantivy.Index.open(str(directory)))
                    if index.schema != _schema():
                        return None
                    index.reload()
                loaded = cls(directory, index, before)
                loaded._check()
                return loaded
            except _ERRORS:
                previous = None
            except BaseException as exc:
                if not _is_panic(exc):
                    raise
                previous = None
            if saved_at(directory) == before:  # not a commit racing with us: the index is damaged
                return None
        return None

    def _check(self) -> None:
        """Read what every query reads (terms, postings, lengths, fast fields, stored fields) once:
        a truncated or missing file raises here, not in a reader's query."""
        self.search("the said year new", 3, published=(-(2**62), 2**62))
        _ = self.articles, self.sources
        list(self._docs(tantivy.Query.all_query(), 1))


def _file_sizes(directory: Path) -> dict[str, tuple[int, int]]:
    """name -> (inode, size) of the files of the index that Tantivy may map."""
    sizes: dict[str, tuple[int, int]] = {}
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            if entry.name in _NOT_MAPPED or entry.name.endswith(".lock"):
                continue
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False):
                    stat = entry.stat(follow_symlinks=False)
                    sizes[entry.name] = (stat.st_ino, stat.st_size)
    return sizes


# --- writing ------------------------------------------------------------------------------------------------
def _documents(article: ArticlePassages) -> Iterator[tantivy.Document]:
    for n, (passage_id, text, ts) in enumerate(article.passages):
        doc = tantivy.Document()
        doc.add_text("passage_id", passage_id)
        doc.add_text("article_id", article.article_id)
        doc.add_text("content_hash", article.content_hash)
        if article.source:
            doc.add_text("source", article.source)
        doc.add_text("text", normalise(text))
        doc.add_integer("published_ts", int(ts))
        doc.add_integer("head", int(n == 0))
        yield doc


def _commit(writer: tantivy.IndexWriter) -> None:
    """The commit point: before it readers see the old index, after it the new one."""
    writer.commit()


@contextlib.contextmanager
def _writer(index: tantivy.Index, heap: int, threads: int) -> Iterator[tantivy.IndexWriter]:
    """A writer that is always let go (its lock released; merges finished when the work succeeded, the
    uncommitted work dropped when it did not)."""
    writer = index.writer(heap_size=heap, num_threads=threads)
    try:
        yield writer
    except BaseException:
        with contextlib.suppress(*_ERRORS):
            writer.rollback()
        raise
    finally:
        writer.wait_merging_threads()


def build_index(directory: Path, articles: Iterable[ArticlePassages]) -> LexicalIndex:
    """A new index of `articles` in `directory`, in one commit: an index already there is emptied in the
    same commit (readers see the old one until then); anything else there (damage, another format) is
    removed first."""
    directory.mkdir(parents=True, exist_ok=True)
    existing = LexicalIndex.load(directory)
    if existing is not None:
        index = existing._index
    else:
        for entry in directory.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        index = _opened(tantivy.Index(_schema(), path=str(directory), reuse=False))
    with _writer(index, REBUILD_HEAP, REBUILD_THREADS) as writer:
        writer.delete_all_documents()
        for article in articles:
            for doc in _documents(article):
                writer.add_document(doc)
        _commit(writer)
    _clear_pending(directory)
    built = LexicalIndex.load(directory)
    if built is None:
        raise OSError(f"the lexical index just written to {directory} does not load")
    return built


def update_lexical_index(
    directory: Path,
    added: Sequence[ArticlePassages],
    removed: Iterable[str] = (),
    index: LexicalIndex | None = None,
) -> LexicalIndex | None:
    """Delete the older versions of the committed `added` articles and the `removed` articles (by their
    article_id term), add `added`, in one commit. Costs what the change costs (plus Tantivy's merges of
    small segments now and then), not the archive. None when there is no usable index to update (the
    caller rebuilds)."""
    index = index or LexicalIndex.load(directory)
    if index is None:
        return None
    with _writer(index._index, UPDATE_HEAP, UPDATE_THREADS) as writer:
        for article_id in sorted({*removed, *(a.article_id for a in added)}):
            writer.delete_documents_by_term("article_id", article_id)
        for article in added:
            for doc in _documents(article):
                writer.add_document(doc)
        _commit(writer)
    _clear_pending(directory)
    return LexicalIndex.load(directory, previous=index)


# --- from the archive ---------------------------------------------------------------------------------------
def committed_articles(store: PassageStore) -> Iterator[ArticlePassages]:
    """The committed articles' passages as the index takes them (no leftovers of interrupted runs): one pass
    over the stored passages and the ledger."""
    committed = {aid: rec for aid, rec in store.articles().items()}
    grouped: dict[str, list[tuple[str, str, int]]] = {}
    for p in store.iter_passages():
        aid = str(p.metadata.get("article_id", ""))
        record = committed.get(aid)
        if record is None or record.content_hash != p.metadata.get("content_hash"):
            continue
        text = f"{p.metadata.get('title', '')}\n{p.text}"
        grouped.setdefault(aid, []).append((p.passage_id, text, int(p.metadata.get("published_ts", -1))))
    for aid, passages in grouped.items():
        record = committed[aid]
        yield ArticlePassages(aid, record.content_hash, record.source, passages)


def rebuild_lexical_index(store: PassageStore, directory: Path) -> LexicalIndex:
    """Build the index of the committed archive from scratch (O(archive): for a missing or damaged index,
    or after a killed ingest) and commit it; a read-only data dir gets it in a private temporary folder."""
    articles = list(committed_articles(store))
    try:
        return build_index(directory, articles)
    except _ERRORS:
        scratch = Path(tempfile.mkdtemp(prefix="news-assistant-bm25-")) / "bm25"
        return build_index(scratch, articles)

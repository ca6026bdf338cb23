"""The archive in Chroma: passages (with their embeddings) and a small ledger of ingested articles.

Two collections per archive:
- `<collection>`: one record per passage, id `<article_id>:<content_hash>:<chunk_index>`, with the
  article's metadata, the passage's offsets and `content_hash`.
- `<collection>-articles`: one record per committed article (id = article_id) holding its content hash,
  metadata and passage count. Ingest writes it last, so it is the commit point: passages of an article
  that are not in the ledger with the same hash are leftovers of an interrupted run and are ignored by
  retrieval and replaced by the next ingest.

The embedded PersistentClient is the default; setting `ASSISTANT_CHROMA_HOST` switches to a Chroma server
(HttpClient) with the same code. Chroma's own embedding function is never used: embeddings are always
passed in, so nothing is ever downloaded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .articles import Holder, decode_holders, encode_holders, label_of
from .errors import ArchiveDamagedError, ArchiveUnavailableError, ArchiveWriteError, EmbedderMismatchError
from .settings import ArchiveSettings

_PAGE = 2000
_EXACT_SEARCH_LIMIT = 50_000  # most filtered passages scanned exactly when the HNSW search comes up short
_SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True)
class StoredPassage:
    passage_id: str
    text: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class ArticleRecord:
    """A committed article as the ledger holds it.

    `text_key`, `url_key` and `guid_key` (`Article.copy_keys`) find copies of it; `also_in` lists the
    other places it came from. Records written before these existed lack them (read as "" and ()): such a
    record is matched by its exact content hash only."""

    article_id: str
    content_hash: str
    title: str
    published: str
    published_ts: int
    source: str
    url: str
    origin: str
    passages: int
    text_key: str = ""
    url_key: str = ""
    guid_key: str = ""
    also_in: tuple[Holder, ...] = ()

    @classmethod
    def from_metadata(cls, article_id: str, meta: dict[str, Any]) -> ArticleRecord:
        return cls(
            article_id=article_id,
            content_hash=str(meta.get("content_hash", "")),
            title=str(meta.get("title", "")),
            published=str(meta.get("published", "")),
            published_ts=int(meta.get("published_ts", -1)),
            source=str(meta.get("source", "")),
            url=str(meta.get("url", "")),
            origin=str(meta.get("origin", "")),
            passages=int(meta.get("passages", 0)),
            text_key=str(meta.get("text_key", "")),
            url_key=str(meta.get("url_key", "")),
            guid_key=str(meta.get("guid_key", "")),
            also_in=decode_holders(meta.get("also_in")),
        )

    def to_metadata(self) -> dict[str, Any]:
        return {
            "content_hash": self.content_hash,
            "title": self.title,
            "published": self.published,
            "published_ts": self.published_ts,
            "source": self.source,
            "url": self.url,
            "origin": self.origin,
            "passages": self.passages,
            "text_key": self.text_key,
            "url_key": self.url_key,
            "guid_key": self.guid_key,
            "also_in": encode_holders(self.also_in),
        }

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key a copy of it may be found under: its content hash and its copy keys."""
        return tuple(k for k in (self.content_hash, self.text_key, self.url_key, self.guid_key) if k)

    @property
    def holders(self) -> tuple[Holder, ...]:
        """Its origin and the other places it came from, first to last."""
        return (Holder(self.origin, label_of(self.source, self.url, self.origin)), *self.also_in)


@dataclass(frozen=True)
class PassageFilter:
    """Which passages a search may return: published in [start, end) (epoch seconds), from one source,
    and not of the given content hashes (versions of articles that are not committed). Chroma's filter
    dialect stays inside the store (`_where`)."""

    published: tuple[int, int] | None = None
    source: str | None = None
    exclude_hashes: tuple[str, ...] = ()

    def excluding(self, hashes: Sequence[str]) -> PassageFilter:
        return PassageFilter(self.published, self.source, tuple(hashes))

    def _where(self) -> dict[str, Any] | None:
        clauses: list[dict[str, Any]] = []
        if self.source is not None:
            clauses.append({"source": self.source})
        if self.published is not None:
            start, end = self.published
            clauses += [{"published_ts": {"$gte": start}}, {"published_ts": {"$lt": end}}]
        if self.exclude_hashes:
            clauses.append({"content_hash": {"$nin": list(self.exclude_hashes)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


_VECTOR_SPACE = "embedder"
LEGACY_VECTOR_SPACE = "all-MiniLM-L6-v2-onnx-int8"  # archives from before the record were all MiniLM
REEMBEDDING = "re-embedding for "


def _client(settings: ArchiveSettings) -> tuple[Any, tempfile.TemporaryDirectory[str] | None]:
    """The Chroma client, and the private copy it reads when the embedded archive is read-only."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    try:
        if settings.chroma_host:
            client = chromadb.HttpClient(
                host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
            )
            return client, None
        _check_embedded(settings)
        if _is_read_only(settings.chroma_dir):
            copy = _read_only_copy(settings.chroma_dir)
            return chromadb.PersistentClient(path=copy.name, settings=chroma_settings), copy
        return chromadb.PersistentClient(path=str(settings.chroma_dir), settings=chroma_settings), None
    except ArchiveUnavailableError:
        raise
    except Exception as exc:  # chromadb raises plain ValueError/ConnectionError/etc. here
        raise ArchiveUnavailableError(_where(settings) + f" cannot be opened: {exc}") from exc


def _check_embedded(settings: ArchiveSettings) -> None:
    """The embedded store's folder is usable and its database, if any, is a whole SQLite file.

    An empty or foreign `chroma.sqlite3` would otherwise be opened as a new, empty archive (and the next
    ingest would silently start over in it)."""
    for folder in (settings.data_dir, settings.chroma_dir):
        if folder.exists() and not folder.is_dir():
            raise ArchiveUnavailableError(
                f"{folder} is a file, not a folder: point ASSISTANT_DATA_DIR (--data-dir) at a folder"
            )
    database = settings.chroma_dir / "chroma.sqlite3"
    if database.exists():
        with open(database, "rb") as handle:
            header = handle.read(len(_SQLITE_HEADER))
        if header != _SQLITE_HEADER:
            state = "an empty file" if not header else "not a SQLite database"
            raise ArchiveDamagedError(
                f"the archive database {database} is damaged ({state}); nothing was changed. Restore it "
                f"from a backup, or move {settings.chroma_dir} away and ingest the articles again"
            )
        return
    if settings.chroma_dir.is_dir() and any(settings.chroma_dir.iterdir()):
        raise ArchiveDamagedError(
            f"the archive in {settings.chroma_dir} has index files but no database (chroma.sqlite3); "
            f"nothing was changed. Restore it from a backup, or move {settings.chroma_dir} away and "
            "ingest the articles again"
        )
    try:
        settings.chroma_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArchiveUnavailableError(
            f"cannot create the archive folder {settings.chroma_dir}: {exc.strerror or exc}"
        ) from exc


def chroma_client(settings: ArchiveSettings) -> Any:
    """A Chroma client on the archive the settings name, for code that manages its own collections (the
    evals' baseline index); raises ArchiveUnavailableError like the store."""
    client, read_only_copy = _client(settings)
    if read_only_copy is not None:
        read_only_copy.cleanup()
        raise ArchiveUnavailableError(f"{_where(settings)} is read-only")
    return client


def _is_read_only(chroma_dir: Path) -> bool:
    database = chroma_dir / "chroma.sqlite3"
    return database.exists() and not (os.access(chroma_dir, os.W_OK) and os.access(database, os.W_OK))


def _read_only_copy(chroma_dir: Path) -> tempfile.TemporaryDirectory[str]:
    """A private, writable view of a read-only archive: Chroma writes to its database even to read it,
    so the database file is copied and the index folders are linked (read, never written)."""
    copy = tempfile.TemporaryDirectory(prefix="news-assistant-read-only-")
    target = Path(copy.name)
    shutil.copy2(chroma_dir / "chroma.sqlite3", target / "chroma.sqlite3")
    for entry in chroma_dir.iterdir():
        if entry.is_dir():
            (target / entry.name).symlink_to(entry.resolve(), target_is_directory=True)
    return copy


def _where(settings: ArchiveSettings) -> str:
    if settings.chroma_host:
        return f"the Chroma server at {settings.chroma_host}:{settings.chroma_port}"
    return f"the Chroma store in {settings.chroma_dir}"


class PassageStore:
    """Typed access to the two collections; opens the client on first use and re-opens it after a failure."""

    def __init__(self, settings: ArchiveSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._handles: tuple[Any, Any] | None = None
        self._client: Any = None
        self._read_only_copy: tempfile.TemporaryDirectory[str] | None = None

    @property
    def read_only(self) -> bool:
        """True when the embedded archive's files cannot be written (answers work; ingest does not)."""
        self._collections()
        return self._read_only_copy is not None

    def _writable(self) -> None:
        if self.read_only:
            raise ArchiveUnavailableError(
                f"{self.location} is read-only: answering works, but articles cannot be added or removed"
            )

    @property
    def location(self) -> str:
        return _where(self.settings)

    def _collections(self) -> tuple[Any, Any]:
        with self._lock:
            if self._handles is None:
                client, self._read_only_copy = _client(self.settings)
                self._client = client
                name = self.settings.collection
                try:
                    passages = _open_collection(client, name, {"hnsw:space": "cosine"})
                    ledger = _open_collection(client, f"{name}-articles", None)
                except Exception as exc:
                    raise ArchiveUnavailableError(f"{self.location} is unreachable: {exc}") from exc
                self._handles = (passages, ledger)
            return self._handles

    # --- the vector space ---------------------------------------------------------------------------------
    def vector_space(self) -> str | None:
        """The embedder the archive's vectors come from, as recorded in the passages collection (read afresh:
        another process may have re-embedded it). An archive from before the record holds MiniLM vectors
        if it holds any; an empty archive has none (None)."""

        def run() -> str | None:
            self._collections()
            fresh = self._client.get_collection(self.settings.collection, embedding_function=None)
            recorded = (fresh.metadata or {}).get(_VECTOR_SPACE)
            if recorded:
                return str(recorded)
            return LEGACY_VECTOR_SPACE if fresh.count() else None

        return self._call("collection metadata", run)

    def record_vector_space(self, model_id: str) -> None:
        """Record which embedder made the archive's vectors (`REEMBEDDING` + id while a migration runs)."""
        self._writable()
        self._call(
            "collection metadata",
            lambda: self._collections()[0].modify(metadata={_VECTOR_SPACE: model_id}),
        )

    def check_vector_space(self, model_id: str) -> None:
        """Raise `EmbedderMismatchError` unless the archive's vectors (if any) come from `model_id`."""
        recorded = self.vector_space()
        if recorded is None or recorded == model_id:
            return
        if recorded.startswith(REEMBEDDING):
            raise EmbedderMismatchError(
                f"the archive in {self.location} is half re-embedded (for {recorded[len(REEMBEDDING) :]}): "
                "run `python -m ingest --reembed` to finish it"
            )
        raise EmbedderMismatchError(
            f"the archive in {self.location} was embedded with {recorded}, but the assistant is set to "
            f"use {model_id}: their vectors cannot be compared. Run `python -m ingest --reembed` once to "
            "re-embed the archive (its articles and passages are kept), or set ASSISTANT_EMBEDDER to the "
            "embedder it was built with"
        )

    def update_vectors(self, ids: Sequence[str], embeddings: Any) -> None:
        """Replace the vectors of stored passages (a re-embedding); text and metadata are kept."""
        if ids:
            self._writable()
            self._call(
                "update",
                lambda: self._collections()[0].update(ids=list(ids), embeddings=embeddings),
            )

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one Chroma call; connection trouble becomes ArchiveUnavailableError and drops the handles
        so the next call reconnects (a restarted server is picked up without restarting the assistant).

        A read of the embedded store that fails inside Chroma is tried once more on a client opened
        afresh: another process (`python -m ingest` while the server runs) may have written segments this
        client's view predates ("Error creating hnsw segment reader: Nothing found on disk" after the
        first passages of an archive that was empty when the server opened it)."""
        try:
            return fn(*args, **kwargs)
        except ArchiveUnavailableError:
            raise
        except Exception as exc:
            if what in _READS and not self.settings.chroma_host and _is_chroma_internal(exc):
                self._reopen()
                return self._checked(what, fn, *args, **kwargs)
            self._raise_specific(what, exc)
            raise

    def _checked(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ArchiveUnavailableError:
            raise
        except Exception as exc:
            self._raise_specific(what, exc)
            raise

    def _reopen(self) -> None:
        """Drop the handles and Chroma's cached system of this archive, so the next call opens the archive as
        it is on disk. The old system is not stopped: another thread (an ingest) may be inside it, and
        stopping it under that thread hung it; it goes with its last user."""
        with self._lock:
            client, self._client, self._handles = self._client, None, None
        if client is not None:
            _forget_system(client)

    def _raise_specific(self, what: str, exc: Exception) -> None:
        """Raise the archive's own error for `exc` when it is one a user can act on; else return."""
        if self.settings.chroma_host and _looks_like_connection_error(exc):
            with self._lock:
                self._handles = None
            raise ArchiveUnavailableError(
                f"{self.location} is unreachable ({what}): {exc}. Is `chroma run` up?"
            ) from exc
        cannot = _cannot_write(exc)
        if cannot:
            raise ArchiveWriteError(
                f"{self.location} cannot be written ({what}): {cannot}. The articles stored before are "
                "kept; free some space (or make the folder writable) and run the same ingest again to "
                "complete it"
            ) from exc

    # --- passages -------------------------------------------------------------------------------------------
    def count(self) -> int:
        return int(self._call("count", lambda: self._collections()[0].count()))

    def upsert_passages(
        self,
        ids: Sequence[str],
        embeddings: Any,
        documents: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        if not ids:
            return
        self._writable()

        def run() -> None:
            passages = self._collections()[0]
            for start in range(0, len(ids), _PAGE):
                end = start + _PAGE
                passages.upsert(
                    ids=list(ids[start:end]),
                    embeddings=embeddings[start:end],
                    documents=list(documents[start:end]),
                    metadatas=list(metadatas[start:end]),
                )

        self._call("upsert", run)

    def passage_ids(self, article_id: str) -> list[str]:
        def run() -> list[str]:
            got = self._collections()[0].get(where={"article_id": article_id}, include=[])
            return list(got["ids"])

        return list(self._call("get", run))

    def passage_ids_by_article(self, article_ids: Sequence[str]) -> dict[str, list[str]]:
        """The stored passage ids of several articles, in one query per page of articles."""
        out: dict[str, list[str]] = {aid: [] for aid in article_ids}
        unique = list(out)

        def run(chunk: list[str]) -> list[str]:
            got = self._collections()[0].get(where={"article_id": {"$in": chunk}}, include=["metadatas"])
            for pid, meta in zip(got["ids"], got["metadatas"], strict=True):
                out.setdefault(str((meta or {}).get("article_id", "")), []).append(pid)
            return list(got["ids"])

        for start in range(0, len(unique), _PAGE):
            self._call("get", lambda c=unique[start : start + _PAGE]: run(c))
        return out

    def delete_passages(self, ids: Sequence[str]) -> None:
        if ids:
            self._writable()
            self._call("delete", lambda: self._collections()[0].delete(ids=list(ids)))

    def get_passages(self, ids: Sequence[str]) -> list[StoredPassage]:
        if not ids:
            return []

        def run() -> list[StoredPassage]:
            got = self._collections()[0].get(ids=list(ids), include=["documents", "metadatas"])
            by_id = {
                pid: StoredPassage(pid, doc or "", dict(meta or {}))
                for pid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
            }
            return [by_id[i] for i in ids if i in by_id]

        return list(self._call("get", run))

    def iter_passages(self) -> Iterator[StoredPassage]:
        """Every stored passage, page by page (for building the lexical index)."""
        offset = 0
        while True:
            got = self._call(
                "get",
                lambda o=offset: self._collections()[0].get(
                    limit=_PAGE, offset=o, include=["documents", "metadatas"]
                ),
            )
            if not got["ids"]:
                return
            for pid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
                yield StoredPassage(pid, doc or "", dict(meta or {}))
            offset += len(got["ids"])

    def query(
        self, embedding: Sequence[float], n: int, within: PassageFilter | None = None
    ) -> list[tuple[StoredPassage, float]]:
        """Nearest passages (among those `within` admits) with their cosine similarity, best first.

        A filtered HNSW search can return fewer passages than asked although more match the filter (the
        graph walk misses them, e.g. when many near-identical vectors crowd it); then the filtered set is
        searched exactly, when it is at most `_EXACT_SEARCH_LIMIT` passages."""
        where = within._where() if within is not None else None
        hits = self._approximate_query(embedding, n, where)
        if where is not None and len(hits) < n:
            exact = self._exact_query(embedding, n, where)
            if exact is not None and len(exact) > len(hits):
                return exact
        return hits

    def _exact_query(
        self, embedding: Sequence[float], n: int, where: dict[str, Any]
    ) -> list[tuple[StoredPassage, float]] | None:
        """Brute-force cosine search over the passages matching `where`; None when there are too many."""
        import numpy as np

        def run() -> list[tuple[StoredPassage, float]] | None:
            passages = self._collections()[0]
            ids = passages.get(where=where, include=[], limit=_EXACT_SEARCH_LIMIT + 1)["ids"]
            if len(ids) > _EXACT_SEARCH_LIMIT:
                return None
            query = np.asarray(embedding, dtype=np.float32)
            query /= float(np.linalg.norm(query)) or 1.0
            scored: list[tuple[StoredPassage, float]] = []
            for start in range(0, len(ids), _PAGE):
                got = passages.get(
                    ids=list(ids[start : start + _PAGE]), include=["embeddings", "documents", "metadatas"]
                )
                vectors = np.asarray(got["embeddings"], dtype=np.float32).reshape(len(got["ids"]), -1)
                norms = np.linalg.norm(vectors, axis=1)
                sims = vectors @ query / np.where(norms == 0, 1.0, norms)
                for pid, doc, meta, sim in zip(
                    got["ids"], got["documents"], got["metadatas"], sims, strict=True
                ):
                    scored.append((StoredPassage(pid, doc or "", dict(meta or {})), float(sim)))
                scored = sorted(scored, key=lambda hit: hit[1], reverse=True)[:n]
            return scored

        result = self._call("exact query", run)
        return None if result is None else list(result)

    def _approximate_query(
        self, embedding: Sequence[float], n: int, where: dict[str, Any] | None
    ) -> list[tuple[StoredPassage, float]]:

        def run() -> list[tuple[StoredPassage, float]]:
            got = self._collections()[0].query(
                query_embeddings=[list(map(float, embedding))],
                n_results=n,
                where=where,
                include=["documents", "metadatas", "distances"],
            )
            rows = zip(
                got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0], strict=True
            )
            return [
                (StoredPassage(pid, doc or "", dict(meta or {})), 1.0 - float(d))
                for pid, doc, meta, d in rows
            ]

        return list(self._call("query", run))

    # --- the article ledger ---------------------------------------------------------------------------------
    def articles(self, ids: Sequence[str] | None = None) -> dict[str, ArticleRecord]:
        def run() -> dict[str, ArticleRecord]:
            ledger = self._collections()[1]
            out: dict[str, ArticleRecord] = {}
            if ids is not None:
                for start in range(0, len(ids), _PAGE):
                    got = ledger.get(ids=list(ids[start : start + _PAGE]), include=["metadatas"])
                    for aid, meta in zip(got["ids"], got["metadatas"], strict=True):
                        out[aid] = ArticleRecord.from_metadata(aid, dict(meta or {}))
                return out
            offset = 0
            while True:
                got = ledger.get(limit=_PAGE, offset=offset, include=["metadatas"])
                if not got["ids"]:
                    return out
                for aid, meta in zip(got["ids"], got["metadatas"], strict=True):
                    out[aid] = ArticleRecord.from_metadata(aid, dict(meta or {}))
                offset += len(got["ids"])

        return dict(self._call("ledger get", run))

    def articles_matching(
        self, ids: Sequence[str], content_hashes: Sequence[str], copy_keys: Sequence[str] = ()
    ) -> dict[str, ArticleRecord]:
        """The ledger entries with one of `ids`, one of `content_hashes` or one of `copy_keys` (as text, URL
        or GUID key): all an ingest run needs to plan its articles (unless it prunes), read by id, hash and
        key instead of reading the whole ledger."""
        out = self.articles(list(dict.fromkeys(ids))) if ids else {}

        def run(where: dict[str, Any]) -> None:
            got = self._collections()[1].get(where=where, include=["metadatas"])
            for aid, meta in zip(got["ids"], got["metadatas"], strict=True):
                out[aid] = ArticleRecord.from_metadata(aid, dict(meta or {}))

        hashes = list(dict.fromkeys(content_hashes))
        for start in range(0, len(hashes), _PAGE):
            chunk = hashes[start : start + _PAGE]
            self._call("ledger get", lambda c=chunk: run({"content_hash": {"$in": c}}))
        keys = list(dict.fromkeys(k for k in copy_keys if k))
        for start in range(0, len(keys), _PAGE):
            chunk = keys[start : start + _PAGE]
            where = {"$or": [{name: {"$in": chunk}} for name in ("text_key", "url_key", "guid_key")]}
            self._call("ledger get", lambda w=where: run(w))
        return out

    def article_count(self) -> int:
        """Committed articles (one count query, not a read of the ledger)."""
        return int(self._call("ledger count", lambda: self._collections()[1].count()))

    def _published_ids(self, start: int, end: int, limit: int | None) -> list[str]:
        """Ids of committed articles published in [start, end) (at most `limit`; dated ones only)."""
        where = {"$and": [{"published_ts": {"$gte": max(start, 0)}}, {"published_ts": {"$lt": end}}]}
        got = self._call(
            "ledger get",
            lambda: self._collections()[1].get(where=where, limit=limit, include=[]),
        )
        return list(got["ids"])

    def published_between(self, start: int, end: int) -> bool:
        """Whether some committed article was published in [start, end) (epoch seconds): one small query."""
        return bool(self._published_ids(start, end, 1))

    def date_span(self) -> tuple[int, int] | None:
        """Epoch seconds of the oldest and the newest publication time of the committed articles (None when
        none is dated): a bisection of small filtered queries, never a read of the ledger."""
        top = 2**36
        if not self.published_between(0, top):
            return None
        lo, hi = 0, top  # the newest: the largest t with an article in [t, top)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if self.published_between(mid, top) else (lo, mid)
        newest = lo
        lo, hi = 0, newest + 1  # the oldest: the smallest t with an article in [0, t + 1)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if self.published_between(0, mid) else (mid, hi)
        return lo, newest

    def newest_articles(self, limit: int, start: int = 0, end: int = 2**36) -> list[ArticleRecord]:
        """The `limit` most recently published committed articles in [start, end), newest first: windows
        back from the newest date, doubling until they hold enough."""
        span = self.date_span()
        if span is None or limit < 1:
            return []
        oldest, newest = max(span[0], start), min(span[1] + 1, end)
        if newest <= oldest:
            return []
        width = 86_400
        while True:
            lo = max(oldest, newest - width)
            ids = self._published_ids(lo, newest, None)
            if len(ids) >= limit or lo == oldest:
                break
            width *= 4
        records = sorted(self.articles(ids).values(), key=lambda r: r.published_ts, reverse=True)
        return records[:limit]

    def commit_articles(self, records: Sequence[ArticleRecord]) -> None:
        """Write ledger entries (the commit point), one Chroma call per page: a page commits whole or not
        at all, so a killed run never leaves a half-written entry."""
        self._writable()
        for start in range(0, len(records), _PAGE):
            page = records[start : start + _PAGE]
            self._call(
                "ledger upsert",
                lambda p=page: self._collections()[1].upsert(
                    ids=[r.article_id for r in p],
                    embeddings=[[0.0]] * len(p),
                    documents=[r.title for r in p],
                    metadatas=[r.to_metadata() for r in p],
                ),
            )

    def rehome(self, records: Sequence[ArticleRecord]) -> None:
        """Rewrite the origin and the other places (`also_in`) of committed articles: their passages'
        metadata first, then their ledger entries. Text, vectors and content hashes stay as they are."""
        self._writable()
        for record in records:
            ids = self.passage_ids(record.article_id)
            if ids:
                change = {"origin": record.origin, "also_in": encode_holders(record.also_in)}
                self._call(
                    "update",
                    lambda i=ids, c=change: self._collections()[0].update(ids=i, metadatas=[c] * len(i)),
                )
        self.commit_articles(records)

    def forget_article(self, article_id: str) -> None:
        """Remove an article: ledger entry first (it stops being served), then its passages."""
        self._writable()
        self._call("ledger delete", lambda: self._collections()[1].delete(ids=[article_id]))
        self.delete_passages(self.passage_ids(article_id))


def _open_collection(client: Any, name: str, metadata: dict[str, Any] | None) -> Any:
    """An existing collection is opened without writing (so a read-only archive answers questions);
    a missing one is created."""
    from chromadb.errors import NotFoundError

    try:
        return client.get_collection(name, embedding_function=None)
    except (NotFoundError, ValueError):
        return client.create_collection(name, embedding_function=None, metadata=metadata, get_or_create=True)


def _cannot_write(exc: BaseException) -> str:
    """What stops Chroma writing, when its error says so (SQLite's codes 13 and 8 in its message; an
    OSError's errno), else ""."""
    import errno

    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full"
    if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return "the folder is read-only"
    text = str(exc).lower()
    if "disk is full" in text or "no space left" in text or "(code: 13)" in text:
        return "the disk is full"
    if "readonly database" in text or "read-only file system" in text or "(code: 8)" in text:
        return "the folder is read-only"
    return ""


_READS = frozenset(
    {"count", "get", "query", "exact query", "ledger get", "ledger count", "collection metadata"}
)


def _forget_system(client: Any) -> None:
    """Make the next client of `client`'s path open a system of its own. Chroma keeps one system per path
    for the whole process and offers no call to refresh it short of stopping it (`close()`), so its cache
    entry is dropped instead."""
    from chromadb.api.shared_system_client import SharedSystemClient

    identifier = getattr(client, "_identifier", None)
    if identifier:
        SharedSystemClient._identifier_to_system.pop(identifier, None)
        SharedSystemClient._identifier_to_refcount.pop(identifier, None)


def _is_chroma_internal(exc: BaseException) -> bool:
    """Whether `exc` is Chroma's InternalError (its Rust executor failing a plan), by type."""
    from chromadb.errors import InternalError

    return isinstance(exc, InternalError)


def _looks_like_connection_error(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is a failure to reach the server, by type: httpx's transport
    errors (the Chroma client speaks httpx), the OS's connection errors and timeouts."""
    import httpx

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (httpx.TransportError, ConnectionError, TimeoutError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False

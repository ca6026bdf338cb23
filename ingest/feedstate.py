"""What the archive remembers about feeds and pages, in SQLite (`<state dir>/feeds.sqlite3`).

- `sources`: one row per feed or page URL: its kind and title, the validators of its last complete fetch
  (ETag, Last-Modified) for conditional GETs, when it was last tried and last synced, its status and last
  error, and whether it is followed (polled by the server; the UI adds and removes those).
- `items`: one row per stored item of a source: its key, its article id, the fingerprint of the version
  stored, and whether the feed still listed it at its last fetch (`present`; `--prune` forgets the rest).

Each update is one SQLite transaction, so the file is never half-written. A sync writes here only after
the archive committed the articles, so a crash in between costs a refetch, never a lost item.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FeedState", "ItemRecord", "SourceRecord"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    url TEXT PRIMARY KEY,
    kind TEXT NOT NULL DEFAULT '',
    title TEXT NOT NULL DEFAULT '',
    etag TEXT,
    last_modified TEXT,
    last_attempt TEXT NOT NULL DEFAULT '',
    last_sync TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'new',
    error TEXT NOT NULL DEFAULT '',
    followed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS items (
    source_url TEXT NOT NULL,
    key TEXT NOT NULL,
    article_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    present INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (source_url, key)
);
"""


@dataclass(frozen=True)
class SourceRecord:
    url: str
    kind: str  # "feed", "page" or "" (never fetched)
    title: str
    etag: str | None
    last_modified: str | None
    last_attempt: str  # ISO 8601 UTC, "" never
    last_sync: str  # ISO 8601 UTC of the last fetch that succeeded, "" never
    status: str  # "new", "ok", "not modified", "failed"
    error: str
    followed: bool
    articles: int  # items stored


@dataclass(frozen=True)
class ItemRecord:
    key: str
    article_id: str
    fingerprint: str
    present: bool


class FeedState:
    """The feeds' state file. Every method opens its own connection, so it may be used from any thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=30)) as db, db:  # `with db`: one transaction
            yield db

    # --- reading ---------------------------------------------------------------------------------------
    def sources(self, urls: Iterable[str] | None = None) -> dict[str, SourceRecord]:
        query = (
            "SELECT s.url, kind, title, etag, last_modified, last_attempt, last_sync, status, error, "
            "followed, "
            "(SELECT COUNT(*) FROM items i WHERE i.source_url = s.url) FROM sources s"
        )
        with self._db() as db:
            rows = db.execute(query + " ORDER BY s.url").fetchall()
        wanted = None if urls is None else set(urls)
        return {
            row[0]: SourceRecord(
                url=row[0],
                kind=row[1],
                title=row[2],
                etag=row[3],
                last_modified=row[4],
                last_attempt=row[5],
                last_sync=row[6],
                status=row[7],
                error=row[8],
                followed=bool(row[9]),
                articles=int(row[10]),
            )
            for row in rows
            if wanted is None or row[0] in wanted
        }

    def items(self, url: str) -> dict[str, ItemRecord]:
        with self._db() as db:
            rows = db.execute(
                "SELECT key, article_id, fingerprint, present FROM items WHERE source_url = ?", (url,)
            ).fetchall()
        return {key: ItemRecord(key, aid, fp, bool(present)) for key, aid, fp, present in rows}

    def followed(self) -> list[str]:
        with self._db() as db:
            return [row[0] for row in db.execute("SELECT url FROM sources WHERE followed ORDER BY url")]

    # --- writing ---------------------------------------------------------------------------------------
    def follow(self, url: str, followed: bool = True) -> None:
        with self._db() as db:
            db.execute("INSERT OR IGNORE INTO sources (url) VALUES (?)", (url,))
            db.execute("UPDATE sources SET followed = ? WHERE url = ?", (int(followed), url))

    def forget(self, url: str) -> None:
        """Drop a source and its item rows (the archive's articles stay)."""
        with self._db() as db:
            db.execute("DELETE FROM items WHERE source_url = ?", (url,))
            db.execute("DELETE FROM sources WHERE url = ?", (url,))

    def record_failure(self, url: str, error: str, when: str) -> None:
        with self._db() as db:
            db.execute("INSERT OR IGNORE INTO sources (url) VALUES (?)", (url,))
            db.execute(
                "UPDATE sources SET last_attempt = ?, status = 'failed', error = ? WHERE url = ?",
                (when, error, url),
            )

    def record_not_modified(self, urls: Iterable[str], when: str) -> None:
        with self._db() as db:
            db.executemany(
                "UPDATE sources SET last_attempt = ?, last_sync = ?, status = 'not modified', error = '' "
                "WHERE url = ?",
                [(when, when, url) for url in urls],
            )

    def record_fetch(
        self,
        url: str,
        *,
        kind: str,
        title: str,
        validators: tuple[str | None, str | None],
        stored: Iterable[ItemRecord],
        listed: set[str],
        when: str,
        error: str = "",
    ) -> None:
        """A complete fetch: the source's row, the items stored this time, and which keys the source still
        lists. `validators` (ETag, Last-Modified) are kept for the next conditional GET; pass (None, None)
        when some item failed, so the next poll fetches the source again."""
        etag, last_modified = validators
        with self._db() as db:
            db.execute("INSERT OR IGNORE INTO sources (url) VALUES (?)", (url,))
            db.execute(
                "UPDATE sources SET kind = ?, title = ?, etag = ?, last_modified = ?, last_attempt = ?, "
                "last_sync = ?, status = ?, error = ? WHERE url = ?",
                (kind, title, etag, last_modified, when, when, "failed" if error else "ok", error, url),
            )
            db.executemany(
                "INSERT OR REPLACE INTO items (source_url, key, article_id, fingerprint, present) "
                "VALUES (?, ?, ?, ?, 1)",
                [(url, item.key, item.article_id, item.fingerprint) for item in stored],
            )
            keys = [row[0] for row in db.execute("SELECT key FROM items WHERE source_url = ?", (url,))]
            db.executemany(
                "UPDATE items SET present = ? WHERE source_url = ? AND key = ?",
                [(int(key in listed), url, key) for key in keys],
            )

    def drop_items(self, url: str, keys: Iterable[str]) -> None:
        with self._db() as db:
            db.executemany("DELETE FROM items WHERE source_url = ? AND key = ?", [(url, key) for key in keys])

"""Conversations that last: every question and its answer, and the readers' feedback, in SQLite.

One file in the data dir (`conversations.sqlite3`), written in WAL mode with full synchronisation, so a
process killed mid-write leaves the last committed turn intact and never a half-written one. Each
conversation belongs to an owner (the signed-in user; "" without login, or the API's `user` field), and
every read and write names the owner: nobody sees or changes another owner's conversations.

A turn keeps the question, the conversation before it (as the callers pass it: the turns the engine
read, `engine.history_used`, so a client sending megabytes of history stores kilobytes), the answer as
`Answer.to_dict()` (text, citations, timings, backend, notes) and the settings that shaped it; feedback
(+1 / -1 and a comment) is kept beside the turn it judges, and `feedback()` lists it for the evals
(`python -m evals feedback export`).

Errors: `ConversationNotFoundError` when the owner has no such conversation or answer,
`ConversationStoreError` when the file cannot be used at all (damaged, read-only, disk full): the API
answers the first 404 and the second 503. Text that cannot be stored as UTF-8 (lone surrogates) is kept
with "?" in their place, never refused with a crash after the answer was computed.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConversationError, ConversationNotFoundError, ConversationStoreError
from .types import Answer

FILE_NAME = "conversations.sqlite3"
TITLE_CHARS = 80

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    title TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_by_owner ON conversations (owner, updated DESC);
CREATE TABLE IF NOT EXISTS turns (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    asked REAL NOT NULL,
    question TEXT NOT NULL,
    history TEXT NOT NULL,
    answer TEXT NOT NULL,
    settings TEXT NOT NULL,
    UNIQUE (conversation_id, position)
);
CREATE TABLE IF NOT EXISTS feedback (
    turn_id TEXT PRIMARY KEY REFERENCES turns (id) ON DELETE CASCADE,
    rating INTEGER NOT NULL CHECK (rating IN (-1, 1)),
    comment TEXT NOT NULL,
    given REAL NOT NULL
);
"""


__all__ = [
    "ConversationError",
    "ConversationNotFoundError",
    "ConversationStore",
    "ConversationStoreError",
    "ConversationSummary",
    "Turn",
]


def _utf8(text: str) -> str:
    """`text` as SQLite can store it: lone surrogates (undecodable input) become "?"."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _json(value: Any) -> str:
    return _utf8(json.dumps(value, ensure_ascii=False, default=str))


@dataclass(frozen=True)
class ConversationSummary:
    """A conversation in a list: its id, title (its first question), last change and number of turns."""

    id: str
    title: str
    updated: float
    turns: int


@dataclass(frozen=True)
class Turn:
    """One question of a conversation and the answer it got (as `Answer.to_dict()`)."""

    id: str
    conversation_id: str
    position: int
    asked: float
    question: str
    history: tuple[dict[str, str], ...]
    answer: dict[str, Any]
    settings: dict[str, Any]
    rating: int | None = None
    comment: str = ""


class ConversationStore:
    """The conversations of one data dir. Safe to share between threads (one connection per call)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()  # one writer at a time within the process (SQLite serialises the rest)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConversationStoreError(f"the conversation store {path} cannot be opened: {exc}") from exc

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> ConversationStore:
        return cls(data_dir / FILE_NAME)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One connection and one transaction: committed on success, rolled back on any error. SQLite's
        own errors (a damaged file, a read-only folder, a full disk) become `ConversationStoreError`."""
        try:
            db = sqlite3.connect(self.path, timeout=30)
        except sqlite3.Error as exc:
            raise ConversationStoreError(
                f"the conversation store {self.path} cannot be opened: {exc}"
            ) from exc
        try:
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA synchronous=FULL")
            with db:
                yield db
        except sqlite3.Error as exc:
            raise ConversationStoreError(f"the conversation store {self.path} cannot be used: {exc}") from exc
        finally:
            db.close()

    # --- writing ------------------------------------------------------------------------------------
    def add_turn(
        self,
        owner: str,
        conversation_id: str | None,
        question: str,
        history: Sequence[Mapping[str, Any]],
        answer: Answer,
        settings: Mapping[str, Any] | None = None,
    ) -> Turn:
        """Store `question` and its `answer` as the next turn of the conversation (a new one when
        `conversation_id` is None or not yet stored: an API client may choose its own ids)."""
        now = time.time()
        owner, question = _utf8(owner), _utf8(question)
        conversation_id = _utf8(conversation_id or uuid.uuid4().hex)
        turn_id = uuid.uuid4().hex
        kept_history = tuple(
            {"role": _utf8(str(m.get("role", ""))), "content": _utf8(str(m.get("content") or ""))}
            for m in history
            if isinstance(m, Mapping)
        )
        with self._lock, self._connect() as db:
            row = db.execute("SELECT owner FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            if row is None:
                title = " ".join(question.split())[:TITLE_CHARS] or "(empty question)"
                db.execute(
                    "INSERT INTO conversations (id, owner, title, created, updated) VALUES (?, ?, ?, ?, ?)",
                    (conversation_id, owner, title, now, now),
                )
            elif row[0] != owner:
                raise ConversationNotFoundError(f"no conversation {conversation_id!r} of this user")
            else:
                db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
            (position,) = db.execute(
                "SELECT COALESCE(MAX(position) + 1, 0) FROM turns WHERE conversation_id = ?",
                (conversation_id,),
            ).fetchone()
            db.execute(
                "INSERT INTO turns (id, conversation_id, position, asked, question, history, answer, "
                "settings) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    turn_id,
                    conversation_id,
                    position,
                    now,
                    question,
                    _json(kept_history),
                    _json(answer.to_dict()),
                    _json(dict(settings or {})),
                ),
            )
        return Turn(
            turn_id,
            conversation_id,
            position,
            now,
            question,
            kept_history,
            answer.to_dict(),
            dict(settings or {}),
        )

    def rate(self, owner: str, turn_id: str, rating: int, comment: str = "") -> None:
        """Keep the owner's judgement of one answer (+1 or -1, and an optional comment); a second
        judgement of the same answer replaces the first."""
        if rating not in (-1, 1):
            raise ConversationError(f"a rating is 1 or -1 (got {rating!r})")
        owner, turn_id, comment = _utf8(owner), _utf8(turn_id), _utf8(comment)
        with self._lock, self._connect() as db:
            found = db.execute(
                "SELECT 1 FROM turns JOIN conversations c ON c.id = turns.conversation_id "
                "WHERE turns.id = ? AND c.owner = ?",
                (turn_id, owner),
            ).fetchone()
            if found is None:
                raise ConversationNotFoundError(f"no answer {turn_id!r} of this user")
            db.execute(
                "INSERT INTO feedback (turn_id, rating, comment, given) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (turn_id) DO UPDATE SET rating = excluded.rating, comment = excluded.comment, "
                "given = excluded.given",
                (turn_id, rating, comment.strip()[:2000], time.time()),
            )

    def unrate(self, owner: str, turn_id: str) -> None:
        """Withdraw the owner's judgement of one answer (a thumb clicked off again); none kept is fine."""
        owner, turn_id = _utf8(owner), _utf8(turn_id)
        with self._lock, self._connect() as db:
            db.execute(
                "DELETE FROM feedback WHERE turn_id = (SELECT turns.id FROM turns JOIN conversations c "
                "ON c.id = turns.conversation_id WHERE turns.id = ? AND c.owner = ?)",
                (turn_id, owner),
            )

    def delete(self, owner: str, conversation_id: str) -> None:
        """Forget a conversation, its turns and their feedback."""
        owner, conversation_id = _utf8(owner), _utf8(conversation_id)
        with self._lock, self._connect() as db:
            gone = db.execute(
                "DELETE FROM conversations WHERE id = ? AND owner = ?", (conversation_id, owner)
            ).rowcount
        if not gone:
            raise ConversationNotFoundError(f"no conversation {conversation_id!r} of this user")

    # --- reading ------------------------------------------------------------------------------------
    def conversations(self, owner: str, limit: int = 100) -> list[ConversationSummary]:
        """The owner's conversations, the most recently continued first."""
        owner = _utf8(owner)
        with self._connect() as db:
            rows = db.execute(
                "SELECT c.id, c.title, c.updated, COUNT(t.id) FROM conversations c "
                "LEFT JOIN turns t ON t.conversation_id = c.id WHERE c.owner = ? "
                "GROUP BY c.id ORDER BY c.updated DESC, c.rowid DESC LIMIT ?",
                (owner, limit),
            ).fetchall()
        return [ConversationSummary(*row) for row in rows]

    def turns(self, owner: str, conversation_id: str) -> list[Turn]:
        """The turns of one of the owner's conversations, in order, with their feedback."""
        owner, conversation_id = _utf8(owner), _utf8(conversation_id)
        with self._connect() as db:
            owned = db.execute(
                "SELECT 1 FROM conversations WHERE id = ? AND owner = ?", (conversation_id, owner)
            ).fetchone()
            if owned is None:
                raise ConversationNotFoundError(f"no conversation {conversation_id!r} of this user")
            rows = db.execute(
                f"{_TURNS} WHERE t.conversation_id = ? ORDER BY t.position", (conversation_id,)
            ).fetchall()
        return [_turn(row) for row in rows]

    def feedback(self) -> list[Turn]:
        """Every judged answer of every owner, oldest first: what the evals export."""
        with self._connect() as db:
            rows = db.execute(f"{_TURNS} WHERE f.rating IS NOT NULL ORDER BY f.given").fetchall()
        return [_turn(row) for row in rows]


_TURNS = (
    "SELECT t.id, t.conversation_id, t.position, t.asked, t.question, t.history, t.answer, t.settings, "
    "f.rating, f.comment FROM turns t LEFT JOIN feedback f ON f.turn_id = t.id"
)


def _turn(row: Sequence[Any]) -> Turn:
    return Turn(
        id=row[0],
        conversation_id=row[1],
        position=row[2],
        asked=row[3],
        question=row[4],
        history=tuple(json.loads(row[5])),
        answer=json.loads(row[6]),
        settings=json.loads(row[7]),
        rating=row[8],
        comment=row[9] or "",
    )

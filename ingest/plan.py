"""What one ingest run writes, skips and forgets, decided from the articles read and the article ledger.

- An article whose id is committed with the same content hash is unchanged; committed with another hash,
  changed (its passages are replaced); otherwise new. Two articles of one run with one id (only possible
  by a hash collision or two file names escaped alike): the first is kept, the other reported.
- A new or changed article whose text is committed under another origin, or was read earlier in this run,
  is a duplicate and skipped; a changed one's old version is forgotten (no file holds that text any
  more). Committed records this run replaces, retires or prunes are not counted as originals.
- An article whose passages are mostly copies of each other is refused (`Split.repetition_problem`).
- Archives ingested before origins became absolute paths hold `<folder name>/<relative path>` origins.
  Such a record belongs to the article whose earlier origin it names: with the same text it stays as it
  is (unchanged: nothing re-embedded, nothing duplicated); otherwise it is retired once the article's
  current version is written. Of two files that shared an earlier origin, the one whose text the record
  holds keeps it.
- Pruning forgets committed articles under the scanned roots whose file is gone, or was read whole this
  time without them; an article of a file that failed to read is kept.

Nothing here touches the store, so every rule is testable without one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .articles import Article, article_id_of
from .passages import Passage, Split
from .readers import FoundFile, origin_prefixes
from .store import ArticleRecord


@dataclass(frozen=True)
class ReadArticle:
    """An article read in this run, with the origin the earlier ingest gave it."""

    article: Article
    legacy_origin: str

    @property
    def legacy_id(self) -> str:
        return article_id_of(self.legacy_origin)


@dataclass(frozen=True)
class Plan:
    """The outcome of classifying a run's articles."""

    write: list[tuple[Article, list[Passage]]]  # new and changed articles with their passages
    new: int
    changed: int
    unchanged: int
    duplicates: list[tuple[str, str]]  # (origin, origin it duplicates)
    failed: list[tuple[str, str]]  # (origin, reason)
    retire: list[str]  # ledger ids to forget once the writes are committed


def make_plan(
    read: list[ReadArticle],
    ledger: dict[str, ArticleRecord],
    pruned: set[str],
    split: Callable[[Article], Split],
) -> Plan:
    """Classify the articles read against the ledger (see the module docstring); `pruned` are the ledger
    ids this run prunes, `split` is only called for the articles to write."""
    unique, duplicates, failed = _one_per_id(read)
    earlier = {aid: _earlier_record(item, ledger) for aid, item in unique.items()}
    claimed: dict[str, str] = {}  # earlier record id -> id of the article it stays for
    for aid, item in unique.items():
        old = earlier[aid]
        if aid not in ledger and old is not None and old.content_hash == item.article.content_hash:
            claimed.setdefault(old.article_id, aid)
    stale = {  # article id -> its record under the earlier origin, superseded
        aid: old.article_id
        for aid, old in earlier.items()
        if old is not None and old.article_id not in claimed
    }

    unchanged = 0
    candidates: list[tuple[Article, bool]] = []  # (article, whether a version of it is committed)
    for aid, item in unique.items():
        record, old = ledger.get(aid), earlier[aid]
        committed_as_is = record is not None and record.content_hash == item.article.content_hash
        kept_earlier = old is not None and claimed.get(old.article_id) == aid
        if committed_as_is or kept_earlier:
            unchanged += 1
        else:
            candidates.append((item.article, record is not None or aid in stale))

    replaced = {a.article_id for a, _ in candidates if a.article_id in ledger}
    excluded = pruned | replaced | set(stale.values())
    originals = {r.content_hash: r.origin for r in ledger.values() if r.article_id not in excluded}
    write: list[tuple[Article, list[Passage]]] = []
    retire: dict[str, None] = {}  # ordered set
    refused: set[str] = set()
    new = changed = 0
    for article, committed in candidates:
        original = originals.get(article.content_hash)
        if original is not None and original != article.origin:
            duplicates.append((article.origin, original))
            if article.article_id in ledger:
                retire[article.article_id] = None
            continue
        parts = split(article)
        problem = parts.repetition_problem
        if problem is not None:
            failed.append((article.origin, problem))
            refused.add(article.article_id)
            continue
        originals[article.content_hash] = article.origin
        write.append((article, parts.passages))
        changed += committed
        new += not committed
    for aid, old_id in stale.items():
        if aid not in refused:  # a refused article keeps what it had
            retire[old_id] = None
    return Plan(write, new, changed, unchanged, duplicates, failed, list(retire))


def _one_per_id(
    read: list[ReadArticle],
) -> tuple[dict[str, ReadArticle], list[tuple[str, str]], list[tuple[str, str]]]:
    """The first article read of each id, and the others as duplicates (same text) or failures."""
    unique: dict[str, ReadArticle] = {}
    duplicates: list[tuple[str, str]] = []
    failed: list[tuple[str, str]] = []
    for item in read:
        article = item.article
        first = unique.get(article.article_id)
        if first is None:
            unique[article.article_id] = item
        elif first.article.content_hash == article.content_hash:
            duplicates.append((article.origin, first.article.origin))
        else:
            failed.append(
                (article.origin, f"its id {article.article_id} is that of {first.article.origin}; skipped")
            )
    return unique, duplicates, failed


def _earlier_record(item: ReadArticle, ledger: dict[str, ArticleRecord]) -> ArticleRecord | None:
    """The article's record under the origin the earlier ingest gave it, if the ledger holds one."""
    if item.legacy_id == item.article.article_id:
        return None
    record = ledger.get(item.legacy_id)
    return record if record is not None and record.origin == item.legacy_origin else None


def pruned(
    ledger: dict[str, ArticleRecord],
    files: list[FoundFile],
    read_whole: set[str],
    roots: Iterable[Path],
    seen: set[str],
) -> set[str]:
    """Ledger ids of the articles under `roots` whose file is gone, or was read whole (its origin in
    `read_whole`) without them; `seen` are the ids this run read (current and earlier ones)."""
    prefixes = [origin_prefixes(root) for root in roots]
    current = (
        [now for now, _ in prefixes],
        {f.origin for f in files},
        {f.origin for f in files if f.origin in read_whole},
    )
    earlier = (
        [old for _, old in prefixes],
        {f.legacy_origin for f in files},
        {f.legacy_origin for f in files if f.origin in read_whole},
    )
    out: set[str] = set()
    for record in ledger.values():
        if record.article_id in seen:
            continue
        under, found, whole = current if Path(record.origin).is_absolute() else earlier
        file = _file_of(record.origin, found)
        if not any(_is_under(file, prefix) for prefix in under):
            continue
        if file in found and file not in whole:
            continue  # its file failed to read (or in part): keep what it had
        out.add(record.article_id)
    return out


def _file_of(origin: str, found: set[str]) -> str:
    """The file part of an origin (`<file>` or `<file>#<position>`; file names may hold '#' too)."""
    if origin in found:
        return origin
    for at, char in enumerate(origin):
        if char == "#" and origin[:at] in found:
            return origin[:at]
    return origin  # its file is gone: the origin still starts with the folder it was in


def _is_under(file: str, prefix: str) -> bool:
    """A folder prefix ends with '/'; a file prefix names the file itself."""
    return file.startswith(prefix) if prefix.endswith("/") else file == prefix

"""What one ingest run writes, skips and forgets, decided from the articles read and the article ledger.

- An article whose id is committed with the same content hash is unchanged; committed with another hash,
  changed (its passages are replaced); otherwise new. Two articles of one run with one id (only possible
  by a hash collision or two file names escaped alike): the first is kept, the other reported.
- One copy of each article. A new article is a copy when a committed article (or one read earlier in this
  run) has its content hash, its normalised text, its canonical URL and title, or its GUID and title
  (`Article.copy_keys`): the same item in two feeds, a feed item and a file, two URLs redirecting to one
  page. A changed article is a copy only by its text (its own URL and GUID are those of its record). A copy
  is not stored again: its origin is recorded beside the article it copies (`also_in`, shown in citations
  as "also in ..."), and a changed article that became a copy lets go of its old version.
- An article is held by its origin and the places in its `also_in`. Letting go of one (a pruned file, an
  item that left its feed, a file edited into a copy of another) removes it from the list; the article is
  forgotten only when nothing holds it any more. When its origin lets go first, the next holder becomes
  its origin (its id and text stay). Committed records this run replaces or forgets are not originals.
- An article whose passages are mostly copies of each other is refused (`Split.repetition_problem`).
- Archives ingested before origins became absolute paths hold `<folder name>/<relative path>` origins.
  Such a record belongs to the article whose earlier origin it names: with the same text it stays as it
  is (unchanged: nothing re-embedded, nothing duplicated); otherwise it is retired once the article's
  current version is written. Of two files that shared an earlier origin, the one whose text the record
  holds keeps it.
- Pruning lets go of the files under the scanned roots that are gone, or were read whole this time
  without the article; an article of a file that failed to read is kept.

Nothing here touches the store, so every rule is testable without one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from .articles import Article, Holder, article_id_of
from .passages import Passage, Split
from .readers import FoundFile, origin_prefixes
from .store import ArticleRecord

Leaving = set[tuple[str, str]]  # (ledger id, origin that lets go of it)


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
    duplicates: list[tuple[str, str]]  # (origin, origin of the article it copies)
    failed: list[tuple[str, str]]  # (origin, reason)
    retire: list[str]  # ledger ids to forget once the writes are committed
    rehome: list[ArticleRecord]  # committed records whose holders changed (origin, also_in)
    held_by: dict[str, str]  # origin of each copy -> id of the article that holds it
    pruned: int  # of `retire`, the articles forgotten because what held them let go


def make_plan(
    read: list[ReadArticle],
    ledger: dict[str, ArticleRecord],
    leaving: Leaving,
    split: Callable[[Article], Split],
) -> Plan:
    """Classify the articles read against the ledger (see the module docstring); `leaving` are the
    (ledger id, origin) pairs this run lets go of, `split` is only called for the articles to write."""
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
    holders = _Holders(ledger)
    for aid, origin in leaving:
        holders.drop(aid, origin)
    let_go = {aid for aid, _ in leaving if aid in ledger and not holders.of(aid)}

    unchanged = 0
    candidates: list[tuple[Article, bool]] = []  # (article, whether a version of it is committed)
    for aid, item in unique.items():
        record, old = ledger.get(aid), earlier[aid]
        committed_as_is = record is not None and record.content_hash == item.article.content_hash
        kept_earlier = old is not None and claimed.get(old.article_id) == aid
        if committed_as_is or kept_earlier:
            unchanged += 1
            if record is not None and record.origin != item.article.origin:
                holders.add(aid, item.article.holder)  # an origin that had let go holds it again
        else:
            candidates.append((item.article, record is not None or aid in stale))

    replaced = {a.article_id for a, _ in candidates if a.article_id in ledger}
    excluded = let_go | replaced | set(stale.values())
    originals = _Originals(r for r in ledger.values() if r.article_id not in excluded)
    write: dict[str, tuple[Article, list[Passage]]] = {}
    held_by: dict[str, str] = {}
    refused: set[str] = set()
    new = changed = 0
    for article, committed in candidates:
        original = originals.find(article, text_only=article.article_id in ledger)
        if original is not None and original != article.article_id:
            held_by[article.origin] = original
            if holders.holds(original, article.origin):
                unchanged += 1  # a copy already recorded beside it
            else:
                duplicates.append((article.origin, originals.origin[original]))
                holders.add(original, article.holder)
            if article.article_id in ledger:
                holders.drop(article.article_id, article.origin)  # its old version: no longer here
            continue
        parts = split(article)
        problem = parts.repetition_problem
        if problem is not None:
            failed.append((article.origin, problem))
            refused.add(article.article_id)
            continue
        originals.add(article)
        write[article.article_id] = (article, parts.passages)
        changed += committed
        new += not committed
    retire: dict[str, None] = {}  # ordered set
    for aid, old_id in stale.items():
        if aid not in refused:  # a refused article keeps what it had
            retire[old_id] = None
    rehome = []
    for aid in dict.fromkeys([*write, *holders.touched()]):  # a rewritten article keeps its holders
        now = holders.of(aid)
        if aid in write:
            article, passages = write[aid]
            write[aid] = _with_holders(article, passages, now)
        elif not now:
            retire[aid] = None
        elif aid in ledger and now != ledger[aid].holders:
            rehome.append(replace(ledger[aid], origin=now[0].origin, also_in=now[1:]))
    pruned = sum(1 for aid in let_go if aid in retire)
    return Plan(
        list(write.values()),
        new,
        changed,
        unchanged,
        duplicates,
        failed,
        list(retire),
        rehome,
        held_by,
        pruned,
    )


class _Holders:
    """The holders of the articles this run touches (their origin first, then their `also_in`)."""

    def __init__(self, ledger: dict[str, ArticleRecord]) -> None:
        self._ledger = ledger
        self._lists: dict[str, list[Holder]] = {}

    def _list(self, aid: str) -> list[Holder]:
        if aid not in self._lists:
            record = self._ledger.get(aid)
            self._lists[aid] = list(record.holders) if record is not None else []
        return self._lists[aid]

    def of(self, aid: str) -> tuple[Holder, ...]:
        return tuple(self._list(aid))

    def holds(self, aid: str, origin: str) -> bool:
        return any(h.origin == origin for h in self._list(aid))

    def add(self, aid: str, holder: Holder) -> None:
        if not self.holds(aid, holder.origin):
            self._list(aid).append(holder)

    def drop(self, aid: str, origin: str) -> None:
        if aid in self._ledger or aid in self._lists:
            self._lists[aid] = [h for h in self._list(aid) if h.origin != origin]

    def touched(self) -> list[str]:
        return list(self._lists)


class _Originals:
    """The articles a copy may be of, by content hash and copy key; `origin` names each."""

    def __init__(self, records: Iterable[ArticleRecord]) -> None:
        self._by_key: dict[str, str] = {}
        self.origin: dict[str, str] = {}
        for record in records:
            self.origin[record.article_id] = record.origin
            for key in record.keys:
                self._by_key.setdefault(key, record.article_id)

    def add(self, article: Article) -> None:
        self.origin[article.article_id] = article.origin
        for key in (article.content_hash, *article.copy_keys().values()):
            self._by_key.setdefault(key, article.article_id)

    def find(self, article: Article, *, text_only: bool) -> str | None:
        """The id of the article `article` copies, if any (by its text alone when `text_only`)."""
        keys = article.copy_keys()
        wanted = [article.content_hash, keys["text_key"]]
        if not text_only:
            wanted += [k for name, k in keys.items() if name != "text_key"]
        return next((self._by_key[k] for k in wanted if k in self._by_key), None)


def _with_holders(
    article: Article, passages: list[Passage], holders: tuple[Holder, ...]
) -> tuple[Article, list[Passage]]:
    """An article to write with the other places that hold it (its passages carry them too)."""
    also_in = tuple(h for h in holders if h.origin != article.origin)
    if also_in == article.also_in:
        return article, passages
    updated = replace(article, also_in=also_in)
    return updated, [replace(p, article=updated) for p in passages]


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
) -> Leaving:
    """The (ledger id, origin) pairs of files under `roots` that let go of an article: the file is gone,
    or was read whole (its origin in `read_whole`) without it. An article's origin and every file in its
    `also_in` are looked at; `seen` are the ids this run read (current and earlier ones)."""
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
    out: Leaving = set()
    for record in ledger.values():
        for holder in record.holders:
            origin = holder.origin
            if article_id_of(origin) in seen or "://" in origin.partition("#")[0]:
                continue  # read this time, or a feed item or page (feeds let go of their own)
            under, found, whole = current if Path(origin).is_absolute() else earlier
            file = _file_of(origin, found)
            if not any(_is_under(file, prefix) for prefix in under):
                continue
            if file in found and file not in whole:
                continue  # its file failed to read (or in part): keep what it had
            out.add((record.article_id, origin))
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

"""The lexical half of hybrid retrieval: BM25 over the committed passages, kept in segments so that adding a
few articles costs what those articles cost, not what the archive costs.

On disk (`state/<collection>/bm25/`):
- `stamp.json`, the manifest: the segments that make the index, the file of each one's deleted articles,
  the counts and a fingerprint of the committed articles. It is written last, by rename, so a reader sees
  the old index or the new one, never half; its mtime (`saved_at`) tells readers to reload.
- `seg-<id>/`: an immutable segment: postings (for each term, the passages holding it with their term
  frequencies, CSC), each passage's id, length and date, and its articles (sorted ids, content hashes,
  ranges of passages). Ingest adds one small segment per run that changed the archive.
- `del-<id>.npy`: the rows of a segment's articles deleted since it was written (replaced or pruned): a
  tombstone mask; deleted passages are never returned.

Scoring. BM25's IDF and length normalisation depend on corpus statistics. We keep ONE set for the whole
index: passages, document frequency per term and average length, summed over the segments (deleted
passages count until a merge drops them, as in Lucene), and every segment is scored against it at query
time. A passage therefore scores the same whether it sits in a small new segment or a big one, and the
segments' hits are merged by score. (Scoring each segment by its own statistics and fusing ranks was the
alternative: a segment of ten passages has noise for IDFs.)

Merging. The small segments beside the biggest one (< `SMALL_SEGMENT` passages) are merged into one when
there are more than `MAX_SMALL_SEGMENTS` of them or they hold more than a tenth of the archive (with the
biggest one too when it is small itself); a segment with more than
`EXPUNGE_SHARE` of its passages deleted is rewritten without them. A merge reads segments, not Chroma, and
a full rebuild writes segments of at most `SEGMENT_PASSAGES`: no merge costs more than a few hundred
thousand passages, whatever the archive's size.

Left out on purpose: positions (no phrase queries), field weights, merging big segments with each other.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import time
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .settings import ArchiveSettings
    from .store import PassageStore

__all__ = [
    "ArticlePassages",
    "LexicalIndex",
    "fingerprint",
    "index_dir",
    "mark_pending",
    "normalise",
    "pending",
    "rebuild_lexical_index",
    "saved_at",
    "update_lexical_index",
]

K1, B = 1.5, 0.75  # BM25 (Lucene's IDF, Robertson's term-frequency part: bm25s's defaults)
SEGMENT_PASSAGES = 250_000  # a full rebuild writes segments of at most this many passages
SMALL_SEGMENT = 25_000  # segments below this many passages are merged together ...
MAX_SMALL_SEGMENTS = 8  # ... when there are more than this many of them,
SMALL_SHARE = 0.10  # ... or they hold more than this share of the archive's passages
EXPUNGE_SHARE = 0.30  # a segment with more than this share of deleted passages is rewritten
_VERSION = 2
_STAMP = "stamp.json"
_THOUSANDS = re.compile(r"(?<=\d)[,\u00a0\u202f](?=\d{3}(?!\d))")
_WORD = re.compile(r"(?u)\b\w\w+\b")  # bm25s's (and scikit-learn's) token pattern
_LOAD_TRIES = 3


def normalise(text: str) -> str:
    """Lower-level text normalisation shared by indexing and querying ("12,000" -> "12000")."""
    return _THOUSANDS.sub("", text)


def index_dir(settings: ArchiveSettings) -> Path:
    """Where the collection's BM25 index is saved."""
    return settings.state_dir / "bm25"


def saved_at(directory: Path) -> float:
    """When the index in `directory` was last saved (its manifest's mtime; -1 when there is none): ingest
    saves it at the end of every run that changed the archive, so this one `stat` tells readers to reload."""
    try:
        return (directory / _STAMP).stat().st_mtime
    except OSError:
        return -1.0


def _pending_marker(directory: Path) -> Path:
    return directory.with_name(directory.name + ".pending")


def mark_pending(directory: Path) -> None:
    """Note that an ingest is about to change the archive: if it dies before it saves the index, the marker
    stays and the next ingest (or a reader, when no ingest runs) rebuilds the index."""
    marker = _pending_marker(directory)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"pid {os.getpid()}\n")


def pending(directory: Path) -> bool:
    """Whether an ingest changed (or was changing) the archive without saving the index after it."""
    return _pending_marker(directory).exists()


def fingerprint(article_hashes: Iterable[tuple[str, str]]) -> str:
    """A fingerprint of a set of committed articles that changes when one is added, changed or removed. It
    is a XOR of per-article hashes, so an update changes it in O(articles changed), not O(archive)."""
    value = 0
    for article_id, content_hash in article_hashes:
        value ^= _article_hash(article_id, content_hash)
    return f"{value:016x}"


def _article_hash(article_id: str, content_hash: str) -> int:
    digest = hashlib.blake2b(f"{article_id}:{content_hash}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass(frozen=True)
class ArticlePassages:
    """A committed article's passages as the index takes them: (passage_id, text, published_ts)."""

    article_id: str
    content_hash: str
    source: str
    passages: Sequence[tuple[str, str, int]]


class _Tokenizer:
    """bm25s's tokenisation (lower case, \\w\\w+ words, English stop words, Snowball stems), with a cache of
    stems: the same words recur in every passage."""

    def __init__(self) -> None:
        import Stemmer
        from bm25s.stopwords import STOPWORDS_EN

        self._stem = Stemmer.Stemmer("english").stemWords
        self._stop = frozenset(STOPWORDS_EN)
        self._cache: dict[str, str | None] = {}

    def __call__(self, text: str) -> list[str]:
        words = _WORD.findall(normalise(text).lower())
        cache = self._cache
        new = [w for w in set(words) if w not in cache]
        if new:
            for word, stem in zip(new, self._stem(new), strict=True):
                cache[word] = None if word in self._stop else stem
        return [stem for w in words if (stem := cache[w]) is not None]


# --- segments -----------------------------------------------------------------------------------------------
_ARRAYS = (
    "vocab", "indptr", "postings", "tf", "doc_len", "published_ts", "passage_ids",
    "art_ids", "art_hash", "art_start", "art_count",
)  # fmt: skip


class _Segment:
    """One immutable segment, its arrays memory-mapped. Passages are stored article by article, articles in
    id order, so an article is a range of passages and is found by binary search."""

    def __init__(self, name: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.name = name
        self.vocab: np.ndarray = arrays["vocab"]  # sorted UTF-8 terms
        self.indptr: np.ndarray = arrays["indptr"]
        self.postings: np.ndarray = arrays["postings"]  # passage rows, term by term
        self.tf: np.ndarray = arrays["tf"]
        self.doc_len: np.ndarray = arrays["doc_len"]
        self.published_ts: np.ndarray = arrays["published_ts"]
        self.passage_ids: np.ndarray = arrays["passage_ids"]
        self.art_ids: np.ndarray = arrays["art_ids"]  # sorted
        self.art_hash: np.ndarray = arrays["art_hash"]
        self.art_start: np.ndarray = arrays["art_start"]
        self.art_count: np.ndarray = arrays["art_count"]
        self.sources: list[str] = list(meta["sources"])
        self.tokens = int(meta["tokens"])
        self.fingerprint = str(meta["fingerprint"])

    def __len__(self) -> int:
        return len(self.doc_len)

    @property
    def articles(self) -> int:
        return len(self.art_ids)

    def column(self, term: bytes) -> tuple[np.ndarray, np.ndarray] | None:
        """The passages holding `term` and its frequency in each."""
        at = int(np.searchsorted(self.vocab, term))
        if at >= len(self.vocab) or self.vocab[at] != term:
            return None
        lo, hi = int(self.indptr[at]), int(self.indptr[at + 1])
        return self.postings[lo:hi], self.tf[lo:hi]

    def article_row(self, article_id: str) -> int | None:
        key = article_id.encode()
        at = int(np.searchsorted(self.art_ids, key))
        if at < len(self.art_ids) and self.art_ids[at] == key:
            return at
        return None

    @classmethod
    def load(cls, directory: Path) -> _Segment:
        """Raises OSError / ValueError / KeyError when a file is missing, truncated or inconsistent."""
        meta = json.loads((directory / "meta.json").read_text())
        arrays = {name: np.load(directory / f"{name}.npy", mmap_mode="r") for name in _ARRAYS}
        segment = cls(directory.name, arrays, meta)
        n, terms, articles = len(segment), len(segment.vocab), segment.articles
        whole = (
            int(meta["passages"]) == n == len(segment.published_ts) == len(segment.passage_ids)
            and int(meta["articles"]) == articles == len(segment.art_hash) == len(segment.art_start)
            and len(segment.art_count) == articles
            and len(segment.indptr) == terms + 1
            and int(segment.indptr[0]) == 0
            and int(segment.indptr[-1]) == len(segment.postings) == len(segment.tf)
            and int(segment.art_count.sum()) == n
        )
        if not whole:
            raise ValueError(f"segment {directory.name} is inconsistent")
        return segment


def _write_segment(parent: Path, articles: Sequence[ArticlePassages], tokenizer: _Tokenizer) -> str:
    """Index `articles` into a new segment folder under `parent` (written whole, then renamed); its name."""
    articles = sorted(articles, key=lambda a: a.article_id)
    vocab: dict[str, int] = {}
    flat = array("i")
    lengths: list[int] = []
    ids: list[str] = []
    stamps: list[int] = []
    for article in articles:
        for passage_id, text, ts in article.passages:
            terms = [vocab.setdefault(t, len(vocab)) for t in tokenizer(text)]
            flat.extend(terms)
            lengths.append(len(terms))
            ids.append(passage_id)
            stamps.append(ts)
    n = len(lengths)
    ordered = sorted(vocab)
    rank = np.empty(len(vocab), dtype=np.int64)
    rank[[vocab[t] for t in ordered]] = np.arange(len(ordered))
    term = rank[np.frombuffer(flat, dtype=np.int32)] if flat else np.zeros(0, dtype=np.int64)
    doc = np.repeat(np.arange(n, dtype=np.int64), lengths)
    keys, counts = np.unique(term * max(n, 1) + doc, return_counts=True)
    counts_per = [len(a.passages) for a in articles]
    arrays = {
        "vocab": _bytes_array([t.encode() for t in ordered]),
        "indptr": np.concatenate([[0], np.cumsum(np.bincount(keys // max(n, 1), minlength=len(ordered)))]),
        "postings": (keys % max(n, 1)).astype(np.int32),
        "tf": np.minimum(counts, np.iinfo(np.uint16).max).astype(np.uint16),
        "doc_len": np.asarray(lengths, dtype=np.int32),
        "published_ts": np.asarray(stamps, dtype=np.int64),
        "passage_ids": _bytes_array([i.encode() for i in ids]),
        "art_ids": _bytes_array([a.article_id.encode() for a in articles]),
        "art_hash": _bytes_array([a.content_hash.encode() for a in articles]),
        "art_start": (np.cumsum(counts_per, dtype=np.int64) - np.asarray(counts_per, dtype=np.int64)),
        "art_count": np.asarray(counts_per, dtype=np.int32),
    }
    meta = {
        "passages": n,
        "articles": len(articles),
        "tokens": int(sum(lengths)),
        "sources": sorted({a.source for a in articles if a.source}),
        "fingerprint": fingerprint((a.article_id, a.content_hash) for a in articles),
    }
    return _save_arrays(parent, arrays, meta)


def _bytes_array(items: list[bytes]) -> np.ndarray:
    return np.array(items, dtype=f"S{max((len(i) for i in items), default=1) or 1}")


def _save_arrays(parent: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> str:
    name = _new_name("seg")
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=parent))
    try:
        for key, value in arrays.items():
            np.save(staging / f"{key}.npy", value)
        (staging / "meta.json").write_text(json.dumps(meta))
        os.replace(staging, parent / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return name


def _new_name(prefix: str) -> str:
    return f"{prefix}-{time.time_ns():x}-{os.getpid():x}"


def _merge_segments(parent: Path, parts: Sequence[tuple[_Segment, np.ndarray]]) -> str:
    """One segment holding the live articles of `parts` ((segment, deleted article rows) pairs), built from
    their postings (no re-tokenising, no Chroma): articles re-sorted by id, terms by the union vocabulary."""
    vocab = np.unique(np.concatenate([seg.vocab.astype(object) for seg, _ in parts])).astype(bytes)
    vocab = _bytes_array(list(vocab))
    rows: list[tuple[bytes, int, int]] = []  # (article id, part, row) of the live articles
    for p, (seg, deleted) in enumerate(parts):
        gone = set(deleted.tolist())
        rows.extend((bytes(seg.art_ids[r]), p, r) for r in range(seg.articles) if r not in gone)
    rows.sort()
    new_counts = np.asarray([int(parts[p][0].art_count[r]) for _, p, r in rows], dtype=np.int64)
    new_start = np.cumsum(new_counts) - new_counts
    n = int(new_counts.sum())
    terms, docs, freqs = [], [], []
    doc_len = np.zeros(n, dtype=np.int32)
    published = np.zeros(n, dtype=np.int64)
    passage_ids: list[bytes] = [b""] * n
    sources: set[str] = set()
    for p, (seg, _) in enumerate(parts):
        remap = np.full(len(seg), -1, dtype=np.int64)
        mine = [(i, r) for i, (_, q, r) in enumerate(rows) if q == p]
        for i, r in mine:
            s, c = int(seg.art_start[r]), int(seg.art_count[r])
            remap[s : s + c] = np.arange(new_start[i], new_start[i] + c)
        live = np.flatnonzero(remap >= 0)
        doc_len[remap[live]] = seg.doc_len[live]
        published[remap[live]] = seg.published_ts[live]
        for old, new in zip(live.tolist(), remap[live].tolist(), strict=True):
            passage_ids[new] = bytes(seg.passage_ids[old])
        term_of = np.searchsorted(vocab, seg.vocab)  # the segment's terms in the union vocabulary
        per_term = np.repeat(term_of, np.diff(np.asarray(seg.indptr)))
        new_docs = remap[np.asarray(seg.postings)]
        keep = new_docs >= 0
        terms.append(per_term[keep])
        docs.append(new_docs[keep])
        freqs.append(np.asarray(seg.tf)[keep])
        if mine:
            sources.update(seg.sources)
    term = np.concatenate(terms) if terms else np.zeros(0, dtype=np.int64)
    doc = np.concatenate(docs) if docs else np.zeros(0, dtype=np.int64)
    order = np.lexsort((doc, term))
    arrays = {
        "vocab": vocab,
        "indptr": np.concatenate([[0], np.cumsum(np.bincount(term, minlength=len(vocab)))]),
        "postings": doc[order].astype(np.int32),
        "tf": np.concatenate(freqs)[order].astype(np.uint16) if freqs else np.zeros(0, dtype=np.uint16),
        "doc_len": doc_len,
        "published_ts": published,
        "passage_ids": _bytes_array(passage_ids),
        "art_ids": _bytes_array([a for a, _, _ in rows]),
        "art_hash": _bytes_array([bytes(parts[p][0].art_hash[r]) for _, p, r in rows]),
        "art_start": new_start,
        "art_count": new_counts.astype(np.int32),
    }
    meta = {
        "passages": n,
        "articles": len(rows),
        "tokens": int(doc_len.sum()),
        "sources": sorted(sources),
        "fingerprint": fingerprint((a.decode(), bytes(parts[p][0].art_hash[r]).decode()) for a, p, r in rows),
    }
    return _save_arrays(parent, arrays, meta)


# --- the index ----------------------------------------------------------------------------------------------
class CommittedArticles(Mapping[str, str]):
    """article_id -> content hash of the committed articles the index holds (its live articles), looked up
    in the segments (binary search), never loaded whole."""

    def __init__(self, index: LexicalIndex) -> None:
        self._index = index

    def get(self, article_id: str, default: Any = None) -> Any:
        for seg, dead in zip(reversed(self._index._segments), reversed(self._index._dead_rows), strict=True):
            row = seg.article_row(article_id)
            if row is not None and not dead[row]:
                return bytes(seg.art_hash[row]).decode()
        return default

    def __getitem__(self, article_id: str) -> str:
        found = self.get(article_id)
        if found is None:
            raise KeyError(article_id)
        return str(found)

    def __contains__(self, article_id: object) -> bool:
        return isinstance(article_id, str) and self.get(article_id) is not None

    def __iter__(self) -> Iterator[str]:
        for seg, dead in zip(self._index._segments, self._index._dead_rows, strict=True):
            for row in np.flatnonzero(~dead):
                yield bytes(seg.art_ids[row]).decode()

    def __len__(self) -> int:
        return self._index.articles


class LexicalIndex:
    """BM25 over segments; `search` returns (passage_id, score) best first, optionally within a subset.

    `published_ts` and a search's `mask` run over every stored passage of every segment in order (deleted
    ones included); `len()` counts the live passages, `committed` maps the live articles to their hashes."""

    def __init__(
        self, directory: Path, segments: list[_Segment], deleted: list[np.ndarray], manifest: dict[str, Any]
    ) -> None:
        self.directory = directory
        self.manifest = manifest
        self.stamp = str(manifest.get("stamp", ""))
        self.articles = int(manifest.get("articles", 0))
        self._segments = segments
        self._deleted = deleted  # deleted article rows per segment
        self._dead_rows: list[np.ndarray] = []
        self._alive: list[np.ndarray] = []
        for seg, rows in zip(segments, deleted, strict=True):
            dead = np.zeros(seg.articles, dtype=bool)
            dead[rows] = True
            alive = np.repeat(~dead, np.asarray(seg.art_count))
            self._dead_rows.append(dead)
            self._alive.append(alive)
        self._offsets = np.concatenate([[0], np.cumsum([len(s) for s in segments])]).astype(np.int64)
        self.published_ts = (
            np.concatenate([np.asarray(s.published_ts) for s in segments])
            if segments
            else np.zeros(0, dtype=np.int64)
        )
        self._stored = int(self._offsets[-1])  # the corpus statistics count deleted passages till a merge
        self._avgdl = sum(s.tokens for s in segments) / self._stored if self._stored else 1.0
        self._norm = [
            (K1 * (1 - B + B * np.asarray(s.doc_len, dtype=np.float32) / self._avgdl)).astype(np.float32)
            for s in segments
        ]
        self._live = int(sum(int(a.sum()) for a in self._alive))
        self.sources = frozenset(source for s in segments for source in s.sources)
        self.committed = CommittedArticles(self)
        self._tokenizer: _Tokenizer | None = None

    def __len__(self) -> int:
        return self._live

    @property
    def segments(self) -> list[str]:
        return [s.name for s in self._segments]

    @property
    def ids(self) -> list[str]:
        """The live passage ids (the whole archive: for tests and checks, not for queries)."""
        return [
            bytes(pid).decode()
            for seg, alive in zip(self._segments, self._alive, strict=True)
            for pid in np.asarray(seg.passage_ids)[alive]
        ]

    def tokenize(self, text: str) -> list[str]:
        if self._tokenizer is None:
            self._tokenizer = _Tokenizer()
        return self._tokenizer(text)

    def search(self, query: str, k: int, mask: np.ndarray | None = None) -> list[tuple[str, float]]:
        """The best `k` live passages for `query` by BM25 against the index-wide statistics; `mask` (over
        `published_ts`) restricts them."""
        if not self._live or k <= 0:
            return []
        terms = [t.encode() for t in dict.fromkeys(self.tokenize(query))]
        columns = [[seg.column(t) for seg in self._segments] for t in terms]
        found: list[tuple[float, int, int]] = []  # (score, segment, row)
        weights = []
        for cols in columns:
            df = sum(len(c[0]) for c in cols if c is not None)
            weights.append(math.log(1 + (self._stored - df + 0.5) / (df + 0.5)) if df else 0.0)
        for s, seg in enumerate(self._segments):
            scores = np.zeros(len(seg), dtype=np.float32)
            touched = False
            for cols, idf in zip(columns, weights, strict=True):
                col = cols[s]
                if col is None or not idf:
                    continue
                docs, tf = np.asarray(col[0]), np.asarray(col[1], dtype=np.float32)
                scores[docs] += np.float32(idf) * tf / (tf + self._norm[s][docs])
                touched = True
            if not touched:
                continue
            scores *= self._alive[s]
            if mask is not None:
                scores *= mask[self._offsets[s] : self._offsets[s + 1]]
            hits = np.flatnonzero(scores > 0)
            if len(hits) > k:
                hits = hits[np.argpartition(-scores[hits], k - 1)[:k]]
            found.extend((float(scores[h]), s, int(h)) for h in hits)
        found.sort(key=lambda f: (-f[0], f[1], f[2]))
        return [(bytes(self._segments[s].passage_ids[h]).decode(), score) for score, s, h in found[:k]]

    # --- persistence ----------------------------------------------------------------------------------------
    @classmethod
    def load(cls, directory: Path, previous: LexicalIndex | None = None) -> LexicalIndex | None:
        """The saved index, or None when there is none or it is damaged in any way (it will be rebuilt):
        unreadable, truncated or inconsistent files. Segments already loaded in `previous` are reused (they
        never change), so a reload after an ingest reads only the new segment and the deletions."""
        reuse = {s.name: s for s in previous._segments} if previous is not None else {}
        for _ in range(_LOAD_TRIES):
            before = saved_at(directory)
            try:
                manifest = json.loads((directory / _STAMP).read_text())
                if int(manifest.get("version", 1)) != _VERSION:
                    return None
                segments, deleted = [], []
                for entry in manifest["segments"]:
                    name = str(entry["name"])
                    seg = reuse.get(name) or _Segment.load(directory / name)
                    rows = np.zeros(0, dtype=np.int64)
                    if entry.get("deleted"):
                        rows = np.load(directory / str(entry["deleted"])).astype(np.int64)
                        if rows.ndim != 1 or (len(rows) and (rows.min() < 0 or rows.max() >= seg.articles)):
                            return None
                    segments.append(seg)
                    deleted.append(rows)
                index = cls(directory, segments, deleted, manifest)
                if len(index) != int(manifest["passages"]) or index.articles != sum(
                    s.articles - len(d) for s, d in zip(segments, deleted, strict=True)
                ):
                    return None
                return index
            except FileNotFoundError:
                if saved_at(directory) == before:  # not a save racing with us: files are missing
                    return None
            except (OSError, ValueError, KeyError, TypeError, IndexError, EOFError):
                return None
        return None

    @staticmethod
    def saved_stamp(directory: Path) -> str | None:
        try:
            return str(json.loads((directory / _STAMP).read_text())["stamp"])
        except (OSError, ValueError, KeyError, TypeError):
            return None


def _save_manifest(
    directory: Path, segments: Sequence[tuple[str, str | None]], index_values: dict[str, Any]
) -> None:
    """Write the manifest by rename (the commit point of every save), then remove what it no longer names."""
    manifest = {
        "version": _VERSION,
        **index_values,
        "segments": [{"name": name, "deleted": deleted} for name, deleted in segments],
    }
    tmp = directory / f".{_STAMP}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, directory / _STAMP)
    keep = {_STAMP} | {n for n, _ in segments} | {d for _, d in segments if d}
    for entry in directory.iterdir():
        if entry.name not in keep and not entry.name.startswith(".seg-"):
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    entry.unlink()
    with contextlib.suppress(OSError):
        _pending_marker(directory).unlink()


def _values(segments: Sequence[_Segment], deleted: Sequence[np.ndarray], stamp: str) -> dict[str, Any]:
    passages = sum(
        int(s.art_count.sum()) - int(np.asarray(s.art_count)[d].sum())
        for s, d in zip(segments, deleted, strict=True)
    )
    articles = sum(s.articles - len(d) for s, d in zip(segments, deleted, strict=True))
    return {"stamp": stamp, "passages": passages, "articles": articles}


def _write_deleted(directory: Path, rows: np.ndarray) -> str | None:
    if not len(rows):
        return None
    name = _new_name("del") + ".npy"
    np.save(directory / name, np.unique(rows).astype(np.int64))
    return name


def build_segments(
    directory: Path, articles: Iterable[ArticlePassages], stamp: str | None = None
) -> LexicalIndex:
    """A new index of `articles` in `directory` (whatever was there is replaced), in segments of at most
    `SEGMENT_PASSAGES` passages; `stamp` defaults to the articles' fingerprint."""
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = _Tokenizer()
    names: list[str] = []
    batch: list[ArticlePassages] = []
    size = 0
    value = 0
    for article in articles:
        value ^= _article_hash(article.article_id, article.content_hash)
        batch.append(article)
        size += len(article.passages)
        if size >= SEGMENT_PASSAGES:
            names.append(_write_segment(directory, batch, tokenizer))
            batch, size = [], 0
    if batch or not names:
        names.append(_write_segment(directory, batch, tokenizer))
    segments = [_Segment.load(directory / n) for n in names]
    empty = [np.zeros(0, dtype=np.int64)] * len(segments)
    _save_manifest(directory, [(n, None) for n in names], _values(segments, empty, stamp or f"{value:016x}"))
    index = LexicalIndex.load(directory)
    if index is None:
        raise OSError(f"the lexical index just written to {directory} does not load")
    return index


def update_lexical_index(
    directory: Path,
    added: Sequence[ArticlePassages],
    removed: Iterable[str] = (),
    index: LexicalIndex | None = None,
) -> LexicalIndex | None:
    """Add the committed `added` articles as a new segment and delete the older versions of them and the
    `removed` articles, then merge if small segments have piled up; saved atomically. Costs what the
    change costs (plus a merge of small segments now and then), not the archive. None when there is no
    usable index to update (the caller rebuilds)."""
    index = index or LexicalIndex.load(directory)
    if index is None:
        return None
    segments = list(index._segments)
    dead = [d.copy() for d in index._dead_rows]
    value = int(index.stamp or "0", 16)
    for article_id in {*removed, *(a.article_id for a in added)}:
        for s, seg in enumerate(segments):
            row = seg.article_row(article_id)
            if row is not None and not dead[s][row]:
                dead[s][row] = True
                value ^= _article_hash(article_id, bytes(seg.art_hash[row]).decode())
    if added:
        name = _write_segment(directory, added, _Tokenizer())
        segments.append(_Segment.load(directory / name))
        dead.append(np.zeros(len(added), dtype=bool))
        for article in added:
            value ^= _article_hash(article.article_id, article.content_hash)
    segments, dead = _merged(directory, segments, dead)
    deleted = [np.flatnonzero(d) for d in dead]
    previous = {s.name: (index._deleted[i]) for i, s in enumerate(index._segments)}
    files = []
    for seg, rows in zip(segments, deleted, strict=True):
        old_rows = previous.get(seg.name)
        old_entry = next((e for e in index.manifest["segments"] if e["name"] == seg.name), None)
        if old_rows is not None and old_entry is not None and np.array_equal(np.unique(old_rows), rows):
            files.append((seg.name, old_entry.get("deleted")))  # unchanged: the same file
        else:
            files.append((seg.name, _write_deleted(directory, rows)))
    _save_manifest(directory, files, _values(segments, deleted, f"{value:016x}"))
    return LexicalIndex.load(directory, previous=index)


def _merged(
    directory: Path, segments: list[_Segment], dead: list[np.ndarray]
) -> tuple[list[_Segment], list[np.ndarray]]:
    """The segments after the merge policy (module docstring): small ones merged together when they pile
    up, ones with many deletions rewritten."""
    live = [
        int(s.art_count.sum()) - int(np.asarray(s.art_count)[d].sum())
        for s, d in zip(segments, dead, strict=True)
    ]
    total = max(sum(live), 1)
    order = sorted(range(len(segments)), key=lambda i: -live[i])
    small = [i for i in order[1:] if live[i] < SMALL_SEGMENT]  # the biggest segment is the base
    chosen: set[int] = set()
    if len(small) > MAX_SMALL_SEGMENTS or sum(live[i] for i in small) > SMALL_SHARE * total:
        chosen = set(small)
        if live[order[0]] < SMALL_SEGMENT:  # a small archive: merged whole (cheap)
            chosen.add(order[0])
    chosen |= {i for i, s in enumerate(segments) if len(s) and 1 - live[i] / len(s) > EXPUNGE_SHARE}
    if not chosen:
        return segments, dead
    parts = [(segments[i], np.flatnonzero(dead[i])) for i in sorted(chosen)]
    name = _merge_segments(directory, parts)
    merged = _Segment.load(directory / name)
    kept = [i for i in range(len(segments)) if i not in chosen]
    if not merged.articles:  # everything in them was deleted
        return [segments[i] for i in kept], [dead[i] for i in kept]
    return [*(segments[i] for i in kept), merged], [*(dead[i] for i in kept), np.zeros(merged.articles, bool)]


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
    or after a killed ingest) and save it; a read-only data dir gets it in a private temporary folder."""
    articles = list(committed_articles(store))
    try:
        return build_segments(directory, articles)
    except OSError:
        scratch = Path(tempfile.mkdtemp(prefix="news-assistant-bm25-")) / "bm25"
        return build_segments(scratch, articles)

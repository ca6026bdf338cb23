"""The lexical half of hybrid retrieval: a BM25 index (bm25s, Snowball stemmer) over the stored passages.

Built from the archive by ingest after every change and saved beside the Chroma store with a stamp of
the article ledger it reflects; the query engine loads it once per process (memory-mapped) and only
rebuilds it when the stamp no longer matches, so no query and no start-up pays for a rebuild.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .settings import ArchiveSettings
    from .store import PassageStore

_THOUSANDS = re.compile(r"(?<=\d)[,\u00a0\u202f](?=\d{3}(?!\d))")
_STAMP = "stamp.json"


def normalise(text: str) -> str:
    """Lower-level text normalisation shared by indexing and querying ("12,000" -> "12000")."""
    return _THOUSANDS.sub("", text)


def index_dir(settings: ArchiveSettings) -> Path:
    """Where the collection's BM25 index is saved."""
    return settings.state_dir / "bm25"


def saved_at(directory: Path) -> float:
    """When the index in `directory` was last saved (its stamp's mtime; -1 when there is none): ingest saves
    it at the end of every run that changed the archive, so this one `stat` tells readers to reload."""
    try:
        return (directory / _STAMP).stat().st_mtime
    except OSError:
        return -1.0


def ledger_stamp(article_hashes: Iterable[tuple[str, str]]) -> str:
    """A fingerprint of the committed archive: changes whenever an article is added, changed or removed."""
    digest = hashlib.sha256()
    for article_id, content_hash in sorted(article_hashes):
        digest.update(f"{article_id}:{content_hash}\n".encode())
    return digest.hexdigest()[:24]


class LexicalIndex:
    """BM25 over passages; `search` returns (passage_id, score) best first, optionally within a subset."""

    def __init__(self, retriever: object, ids: list[str], published_ts: np.ndarray, stamp: str) -> None:
        self._bm25 = retriever
        self.ids = ids
        self.published_ts = published_ts
        self.stamp = stamp
        self._stemmer = _stemmer()

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, passages: Iterable[tuple[str, str, int]], stamp: str) -> LexicalIndex:
        """Index (passage_id, text, published_ts) triples."""
        import bm25s

        ids: list[str] = []
        texts: list[str] = []
        stamps: list[int] = []
        for pid, text, ts in passages:
            ids.append(pid)
            texts.append(normalise(text))
            stamps.append(ts)
        retriever = bm25s.BM25()
        if texts:
            tokens = bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), show_progress=False)
            retriever.index(tokens, show_progress=False)
        return cls(retriever, ids, np.asarray(stamps, dtype=np.int64), stamp)

    def search(self, query: str, k: int, mask: np.ndarray | None = None) -> list[tuple[str, float]]:
        import bm25s

        if not self.ids or k <= 0:
            return []
        tokens = bm25s.tokenize(
            [normalise(query)], stopwords="en", stemmer=self._stemmer, return_ids=False, show_progress=False
        )[0]
        vocab = getattr(self._bm25, "vocab_dict", None) or {}
        tokens = [t for t in tokens if t in vocab]
        if not tokens:
            return []
        k = min(k, len(self.ids))
        weight = None if mask is None else mask.astype(np.float32)
        docs, scores = self._bm25.retrieve([tokens], k=k, show_progress=False, weight_mask=weight)  # type: ignore[attr-defined]
        return [
            (self.ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0], strict=True) if float(s) > 0.0
        ]

    # --- persistence ----------------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Write atomically: a reader sees the old index or the new one, never half of each."""
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".bm25-", dir=directory.parent))
        try:
            if self.ids:
                self._bm25.save(str(staging / "bm25"), show_progress=False)  # type: ignore[attr-defined]
            np.save(staging / "published_ts.npy", self.published_ts)
            (staging / "ids.json").write_text(json.dumps(self.ids))
            (staging / _STAMP).write_text(json.dumps({"stamp": self.stamp, "passages": len(self.ids)}))
            old = directory.with_name(directory.name + ".old")
            if directory.exists():
                shutil.rmtree(old, ignore_errors=True)
                os.replace(directory, old)
            os.replace(staging, directory)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex | None:
        """The saved index, or None when there is none or it is damaged in any way (it will be rebuilt):
        unreadable or truncated files, or parts that disagree on the number of passages."""
        import bm25s

        try:
            meta = json.loads((directory / _STAMP).read_text())
            ids = json.loads((directory / "ids.json").read_text())
            published = np.load(directory / "published_ts.npy")
            if ids:
                retriever = bm25s.BM25.load(str(directory / "bm25"), mmap=True, show_progress=False)
            else:
                retriever = bm25s.BM25()
            stamp = str(meta["stamp"])
            consistent = (
                isinstance(ids, list)
                and all(isinstance(i, str) for i in ids)
                and int(meta["passages"]) == len(ids) == len(published)
                and (not ids or _scores_consistent(retriever, len(ids)))
            )
        except (OSError, ValueError, KeyError, TypeError, IndexError, EOFError):
            return None
        if not consistent:
            return None
        return cls(retriever, ids, published, stamp)

    @staticmethod
    def saved_stamp(directory: Path) -> str | None:
        try:
            return str(json.loads((directory / _STAMP).read_text())["stamp"])
        except (OSError, ValueError, KeyError):
            return None


def _scores_consistent(retriever: object, documents: int) -> bool:
    """The BM25 score matrix (CSC: one column per term) holds `documents` passages and is whole."""
    scores = getattr(retriever, "scores", None) or {}
    data, indices, indptr = scores.get("data"), scores.get("indices"), scores.get("indptr")
    if data is None or indices is None or indptr is None or len(indptr) == 0:
        return False
    return (
        int(scores.get("num_docs", -1)) == documents
        and len(data) == len(indices)
        and int(indptr[-1]) == len(data)
    )


def _stemmer() -> object:
    import Stemmer

    return Stemmer.Stemmer("english")


def build_lexical_index(store: PassageStore) -> LexicalIndex:
    """The BM25 index of the committed archive (no leftovers of interrupted runs), in memory."""
    committed = store.articles()
    valid = {(rec.article_id, rec.content_hash) for rec in committed.values()}
    triples = (
        (p.passage_id, f"{p.metadata.get('title', '')}\n{p.text}", int(p.metadata.get("published_ts", -1)))
        for p in store.iter_passages()
        if (p.metadata.get("article_id"), p.metadata.get("content_hash")) in valid
    )
    return LexicalIndex.build(triples, ledger_stamp(valid))


def rebuild_lexical_index(store: PassageStore, directory: Path) -> LexicalIndex:
    """Build the BM25 index of the committed archive and save it."""
    index = build_lexical_index(store)
    index.save(directory)
    return index

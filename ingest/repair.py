"""The lexical index a reader can trust: the saved one when it matches the archive, else rebuilt.

Ingest saves the Tantivy index with every commit, so a reader normally just loads it. This module decides
what a reader does when that is not enough: the index is missing or damaged, an ingest died before saving
it, or the ledger moved on without it (an ingest through a shared Chroma server from another data dir).
Then the index is rebuilt from the archive under the ingest lock, so a reader never races an ingest; while
an ingest runs, its index is awaited rather than rebuilt. A read-only data dir gets the rebuilt index in a
private temporary folder.

Left to `ingest.lexical`: the index itself (its schema, search, incremental updates and the rebuild).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from .errors import IngestError, IngestLockedError
from .lexical import LexicalIndex, rebuild_lexical_index
from .lexical import pending as index_pending
from .pipeline import ingest_lock
from .settings import ArchiveSettings
from .store import PassageStore

__all__ = ["current_lexical_index"]


def current_lexical_index(
    settings: ArchiveSettings, store: PassageStore, directory: Path, saved: LexicalIndex | None
) -> LexicalIndex:
    """`saved` (the index loaded from `directory`) when it holds the archive's committed articles; else the
    index rebuilt from the archive (see the module docstring)."""

    def current(found: LexicalIndex | None) -> bool:
        return found is not None and not index_pending(directory) and found.articles == store.article_count()

    if current(saved):
        assert saved is not None
        return saved
    try:
        with ingest_lock(settings, wait=False):
            index = LexicalIndex.load(directory)
            if current(index):
                assert index is not None
                return index
            return rebuild_lexical_index(store, directory)
    except IngestLockedError:  # an ingest is under way: it saves the index when it is done
        if saved is not None:
            return saved
    except IngestError:  # a data dir that cannot hold the lock (read-only)
        pass
    return rebuild_lexical_index(store, Path(tempfile.mkdtemp(prefix="news-assistant-bm25-")) / "bm25")

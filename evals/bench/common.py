"""What the sections share besides measuring: the corpora and sets, fresh settings, the embedder.

Every section works in temporary data dirs made from `fresh_settings`, so the user's archive is never read
or changed; `load_embedder` and `first_use` pay the one-off costs of a process up front, so the figures of
a section are steady-state.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .measure import ROOT, timed

if TYPE_CHECKING:
    from assistant.settings import Settings
    from ingest.embedding import Embedder

__all__ = ["CLAPNQ", "SEEDS", "SEEDS_DEV", "SEEDS_LARGE", "first_use", "fresh_settings", "load_embedder"]

SEEDS = ROOT / "seeds"
CLAPNQ = ROOT / "evals" / "sets" / "clapnq_dev"
SEEDS_DEV = ROOT / "evals" / "sets" / "seeds_dev"
SEEDS_LARGE = ROOT / "evals" / "sets" / "seeds_large"


def fresh_settings(data_dir: Path, base: Settings | None = None, **update: Any) -> Settings:
    """`base` (default: the settings of the environment) pointed at `data_dir`, with `update` applied."""
    from assistant.settings import Settings

    return (base or Settings()).model_copy(update={"data_dir": data_dir, **update})


def load_embedder(settings: Settings) -> tuple[Embedder, float]:
    """The embedder the settings choose (`ASSISTANT_EMBEDDER`, default e5), loaded now; and its load time."""
    from ingest.embedding import build_embedder

    embedder = build_embedder(settings)
    _, seconds, _ = timed(lambda: embedder.encode(["warm up"]))
    return embedder, seconds


def first_use(scratch: Path, base: Settings) -> dict[str, float]:
    """One-off costs of a process's first ingest (imports, tokenizer, Chroma start), paid here so the
    per-corpus figures are steady-state."""
    from ingest.passages import PassageSplitter
    from ingest.store import PassageStore

    _, splitter_s, _ = timed(lambda: PassageSplitter(base.chunk_tokens, base.chunk_overlap))
    _, chroma_s, _ = timed(lambda: PassageStore(fresh_settings(scratch, base)).count())
    return {"splitter_s": splitter_s, "chroma_open_s": chroma_s}

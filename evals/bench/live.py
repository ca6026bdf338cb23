"""Live updates: the cost of adding 10 articles to an archive until a retriever in another process answers
from them, and that retriever's start-up and memory.

A child process starts a retriever on the archive (its start-up and peak memory are the figures of item 2
of issue 13), then polls it with a question only the new articles answer; the parent ingests 10 synthetic
articles the way a feed poll would (`ingest_paths`) and times each step of it. "Answerable" is the moment
the child first retrieves a passage of a new article. The articles are forgotten again afterwards, so a
cached archive stays the size it was built at.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .measure import ROOT, child_env, peak_rss_mb, say

if TYPE_CHECKING:
    from assistant.settings import Settings
    from ingest.embedding import Embedder

__all__ = ["NEW_ARTICLES", "live_update"]

NEW_ARTICLES = 10
MARKER = "Zyxquorbian"  # a word no sentence of the pool holds: only the new articles answer it
POLL_S = 0.05

_WATCHER = r"""
import json, sys, time
t0 = time.perf_counter()
from assistant.retrieval import HybridRetriever
from assistant.settings import Settings
from ingest.embedding import build_embedder
from ingest.store import PassageStore

settings = Settings(data_dir=sys.argv[1])
retriever = HybridRetriever(settings, PassageStore(settings), build_embedder(settings))
t1 = time.perf_counter()
retriever.warm_up()
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "startup_s": t2 - t1}), flush=True)
query, deadline = sys.argv[2], time.time() + float(sys.argv[3])
while time.time() < deadline:
    hits = retriever.retrieve(query).hits
    if any(sys.argv[2] in h.passage.text for h in hits):
        print(json.dumps({"answerable_at": time.time()}), flush=True)
        break
    time.sleep(float(sys.argv[4]))
import resource
print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)
"""


@contextmanager
def _timing(owner: Any, name: str, into: dict[str, float], key: str) -> Iterator[None]:
    """Add the time spent in `owner.name` to `into[key]` while inside the block."""
    original = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            into[key] = into.get(key, 0.0) + time.perf_counter() - t0

    setattr(owner, name, timed)
    try:
        yield
    finally:
        setattr(owner, name, original)


def _new_articles(folder: Path, seed: int) -> Path:
    """10 synthetic articles (real sentences) that each carry the marker word."""
    from ..synth import generate_archive

    path = generate_archive(folder / f"live-{seed}.jsonl", NEW_ARTICLES, seed=10_000 + seed)
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        record["text"] = f"{record['text']}\n\nThe {MARKER} report was published today."
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def live_update(
    settings: Settings, embedder: Embedder, seed: int = 0, timeout_s: float = 300
) -> dict[str, Any]:
    """Add 10 articles to the archive of `settings` while a retriever in another process watches it."""
    from ingest import pipeline
    from ingest.lexical import index_dir, update_lexical_index
    from ingest.pipeline import ingest_paths
    from ingest.store import PassageStore

    env = child_env()
    watcher = subprocess.Popen(
        [sys.executable, "-c", _WATCHER, str(settings.data_dir), MARKER, str(timeout_s), str(POLL_S)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert watcher.stdout is not None
    started = json.loads(watcher.stdout.readline() or "{}")
    steps: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        path = _new_articles(Path(tmp), seed)
        store = PassageStore(settings)
        say(f"live update: adding {NEW_ARTICLES} articles")
        t0_wall = time.time()
        t0 = time.perf_counter()
        with (
            _timing(PassageStore, "articles_matching", steps, "ledger_read_s"),
            _timing(PassageStore, "upsert_passages", steps, "chroma_upsert_s"),
            _timing(PassageStore, "commit_articles", steps, "ledger_commit_s"),
            _timing(PassageStore, "passage_ids_by_article", steps, "chroma_old_passages_s"),
            _timing(pipeline, "update_lexical_index", steps, "lexical_update_s"),  # batch by batch, and last
        ):
            report = ingest_paths([path], settings, embedder=embedder)
        ingest_s = time.perf_counter() - t0
        lines = [json.loads(line) for line in watcher.stdout]
        watcher.wait(30)
        seen = next((x["answerable_at"] for x in lines if "answerable_at" in x), None)
        rss = next((x["peak_rss_mb"] for x in lines if "peak_rss_mb" in x), None)
        # forget them again: a cached archive keeps its size
        added = list(store.articles_matching([], _content_hashes(path)))
        for aid in added:
            store.forget_article(aid)
        update_lexical_index(index_dir(settings), [], added)
    return {
        "articles": report.new,
        "passages": report.passages_written,
        "ingest_s": ingest_s,
        "embed_s": report.embed_seconds,
        "steps_s": steps,
        "answerable_s": (seen - t0_wall) if seen is not None else None,
        "retriever_import_s": started.get("import_s"),
        "retriever_startup_s": started.get("startup_s"),
        "retriever_peak_rss_mb": rss,
        "parent_peak_rss_mb": peak_rss_mb(),
    }


def _content_hashes(path: Path) -> list[str]:
    from ingest.readers import read_file

    return [a.content_hash for a in read_file(path, path.name, 10**9).articles]

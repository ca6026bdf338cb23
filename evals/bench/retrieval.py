"""The retrieval section: synthetic archives of 1k to 1M passages, timed retrievals, BM25 load vs rebuild,
and the cost of a live update (`live`).

The archives are written straight into the store (`build_synthetic_store`): each passage's vector is the
normalised mean of the real embedder's vectors of its sentences and its title sentence (the pool of real
sentences is embedded once; no passage is run through the embedder), so a 1M-passage archive takes tens
of minutes, not days, and the queries (the questions of seeds_large and clapnq_dev, interleaved) still
meet realistic vectors. With `--cache DIR` every archive is kept and reused by the next run with the same
size and seed; a size whose build was cut short is built again.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from itertools import cycle, islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from ..tables import table
from .common import CLAPNQ, SEEDS_LARGE, fresh_settings, load_embedder
from .measure import current_rss_mb, dir_mb, header, load_average, machine, peak_rss_mb, say, spread, timed

if TYPE_CHECKING:
    from assistant.settings import Settings
    from ingest.embedding import Embedder
    from ingest.store import PassageStore

__all__ = ["build_synthetic_store", "interleave", "render_retrieval", "retrieval_section"]

PASSAGE_TOKENS = 150  # synthetic retrieval passages: sentences packed up to about this many tokens
BM25_LOAD_REPEATS = 3
SERVED_QUESTIONS = 2  # answered by the assistant with the local model on each archive (`with_model`)

T = TypeVar("T")


def interleave(lists: Sequence[Sequence[T]]) -> list[T]:
    """a1, b1, a2, b2, ... then the rest of the longer lists."""
    out: list[T] = []
    for i in range(max((len(x) for x in lists), default=0)):
        out.extend(x[i] for x in lists if i < len(x))
    return out


def retrieval_section(
    sizes: Sequence[int] = (1000, 10000, 100000),
    queries: int = 50,
    warmup: int = 5,
    seed: int = 0,
    settings: Settings | None = None,
    embedder: Embedder | None = None,
    pool_limit: int | None = None,
    workdir: Path | None = None,
    cache: Path | None = None,
    live: bool = True,
    with_model: bool = False,
) -> dict[str, Any]:
    """Synthetic archives of `sizes` passages (vectors from a pool of sentence vectors, not the embedder),
    then `queries` timed retrievals after `warmup` untimed ones, BM25 load vs rebuild, and (`live`) the cost
    of adding 10 articles until a retriever in another process answers from them, per size; `with_model`:
    the whole assistant with the local model started on each archive in a process of its own (start-up,
    two answers, peak memory). With `cache`, each archive is kept there and reused by later runs with the
    same size and seed."""
    from ingest.passages import count_tokens

    from ..runner import EvalSet
    from ..synth import sentence_pool

    started = machine()
    base = settings or fresh_settings(Path("unused"))
    load_s = 0.0
    if embedder is None:
        embedder, load_s = load_embedder(base)
    pool = sentence_pool()[:pool_limit]
    say(f"retrieval: embedding a pool of {len(pool)} sentences")
    vectors, pool_s, _ = timed(lambda: embedder.encode(list(pool)))
    tokens = [count_tokens(s) for s in pool]
    sets = [EvalSet.load(path) for path in (SEEDS_LARGE, CLAPNQ)]
    questions = interleave([[str(row["question"]) for row in s.questions] for s in sets])
    warm, timed_questions = questions[:warmup], list(islice(cycle(questions[warmup:]), queries))
    rows = []
    for size in sizes:
        say(f"retrieval: {size} passages")
        with ExitStack() as stack:
            if cache is not None:  # kept for the next run (a size whose build was cut short is redone)
                folder = cache / f"retrieval-{size}-seed{seed}"
            else:
                folder = Path(
                    stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-retrieval-", dir=workdir))
                )
            settings_n = fresh_settings(folder / "data", base)
            archive = (pool, vectors, tokens, seed)
            rows.append(
                _retrieval_one(size, settings_n, embedder, archive, warm, timed_questions, live, with_model)
            )
    return {
        "machine": started,
        "load_average_after": load_average(),
        "embedder_load_s": load_s,
        "pool": {"sentences": len(pool), "embed_s": pool_s},
        "passage_tokens": PASSAGE_TOKENS,
        "candidates": base.candidates,
        "queries": len(timed_questions),
        "warmup": len(warm),
        "sizes": rows,
        "peak_rss_mb": peak_rss_mb(),
    }


def _retrieval_one(
    size: int,
    settings: Settings,
    embedder: Embedder,
    archive: tuple[Sequence[str], np.ndarray, Sequence[int], int],
    warm: Sequence[str],
    questions: Sequence[str],
    live: bool = True,
    with_model: bool = False,
) -> dict[str, Any]:
    """One size: the archive built (or reused from the cache), then start-up, timed retrievals, the live
    update and the assistant with the model. `archive` is the pool of sentences, their vectors and token
    counts, and the seed."""
    import json
    import shutil

    from assistant.retrieval import HybridRetriever
    from ingest.lexical import LexicalIndex, rebuild_lexical_index
    from ingest.store import PassageStore

    from .live import live_update
    from .served import served

    pool, vectors, tokens, seed = archive

    done = settings.data_dir.parent / "complete.json"
    index_dir = settings.state_dir / "bm25"
    if done.exists():
        say(f"retrieval: reusing the archive of {size} passages in {settings.data_dir}")
        cached = json.loads(done.read_text())
        build, build_s, rebuild_s = cached["build"], cached["build_s"], cached["rebuild_s"]
        store = PassageStore(settings)
        if LexicalIndex.load(index_dir) is None:  # an index of an older format: rebuilt once, timed
            say(f"retrieval: rebuilding the BM25 index of {size} passages")
            _, rebuild_s, _ = timed(lambda: rebuild_lexical_index(store, index_dir))
            done.write_text(json.dumps({**cached, "rebuild_s": rebuild_s}))
    else:
        shutil.rmtree(settings.data_dir, ignore_errors=True)
        store = PassageStore(settings)
        space = embedder.model_id
        build, build_s, _ = timed(
            lambda: build_synthetic_store(store, size, pool, vectors, tokens, seed, vector_space=space)
        )
        say(f"retrieval: building the BM25 index of {size} passages")
        _, rebuild_s, _ = timed(lambda: rebuild_lexical_index(store, index_dir))
        done.write_text(json.dumps({"build": build, "build_s": build_s, "rebuild_s": rebuild_s}))

    # Start-up as the query engine does it: ledger + saved index, which must load, not rebuild.
    retriever = HybridRetriever(settings, store, embedder)
    stamp_before = (index_dir / "meta.json").stat().st_mtime_ns
    _, startup_s, _ = timed(retriever.snapshot)
    rebuilt_at_startup = (index_dir / "meta.json").stat().st_mtime_ns != stamp_before
    startup_rss = current_rss_mb()
    loads = [timed(lambda: LexicalIndex.load(index_dir))[1] for _ in range(BM25_LOAD_REPEATS)]

    for question in warm:
        retriever.retrieve(question)
    parts: dict[str, list[float]] = {"total": [], "embed": [], "dense": [], "lexical": [], "fuse": []}
    hits = []
    for question in questions:
        wall0 = time.perf_counter()
        result = retriever.retrieve(question)
        parts["total"].append(time.perf_counter() - wall0)
        for name in ("embed", "dense", "lexical", "fuse"):
            parts[name].append(getattr(result.timings, name))
        hits.append(len(result.hits))
    load_s = float(np.median(loads))
    update = live_update(settings, embedder, seed) if live else None
    if with_model:
        say(f"retrieval: the assistant with the local model on {size} passages")
    model = served(settings.data_dir, questions[:SERVED_QUESTIONS]) if with_model else None
    return {
        "live_update": update,
        "with_model": model,
        "segments": LexicalIndex.load(index_dir).segments,  # type: ignore[union-attr]
        "passages": build["passages"],
        "articles": build["articles"],
        "build_s": build_s + rebuild_s,
        "build": {**build["seconds"], "bm25_rebuild_s": rebuild_s},
        "startup_s": startup_s,
        "startup_rebuilt_index": rebuilt_at_startup,
        "rss_after_startup_mb": startup_rss,
        "bm25_load_s": load_s,
        "bm25_load_runs_s": loads,
        "bm25_rebuild_s": rebuild_s,
        "rebuild_over_load": rebuild_s / load_s if load_s else 0.0,
        "retrieve_s": {name: spread(values) for name, values in parts.items()},
        "hits_mean": sum(hits) / len(hits) if hits else 0.0,
        "store_mb": dir_mb(settings.chroma_dir),
        "bm25_mb": dir_mb(index_dir),
        "peak_rss_mb": peak_rss_mb(),
    }


def build_synthetic_store(
    store: PassageStore,
    size: int,
    pool: Sequence[str],
    vectors: np.ndarray,
    tokens: Sequence[int],
    seed: int = 0,
    passage_tokens: int = PASSAGE_TOKENS,
    flush_every: int = 4000,
    vector_space: str = "",
) -> dict[str, Any]:
    """Write `size` passages of synthetic articles straight into `store`, as ingest would (passages, then
    one ledger record per article), each passage's vector being the normalised mean of the vectors of its
    sentences and its article's title sentence. No lexical index is built here."""
    from ingest.articles import Article
    from ingest.passages import Passage
    from ingest.pipeline import article_record
    from ingest.store import ArticleRecord

    from ..synth import synthetic_articles

    seconds = {"compose_s": 0.0, "upsert_s": 0.0, "commit_s": 0.0}
    store.record_vector_space(vector_space)
    buffer: list[tuple[Passage, np.ndarray]] = []
    pending: list[ArticleRecord] = []
    written = articles = 0

    def flush() -> None:
        t0 = time.perf_counter()
        store.upsert_passages(
            [p.passage_id for p, _ in buffer],
            np.stack([v for _, v in buffer]),
            [p.text for p, _ in buffer],
            [p.metadata() for p, _ in buffer],
        )
        t1 = time.perf_counter()
        store.commit_articles(pending)
        seconds["upsert_s"] += t1 - t0
        seconds["commit_s"] += time.perf_counter() - t1
        buffer.clear()
        pending.clear()

    t0 = time.perf_counter()
    for synth in synthetic_articles(size, seed, pool):  # every article yields at least one passage
        if written >= size:
            break
        text = synth.text(pool)
        article = Article(
            title=synth.title,
            text=text,
            origin=f"synthetic/archive-{seed}.jsonl#{synth.id}",
            published=synth.published,
            source=synth.source,
            url=synth.url,
        )
        groups = _pack(synth.sentence_spans(pool), tokens, passage_tokens)[: size - written]
        for index, group in enumerate(groups):
            start, end = group[0][1], group[-1][2]
            passage = Passage.of(article, index, start, end)
            mean = vectors[[synth.title_sentence, *(i for i, _, _ in group)]].mean(axis=0)
            buffer.append((passage, (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)))
        pending.append(article_record(article, len(groups)))
        written += len(groups)
        articles += 1
        if len(buffer) >= flush_every:
            seconds["compose_s"] += time.perf_counter() - t0
            flush()
            t0 = time.perf_counter()
    seconds["compose_s"] += time.perf_counter() - t0
    if buffer:
        flush()
    return {"passages": written, "articles": articles, "seconds": seconds}


def _pack(
    spans: Sequence[tuple[int, int, int]], tokens: Sequence[int], budget: int
) -> list[list[tuple[int, int, int]]]:
    """Consecutive sentences grouped up to `budget` tokens (a longer sentence stands alone)."""
    groups: list[list[tuple[int, int, int]]] = []
    current: list[tuple[int, int, int]] = []
    used = 0
    for span in spans:
        cost = tokens[span[0]]
        if current and used + cost > budget:
            groups.append(current)
            current, used = [], 0
        current.append(span)
        used += cost
    if current:
        groups.append(current)
    return groups


def render_retrieval(data: dict[str, Any]) -> str:
    sizes = data["sizes"]
    build_rows = [
        [
            s["passages"], s["articles"], s["build_s"], s["build"]["compose_s"], s["build"]["upsert_s"],
            s["build"]["commit_s"], s["bm25_rebuild_s"], s["bm25_load_s"], s["rebuild_over_load"],
            s["startup_s"], s["startup_rebuilt_index"], s["store_mb"], s["peak_rss_mb"],
        ]
        for s in sizes
    ]  # fmt: skip
    query_rows = [
        [s["passages"]]
        + [
            1000 * s["retrieve_s"][part][q]
            for part in ("total", "embed", "dense", "lexical", "fuse")
            for q in ("p50", "p95")
        ]
        for s in sizes
    ]
    live_rows = [
        [
            s["passages"], u["passages"], u["ingest_s"], u["embed_s"], u["steps_s"].get("ledger_read_s", 0.0),
            u["steps_s"].get("chroma_upsert_s", 0.0), u["steps_s"].get("ledger_commit_s", 0.0),
            u["steps_s"].get("lexical_update_s", 0.0), u["answerable_s"], u["retriever_startup_s"],
            u["retriever_peak_rss_mb"],
        ]
        for s in sizes
        if (u := s.get("live_update"))
    ]  # fmt: skip
    model_rows = [
        [
            s["passages"], m["import_s"], m["startup_s"],
            *(first.get(k) for k in ("retrieve_s", "first_token_s", "total_s")),
            m["peak_rss_mb"], m["error"].strip().splitlines()[-1] if m["error"].strip() else "",
        ]
        for s in sizes
        if (m := s.get("with_model"))
        for first in [m["answers"][0] if m["answers"] else {}]
    ]  # fmt: skip
    served = (
        [
            "the assistant with the local model, started in a process of its own (seconds; its first answer; "
            "peak MB of the process):",
            table(
                "passages|import s|start-up s|retrieve s|first token s|total s|peak MB|error".split("|"),
                model_rows,
            ),
        ]
        if model_rows
        else []
    )
    pool = data["pool"]
    live = (
        [
            "adding 10 articles until a retriever in another process answers from them (seconds; start-up "
            "and peak MB of that retriever):",
            table(
                "passages|new passages|ingest s|embed|ledger read|chroma upsert|ledger commit|lexical|"
                "answerable s|start-up s|retriever MB".split("|"),
                live_rows,
            ),
        ]
        if live_rows
        else []
    )
    return "\n\n".join(
        [
            header("retrieval", data),
            f"pool of {pool['sentences']} sentences embedded in {pool['embed_s']:.1f} s; passages of about "
            f"{data['passage_tokens']} tokens; {data['queries']} queries after {data['warmup']} warm-up, "
            f"k={data['candidates']}",
            table(
                "passages|articles|build s|compose|upsert|ledger|bm25 rebuild s|bm25 load s|"
                "rebuild/load|start-up s|rebuilt?|store MB|peak MB".split("|"),
                build_rows,
            ),
            "retrieve, milliseconds:",
            table(
                "passages|total p50|p95|embed p50|p95|dense p50|p95|lexical p50|p95|fuse p50|p95".split("|"),
                query_rows,
            ),
            *live,
            *served,
        ]
    )

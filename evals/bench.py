"""Speed benchmarks of ingest, retrieval and answers: readable tables on stdout, every figure in JSON.

    python -m evals.bench ingest --articles 2000
    python -m evals.bench retrieval --sizes 1000 10000 100000
    python -m evals.bench answers [--limit 3]
    python -m evals.bench versus [--limit 3]   # ours vs the plain llama-index pipeline, one run
    python -m evals.bench all

Each section is a function returning a dict (seconds, megabytes, rates) that also names the machine and
the date; `main` prints it as tables and merges it into the JSON file under the section's name, so
sections can be run one at a time. `all` runs every section in a child process of its own, so each
section's peak memory is its own. Everything is written to fresh temporary data dirs; the user's archive
is never touched. Nothing here asserts a speed: the targets are reported beside the figures.

Left out on purpose: repeated runs with confidence intervals (run the command again), GPU anything, and
remote backends (the figures are for the default local set-up).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from itertools import cycle, islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    from assistant.settings import Settings
    from ingest.embedding import MiniLMEmbedding
    from ingest.store import PassageStore

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
CLAPNQ = ROOT / "evals" / "sets" / "clapnq_dev"
SEEDS_DEV = ROOT / "evals" / "sets" / "seeds_dev"
SEEDS_LARGE = ROOT / "evals" / "sets" / "seeds_large"
DEFAULT_OUT = ROOT / "evals" / "bench-results.json"
SECTIONS = ("ingest", "retrieval", "answers", "versus")

COLD_QUESTION = "How many jobs will the biopharma plant create?"
BATCH_SIZES = (4, 8, 16, 32, 64)
LEVER_PASSAGES = 256
LEVER_REPEATS = 3
PASSAGE_TOKENS = 150  # synthetic retrieval passages: sentences packed up to about this many tokens
BM25_LOAD_REPEATS = 3
TARGET_PIPELINE_OVER_RAW = 1.10
TARGET_REINGEST_ARTICLES_S = 500.0

T = TypeVar("T")


# --- small helpers ----------------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between ranks (numpy's default method)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0-100, got {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def spread(values: Sequence[float]) -> dict[str, float]:
    """p50, p95, mean, min and max of `values` (all zero when there are none)."""
    if not values:
        return {"n": 0, "p50": 0.0, "p95": 0.0, "mean": 0.0, "min": 0.0, "max": 0.0}
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "mean": sum(values) / len(values),
        "min": min(values),
        "max": max(values),
    }


def timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    """(result, wall seconds, CPU seconds of this process: all its threads)."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = fn()
    return result, time.perf_counter() - wall0, time.process_time() - cpu0


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (a high-water mark: it never goes down)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6 if path.exists() else 0.0


def machine() -> dict[str, Any]:
    """Where and when the figures were taken, including how busy the machine was."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    versions = {}
    for package in ("onnxruntime", "chromadb", "bm25s", "llama_cpp_python", "llama-index-core", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count() or 1,
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": model or platform.processor() or "unknown",
        "memory_gb": memory_gb,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "commit": _commit(),
        "versions": versions,
    }


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip()


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _settings(data_dir: Path, base: Settings | None = None, **update: Any) -> Settings:
    from assistant.settings import Settings

    return (base or Settings()).model_copy(update={"data_dir": data_dir, **update})


def _embedder(settings: Settings) -> tuple[MiniLMEmbedding, float]:
    """The local ONNX embedder as the settings size it, loaded now; and its load time."""
    from ingest.embedding import MiniLMEmbedding

    embedder = MiniLMEmbedding(threads=settings.embed_threads, embed_batch_size=settings.embed_batch)
    _, seconds, _ = timed(lambda: embedder.encode(["warm up"]))
    return embedder, seconds


def load_questions(paths: Iterable[Path]) -> list[list[str]]:
    """The questions of each set, in file order."""
    out = []
    for path in paths:
        file = path / "questions.jsonl"
        rows = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
        out.append([str(row["question"]) for row in rows])
    return out


def interleave(lists: Sequence[Sequence[T]]) -> list[T]:
    """a1, b1, a2, b2, ... then the rest of the longer lists."""
    out: list[T] = []
    for i in range(max((len(x) for x in lists), default=0)):
        out.extend(x[i] for x in lists if i < len(x))
    return out


# --- 1. ingest --------------------------------------------------------------------------------------------
def ingest_section(
    articles: int = 2000, seed: int = 0, settings: Settings | None = None, workdir: Path | None = None
) -> dict[str, Any]:
    """Ingest the seeds, the ClapNQ corpus and a synthetic archive into fresh data dirs; compare with the
    embedder alone on the same passage texts; re-ingest unchanged; time the embedder's batch sizes."""
    from .synth import generate_archive

    started = machine()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-", dir=workdir) as tmp_name:
        tmp = Path(tmp_name)
        base = _settings(tmp / "unused", settings)
        embedder, load_s = _embedder(base)
        first_use = _first_use(tmp / "scratch", base)
        _say(f"ingest: generating a synthetic archive of {articles} articles")
        archive, synth_s, _ = timed(
            lambda: generate_archive(tmp / "synthetic" / f"synthetic-{articles}.jsonl", articles, seed)
        )
        corpora = [("seeds", SEEDS), ("clapnq_dev", CLAPNQ / "corpus"), (f"synthetic-{articles}", archive)]
        rows = []
        texts: list[str] = []
        for name, path in corpora:
            _say(f"ingest: {name}")
            row, texts = _ingest_one(name, path, _settings(tmp / f"data-{name}", base), embedder)
            rows.append(row)
        _say("ingest: embedder batch sizes")
        lever = _batch_lever(embedder, texts, BATCH_SIZES)
    return {
        "machine": started,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "settings": {
            "chunk_tokens": base.chunk_tokens,
            "chunk_overlap": base.chunk_overlap,
            "embed_batch": base.embed_batch,
            "embed_threads": base.embed_threads,
        },
        "embedder_load_s": load_s,
        "first_use_s": first_use,
        "synthetic_archive": {"articles": articles, "seed": seed, "generate_s": synth_s},
        "corpora": rows,
        "batch_sizes": lever,
        "targets": {
            "pipeline_over_raw": f"<= {TARGET_PIPELINE_OVER_RAW:.2f}",
            "reingest_articles_per_s": f">= {TARGET_REINGEST_ARTICLES_S:.0f}",
        },
        "peak_rss_mb": peak_rss_mb(),
    }


def _first_use(scratch: Path, base: Settings) -> dict[str, float]:
    """One-off costs of a process's first ingest (imports, tokenizer, Chroma start), paid here so the
    per-corpus figures are steady-state."""
    from ingest.passages import PassageSplitter
    from ingest.store import PassageStore

    _, splitter_s, _ = timed(lambda: PassageSplitter(base.chunk_tokens, base.chunk_overlap))
    _, chroma_s, _ = timed(lambda: PassageStore(_settings(scratch, base)).count())
    return {"splitter_s": splitter_s, "chroma_open_s": chroma_s}


def _ingest_one(
    name: str, path: Path, settings: Settings, embedder: MiniLMEmbedding
) -> tuple[dict[str, Any], list[str]]:
    from ingest import ingest_paths
    from ingest.lexical import rebuild_lexical_index
    from ingest.passages import PassageSplitter
    from ingest.readers import find_files, read_file
    from ingest.store import PassageStore

    store = PassageStore(settings)
    report, seconds, cpu = timed(lambda: ingest_paths([path], settings, store=store, embedder=embedder))

    # The same passage texts, prepared outside the pipeline (reading and splitting timed on the way).
    def read() -> list[Any]:
        kept, ids, hashes = [], set(), set()
        for file, origin in find_files([path]):
            for article in read_file(file, origin, int(settings.max_file_mb * 1024 * 1024)).articles:
                if article.article_id not in ids and article.content_hash not in hashes:  # as the pipeline
                    kept.append(article)
                ids.add(article.article_id)
                hashes.add(article.content_hash)
        return kept

    read_articles, read_s, _ = timed(read)
    splitter = PassageSplitter(settings.chunk_tokens, settings.chunk_overlap)
    split, split_s, _ = timed(lambda: [p for a in read_articles for p in splitter.split(a)])
    texts = [p.embedding_text() for p in split]
    _, raw_s, raw_cpu = timed(lambda: embedder.encode(texts))
    _, lexical_s, _ = timed(lambda: rebuild_lexical_index(store, settings.state_dir / "bm25"))

    rest_s = max(0.0, seconds - report.embed_seconds - read_s - split_s - lexical_s)
    again, again_s, _ = timed(lambda: ingest_paths([path], settings, store=store, embedder=embedder))
    passages = report.passages_written
    row = {
        "corpus": name,
        "articles": report.new + report.changed,
        "passages": passages,
        "failed": len(report.failed),
        "duplicates": len(report.duplicates),
        "seconds": seconds,
        "cpu_s": cpu,
        "passages_per_s": passages / seconds if seconds else 0.0,
        "embed_s": report.embed_seconds,
        "embed_share": report.embed_seconds / seconds if seconds else 0.0,
        "raw": {
            "passages": len(texts),
            "same_passages": len(texts) == passages,
            "seconds": raw_s,
            "cpu_s": raw_cpu,
            "passages_per_s": len(texts) / raw_s if raw_s else 0.0,
        },
        "pipeline_over_raw": seconds / raw_s if raw_s else 0.0,
        "pipeline_over_raw_cpu": cpu / raw_cpu if raw_cpu else 0.0,
        "embed_in_pipeline_over_raw": report.embed_seconds / raw_s if raw_s else 0.0,
        # The pipeline's other steps timed apart from it; `rest` is what is left: Chroma writes, the
        # per-article lookups and deletes, the ledger commits.
        "outside_embedder": {
            "read_s": read_s,
            "split_s": split_s,
            "bm25_rebuild_s": lexical_s,
            "rest_s": rest_s,
            "rest_per_article_ms": 1000 * rest_s / max(1, report.new + report.changed),
        },
        "meets_pipeline_target": bool(raw_s and seconds / raw_s <= TARGET_PIPELINE_OVER_RAW),
        "reingest": {
            "articles": again.unchanged,
            "written": again.new + again.changed,
            "seconds": again_s,
            "articles_per_s": again.unchanged / again_s if again_s else 0.0,
            "meets_target": bool(again_s and again.unchanged / again_s >= TARGET_REINGEST_ARTICLES_S),
        },
        "store_mb": dir_mb(settings.chroma_dir),
        "peak_rss_mb": peak_rss_mb(),
    }
    return row, texts


def _batch_lever(embedder: MiniLMEmbedding, texts: list[str], sizes: Sequence[int]) -> dict[str, Any]:
    """The embedder alone on up to 256 passages spread over `texts`, at each batch size (best of 3)."""
    step = max(1, len(texts) // LEVER_PASSAGES)
    sample = texts[::step][:LEVER_PASSAGES]
    original = embedder.embed_batch_size
    rows = []
    try:
        for size in sizes:
            embedder.embed_batch_size = size
            runs = [timed(lambda: embedder.encode(sample))[1] for _ in range(LEVER_REPEATS)]
            best = min(runs)
            rows.append(
                {
                    "batch": size,
                    "best_s": best,
                    "median_s": percentile(runs, 50),
                    "passages_per_s": len(sample) / best if best else 0.0,
                    "rss_after_mb": current_rss_mb(),  # onnxruntime's arena keeps the largest batch's memory
                }
            )
    finally:
        embedder.embed_batch_size = original
    return {"passages": len(sample), "repeats": LEVER_REPEATS, "runs": rows}


# --- 2. retrieval -----------------------------------------------------------------------------------------
def retrieval_section(
    sizes: Sequence[int] = (1000, 10000, 100000),
    queries: int = 50,
    warmup: int = 5,
    seed: int = 0,
    settings: Settings | None = None,
    embedder: MiniLMEmbedding | None = None,
    pool_limit: int | None = None,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Synthetic archives of `sizes` passages (vectors from a pool of sentence vectors, not the embedder),
    then `queries` timed retrievals after `warmup` untimed ones, and BM25 load vs rebuild, per size."""
    from ingest.passages import count_tokens

    from .synth import sentence_pool

    started = machine()
    base = settings or _settings(Path("unused"))
    load_s = 0.0
    if embedder is None:
        embedder, load_s = _embedder(base)
    pool = sentence_pool()[:pool_limit]
    _say(f"retrieval: embedding a pool of {len(pool)} sentences")
    vectors, pool_s, _ = timed(lambda: embedder.encode(list(pool)))
    tokens = [count_tokens(s) for s in pool]
    questions = interleave(load_questions([SEEDS_LARGE, CLAPNQ]))
    warm, timed_questions = questions[:warmup], list(islice(cycle(questions[warmup:]), queries))
    rows = []
    for size in sizes:
        _say(f"retrieval: {size} passages")
        with tempfile.TemporaryDirectory(prefix="bench-retrieval-", dir=workdir) as tmp:
            settings_n = _settings(Path(tmp) / "data", base)
            rows.append(
                _retrieval_one(size, settings_n, embedder, pool, vectors, tokens, warm, timed_questions, seed)
            )
    return {
        "machine": started,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
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
    embedder: MiniLMEmbedding,
    pool: Sequence[str],
    vectors: np.ndarray,
    tokens: Sequence[int],
    warm: Sequence[str],
    questions: Sequence[str],
    seed: int,
) -> dict[str, Any]:
    from assistant.retrieval import HybridRetriever
    from ingest.lexical import LexicalIndex, rebuild_lexical_index
    from ingest.store import PassageStore

    store = PassageStore(settings)
    build, build_s, _ = timed(lambda: build_synthetic_store(store, size, pool, vectors, tokens, seed))
    index_dir = settings.state_dir / "bm25"
    _, rebuild_s, _ = timed(lambda: rebuild_lexical_index(store, index_dir))

    # Start-up as the query engine does it: ledger + saved index, which must load, not rebuild.
    retriever = HybridRetriever(settings, store, embedder)
    stamp_before = (index_dir / "stamp.json").stat().st_mtime_ns
    _, startup_s, _ = timed(retriever.snapshot)
    rebuilt_at_startup = (index_dir / "stamp.json").stat().st_mtime_ns != stamp_before
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
    load_s = percentile(loads, 50)
    return {
        "passages": build["passages"],
        "articles": build["articles"],
        "build_s": build_s + rebuild_s,
        "build": {**build["seconds"], "bm25_rebuild_s": rebuild_s},
        "startup_s": startup_s,
        "startup_rebuilt_index": rebuilt_at_startup,
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
) -> dict[str, Any]:
    """Write `size` passages of synthetic articles straight into `store`, as ingest would (passages, then
    one ledger record per article), each passage's vector being the normalised mean of the vectors of its
    sentences and its article's title sentence. No lexical index is built here."""
    from ingest.articles import Article
    from ingest.passages import Passage
    from ingest.pipeline import article_record
    from ingest.store import ArticleRecord

    from .synth import synthetic_articles

    seconds = {"compose_s": 0.0, "upsert_s": 0.0, "commit_s": 0.0}
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


# --- 3. answers -------------------------------------------------------------------------------------------
def answers_section(
    limit: int | None = None,
    fresh_model_cache: bool = False,
    settings: Settings | None = None,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Cold start of `python -m assistant ask` (twice), then in-process answers to the seeds_dev questions
    with the local model: time to first token, total, tokens, peak memory with the model loaded."""
    from assistant import Assistant
    from assistant.errors import AssistantError
    from assistant.generation import build_chat_model
    from assistant.model_files import GGUF_NAME
    from ingest import ingest_paths

    started = machine()
    with tempfile.TemporaryDirectory(prefix="bench-answers-", dir=workdir) as tmp_name:
        tmp = Path(tmp_name)
        update: dict[str, Any] = {"llm_backend": "local"}
        if fresh_model_cache:
            update["model_cache_dir"] = tmp / "model-cache"
        local = _settings(tmp / "data", settings, **update)
        _say("answers: ingesting the seeds")
        seeded, seed_s, _ = timed(lambda: ingest_paths([SEEDS], local))
        model_cached = (local.model_cache_dir / GGUF_NAME).is_file()

        env = dict(os.environ, PYTHONUNBUFFERED="1", ASSISTANT_MODEL_CACHE_DIR=str(local.model_cache_dir))
        command = [
            sys.executable, "-m", "assistant", "ask", "--backend", "local",
            "--data-dir", str(local.data_dir), COLD_QUESTION,
        ]  # fmt: skip
        # Run 1 starts without the saved prompt-prefix state (as the very first start does), so it
        # evaluates the prefix and saves it; run 2, like every later start, restores it.
        shutil.rmtree(local.model_cache_dir / "prompt-states", ignore_errors=True)
        cold = []
        for run in (1, 2):
            _say(f"answers: cold start {run} of 2")
            cold.append({**run_child(command, env), "prefix": "evaluated" if run == 1 else "restored"})

        _say("answers: loading the assistant in-process")
        chat_model = build_chat_model(local)
        bot, load_s, _ = timed(lambda: Assistant.from_settings(local, chat_model=chat_model))
        _, warm_s, _ = timed(bot.warm_up)
        rss_loaded = current_rss_mb()
        rows = []
        questions = _question_rows(SEEDS_DEV)[:limit]
        for number, row in enumerate(questions, start=1):
            _say(f"answers: question {number} of {len(questions)}")
            wall0 = time.perf_counter()
            try:
                answer = bot.ask(row["question"], row.get("history"))
            except AssistantError as exc:
                rows.append({"id": row["id"], "error": f"{type(exc).__name__}: {exc}"})
                continue
            wall = time.perf_counter() - wall0
            t = answer.timings
            generating = t.total - t.first_token
            rows.append(
                {
                    "id": row["id"],
                    "backend": answer.backend,
                    "refused": answer.refused,
                    "first_token_s": t.first_token,
                    "total_s": t.total or wall,
                    "retrieve_s": t.retrieve,
                    "condense_s": t.condense,
                    "prompt_tokens": t.prompt_tokens,
                    "completion_tokens": t.completion_tokens,
                    "decode_tokens_per_s": t.completion_tokens / generating
                    if t.completion_tokens and generating > 0
                    else None,
                }
            )
    ok = [r for r in rows if "error" not in r]
    generated = [r for r in ok if r["completion_tokens"]]
    backends: dict[str, int] = {}
    for r in ok:
        backends[r["backend"]] = backends.get(r["backend"], 0) + 1
    return {
        "machine": started,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "llm_threads": local.llm_threads,
        "llm_context": local.llm_context,
        "seed_ingest": {"articles": seeded.new, "passages": seeded.passages_written, "seconds": seed_s},
        "cold_start": {
            "question": COLD_QUESTION,
            "model_file_cached_before": model_cached,
            "fresh_model_cache": fresh_model_cache,
            "runs": cold,
        },
        "in_process": {
            "load_s": load_s,
            "warm_up_s": warm_s,
            "prefix_source": getattr(chat_model, "prefix_source", ""),
            "rss_after_warm_up_mb": rss_loaded,
            "questions": len(rows),
            "errors": len(rows) - len(ok),
            "refused": sum(1 for r in ok if r["refused"]),
            "backends": backends,
            "first_token_s": spread([r["first_token_s"] for r in generated]),
            "total_s": spread([r["total_s"] for r in ok]),
            "total_s_generated": spread([r["total_s"] for r in generated]),
            "prompt_tokens": spread([r["prompt_tokens"] for r in generated]),
            "completion_tokens": spread([r["completion_tokens"] for r in generated]),
            "decode_tokens_per_s": spread(
                [r["decode_tokens_per_s"] for r in generated if r["decode_tokens_per_s"] is not None]
            ),
            "per_question": rows,
        },
        "peak_rss_mb": peak_rss_mb(),
    }


def versus_section(
    limit: int | None = None, settings: Settings | None = None, workdir: Path | None = None
) -> dict[str, Any]:
    """Ours against the plain llama-index pipeline in one run, same embedder and model: ingest (ours vs
    `VectorStoreIndex.from_documents` with its default ingestion), retrieval (our hybrid retriever vs the
    stock vector retriever over the same collection) and answers on seeds_dev (time and accuracy)."""
    from assistant import Assistant
    from assistant.generation import build_chat_model
    from assistant.retrieval import HybridRetriever
    from ingest import ingest_paths
    from ingest.store import PassageStore

    from .baseline import SIMILARITY_TOP_K, BaselineAssistant, ingest_default
    from .judge import HeuristicJudge
    from .runner import EvalSet, run_set, summarise_results

    started = machine()
    with tempfile.TemporaryDirectory(prefix="bench-versus-", dir=workdir) as tmp_name:
        tmp = Path(tmp_name)
        base = _settings(tmp / "unused", settings, llm_backend="local")
        embedder, _ = _embedder(base)
        _first_use(tmp / "scratch", base)

        ingest_rows: list[dict[str, Any]] = []
        archives: dict[str, tuple[Settings, Settings]] = {}
        for name, path in (("seeds", SEEDS), ("clapnq_dev", CLAPNQ / "corpus")):
            _say(f"versus: ingest {name}")
            ours_s = _settings(tmp / f"ours-{name}", base)
            theirs_s = _settings(tmp / f"llamaindex-{name}", base)
            t0 = time.perf_counter()
            report = ingest_paths([path], ours_s, embedder=embedder)
            ours_t = time.perf_counter() - t0
            theirs_t, theirs_passages = ingest_default([path], theirs_s, embedder=embedder)
            archives[name] = (ours_s, theirs_s)
            ingest_rows.append(
                {
                    "corpus": name,
                    "articles": report.new,
                    "ours": {"seconds": ours_t, "passages": report.passages_written},
                    "llamaindex": {"seconds": theirs_t, "passages": theirs_passages},
                    "llamaindex_over_ours": theirs_t / ours_t if ours_t else 0.0,
                }
            )

        _say("versus: retrieval")
        ours_s, theirs_s = archives["clapnq_dev"]
        queries = [q["question"] for q in EvalSet.load(CLAPNQ).questions]
        ours_r = HybridRetriever(ours_s, PassageStore(ours_s), embedder)
        ours_r.warm_up()
        stock = _stock_retriever(theirs_s, embedder, SIMILARITY_TOP_K)
        for q in queries[:5]:  # warm-up, untimed
            ours_r.retrieve(q)
            stock.retrieve(q)
        ours_ms, stock_ms = [], []
        for q in queries:
            t0 = time.perf_counter()
            ours_r.retrieve(q)
            t1 = time.perf_counter()
            stock.retrieve(q)
            ours_ms.append(1000 * (t1 - t0))
            stock_ms.append(1000 * (time.perf_counter() - t1))
        retrieval: dict[str, Any] = {
            "archive": "clapnq_dev corpus",
            "queries": len(queries),
            "ours_ms": spread(ours_ms),
            "llamaindex_ms": spread(stock_ms),
            "llamaindex_k": SIMILARITY_TOP_K,
            "ours_k": ours_s.candidates,
        }

        _say("versus: answers on seeds_dev (ours, then the llama-index pipeline)")
        eval_set = EvalSet.load(SEEDS_DEV)
        ours_s = archives["seeds"][0]
        chat_model = build_chat_model(ours_s)
        bot = Assistant.from_settings(ours_s, embedder=embedder, chat_model=chat_model)
        bot.warm_up()
        judge = HeuristicJudge()
        ours_summary = summarise_results(list(run_set(eval_set, bot, judge=judge, limit=limit)))
        theirs = BaselineAssistant.from_settings(ours_s, chat_model=chat_model, embedder=embedder)
        theirs.warm_up()
        theirs_results = list(run_set(eval_set, theirs, judge=judge, limit=limit))  # type: ignore[arg-type]
        theirs_summary = summarise_results(theirs_results)

    def answers(summary: dict[str, Any]) -> dict[str, Any]:
        overall = summary["overall"]
        keep = (
            *("n", "accuracy", "answerable_right_and_cited", "refusal_recall", "citation_precision"),
            *("first_token_p50_s", "first_token_p95_s", "total_p50_s", "total_p95_s"),
        )
        return {k: overall.get(k) for k in keep}

    ours_a, theirs_a = answers(ours_summary), answers(theirs_summary)
    return {
        "machine": started,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "ingest": ingest_rows,
        "retrieval": retrieval,
        "answers": {"set": "seeds_dev", "ours": ours_a, "llamaindex": theirs_a},
        "ratios": {
            "ingest": [r["llamaindex_over_ours"] for r in ingest_rows],
            "retrieval_p50": _ratio(retrieval["llamaindex_ms"]["p50"], retrieval["ours_ms"]["p50"]),
            "answer_total_p50": _ratio(theirs_a.get("total_p50_s"), ours_a.get("total_p50_s")),
        },
        "peak_rss_mb": peak_rss_mb(),
    }


def _ratio(a: Any, b: Any) -> float | None:
    return float(a) / float(b) if isinstance(a, int | float) and isinstance(b, int | float) and b else None


def _stock_retriever(settings: Settings, embedder: Any, k: int) -> Any:
    """llama-index's stock vector retriever over the collection `ingest_default` built."""
    from ingest.store import chroma_client

    from .baseline import vector_index

    collection = chroma_client(settings).get_collection(f"{settings.collection}-baseline")
    return vector_index(collection, embedder).as_retriever(similarity_top_k=k)


def _question_rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate((path / "questions.jsonl").read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            row = json.loads(line)
            row.setdefault("id", f"q{number}")
            rows.append(row)
    return rows


def run_child(
    command: Sequence[str], env: dict[str, str] | None = None, capture: bool = True
) -> dict[str, Any]:
    """Run a process to its end: wall time to its first output and to its exit, its own peak memory.
    Without `capture` its output goes to ours (and nothing of it is returned)."""
    started = time.perf_counter()
    first: float | None = None
    out = b""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            list(command),
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE if capture else None,
            stderr=err if capture else None,
        )
        if proc.stdout is not None:
            chunks = []
            while data := os.read(proc.stdout.fileno(), 65536):
                if first is None:
                    first = time.perf_counter()
                chunks.append(data)
            proc.stdout.close()
            out = b"".join(chunks)
        _, status, usage = os.wait4(proc.pid, 0)
        ended = time.perf_counter()
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        error_tail = err.read().decode("utf-8", "replace")[-2000:]
    text = out.decode("utf-8", "replace")
    return {
        "returncode": proc.returncode,
        "to_output_s": (first - started) if first is not None else None,
        "wall_s": ended - started,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "output_head": text[:300],
        "stderr_tail": error_tail if proc.returncode else error_tail[-300:],
    }


# --- tables -----------------------------------------------------------------------------------------------
def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain text table: text left-aligned, numbers right-aligned."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    numeric = [all(_is_number(r[i]) for r in cells) and bool(cells) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3f}" if abs(value) >= 0.001 else f"{value:.5f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _is_number(text: str) -> bool:
    return text == "-" or text.replace(",", "").replace(".", "").replace("%", "").lstrip("-").isdigit()


def _cols(names: str) -> list[str]:
    return names.split("|")


def _ms(seconds: float) -> float:
    return seconds * 1000


def _header(title: str, data: dict[str, Any]) -> str:
    m = data["machine"]
    load = ", ".join(str(x) for x in m["load_average"])
    return (
        f"== {title} == {m['date']}  {m['cores']} cores ({m['cpu_model']}), {m['memory_gb']} GB, "
        f"load average {load} -> {', '.join(str(x) for x in data.get('load_average_after', []))}"
    )


def render_ingest(data: dict[str, Any]) -> str:
    corpora = data["corpora"]
    main_rows = [
        [
            c["corpus"], c["articles"], c["passages"], c["seconds"], c["passages_per_s"],
            f"{100 * c['embed_share']:.0f}%", c["raw"]["seconds"], c["raw"]["passages_per_s"],
            c["pipeline_over_raw"], c["pipeline_over_raw_cpu"], c["peak_rss_mb"],
        ]
        for c in corpora
    ]  # fmt: skip
    parts_rows = [
        [
            c["corpus"], c["embed_s"], c["outside_embedder"]["read_s"], c["outside_embedder"]["split_s"],
            c["outside_embedder"]["bm25_rebuild_s"], c["outside_embedder"]["rest_s"],
            c["outside_embedder"]["rest_per_article_ms"], c["raw"]["same_passages"], c["store_mb"],
        ]
        for c in corpora
    ]  # fmt: skip
    again_rows = [
        [c["corpus"], c["reingest"]["articles"], c["reingest"]["written"], c["reingest"]["seconds"],
         c["reingest"]["articles_per_s"], c["reingest"]["meets_target"]]
        for c in corpora
    ]  # fmt: skip
    lever = data["batch_sizes"]
    lever_rows = [
        [r["batch"], r["best_s"], r["median_s"], r["passages_per_s"], r["rss_after_mb"]]
        for r in lever["runs"]
    ]
    s = data["settings"]
    return "\n\n".join(
        [
            _header("ingest", data),
            f"passages of {s['chunk_tokens']} tokens ({s['chunk_overlap']} overlap), embedder batch "
            f"{s['embed_batch']}, {s['embed_threads']} threads; "
            f"embedder load {data['embedder_load_s']:.2f} s; first use (not in the figures below): splitter "
            f"{data['first_use_s']['splitter_s']:.2f} s, Chroma {data['first_use_s']['chroma_open_s']:.2f} s",
            table(
                _cols(
                    "corpus|articles|passages|seconds|passages/s|embed share|raw s|raw passages/s|"
                    "pipeline/raw|(cpu)|peak MB"
                ),
                main_rows,
            ),
            f"target pipeline/raw {data['targets']['pipeline_over_raw']}",
            table(
                _cols(
                    "corpus|embed s (in pipeline)|read s|split s|bm25 rebuild s|rest s|rest ms/article|"
                    "same passages|store MB"
                ),
                parts_rows,
            ),
            "re-ingest of the unchanged corpus (target articles/s "
            f"{data['targets']['reingest_articles_per_s']}):",
            table(["corpus", "unchanged", "written", "seconds", "articles/s", "meets target"], again_rows),
            f"embedder alone on {lever['passages']} passages, best of {lever['repeats']}:",
            table(_cols("batch|best s|median s|passages/s|RSS after MB"), lever_rows),
        ]
    )


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
    query_rows = []
    for s in sizes:
        r = s["retrieve_s"]
        query_rows.append(
            [s["passages"]]
            + [
                _ms(r[part][q])
                for part in ("total", "embed", "dense", "lexical", "fuse")
                for q in ("p50", "p95")
            ]
        )
    pool = data["pool"]
    return "\n\n".join(
        [
            _header("retrieval", data),
            f"pool of {pool['sentences']} sentences embedded in {pool['embed_s']:.1f} s; passages of about "
            f"{data['passage_tokens']} tokens; {data['queries']} queries after {data['warmup']} warm-up, "
            f"k={data['candidates']}",
            table(
                _cols(
                    "passages|articles|build s|compose|upsert|ledger|bm25 rebuild s|bm25 load s|"
                    "rebuild/load|start-up s|rebuilt?|store MB|peak MB"
                ),
                build_rows,
            ),
            "retrieve, milliseconds:",
            table(
                _cols("passages|total p50|p95|embed p50|p95|dense p50|p95|lexical p50|p95|fuse p50|p95"),
                query_rows,
            ),
        ]
    )


def render_answers(data: dict[str, Any]) -> str:
    cold = data["cold_start"]
    cold_rows = [
        [
            n,
            r.get("prefix", "?"),
            r["returncode"],
            r["to_output_s"],
            r["wall_s"],
            r["cpu_s"],
            r["peak_rss_mb"],
        ]
        for n, r in enumerate(cold["runs"], start=1)
    ]
    p = data["in_process"]
    stat_rows = [
        [name, p[key]["n"], p[key]["p50"], p[key]["p95"], p[key]["mean"], p[key]["max"]]
        for name, key in (
            ("first token s", "first_token_s"),
            ("total s", "total_s"),
            ("total s (model answered)", "total_s_generated"),
            ("prompt tokens", "prompt_tokens"),
            ("completion tokens", "completion_tokens"),
            ("decode tokens/s", "decode_tokens_per_s"),
        )
    ]
    backends = ", ".join(f"{k}: {v}" for k, v in p["backends"].items()) or "none"
    return "\n\n".join(
        [
            _header("answers", data),
            f'cold start: python -m assistant ask "{cold["question"]}" (model file cached before: '
            f"{_cell(cold['model_file_cached_before'])})",
            table(
                ["run", "prompt prefix", "exit", "to answer s", "to exit s", "cpu s", "peak MB"], cold_rows
            ),
            f"in-process: load {p['load_s']:.2f} s, warm-up {p['warm_up_s']:.2f} s (prefix "
            f"{p.get('prefix_source') or '?'}), RSS after warm-up "
            f"{p['rss_after_warm_up_mb']:.0f} MB, peak {data['peak_rss_mb']:.0f} MB; {p['questions']} "
            f"questions, {p['refused']} refused, {p['errors']} errors; backends {backends}; "
            f"{data['llm_threads']} threads",
            table(["", "n", "p50", "p95", "mean", "max"], stat_rows),
        ]
    )


def render_versus(data: dict[str, Any]) -> str:
    ingest_rows = [
        [
            r["corpus"],
            r["articles"],
            r["ours"]["passages"],
            r["ours"]["seconds"],
            r["llamaindex"]["passages"],
            r["llamaindex"]["seconds"],
            r["llamaindex_over_ours"],
        ]
        for r in data["ingest"]
    ]
    ret = data["retrieval"]
    retrieval_rows = [
        [f"ours (hybrid, k={ret['ours_k']})", ret["ours_ms"]["p50"], ret["ours_ms"]["p95"]],
        [
            f"llama-index (vector, k={ret['llamaindex_k']})",
            ret["llamaindex_ms"]["p50"],
            ret["llamaindex_ms"]["p95"],
        ],
    ]
    a = data["answers"]
    names = [
        ("accuracy", "accuracy"),
        ("right and cited", "answerable_right_and_cited"),
        ("refusal recall", "refusal_recall"),
        ("citation precision", "citation_precision"),
        ("first token p50 s", "first_token_p50_s"),
        ("total p50 s", "total_p50_s"),
        ("total p95 s", "total_p95_s"),
    ]
    answer_rows = [[label, a["ours"].get(key), a["llamaindex"].get(key)] for label, key in names]
    ratios = data["ratios"]
    return "\n\n".join(
        [
            _header("versus (the plain llama-index pipeline, same embedder and model)", data),
            "ingest, fresh archive (llama-index: SimpleDirectoryReader + VectorStoreIndex.from_documents):",
            table(
                ["corpus", "articles", "ours passages", "ours s", "l-i passages", "l-i s", "l-i/ours"],
                ingest_rows,
            ),
            f"retrieval over the {ret['archive']}, {ret['queries']} queries, milliseconds:",
            table(["", "p50", "p95"], retrieval_rows),
            f"answers on {a['set']} (heuristic judge):",
            table(["", "ours", "llama-index"], answer_rows),
            "llama-index / ours: ingest "
            + ", ".join(f"{r:.2f}x" for r in ratios["ingest"])
            + f"; retrieval p50 {_cell(ratios['retrieval_p50'])}x; answer total p50 "
            + f"{_cell(ratios['answer_total_p50'])}x",
        ]
    )


RENDER = {
    "ingest": render_ingest,
    "retrieval": render_retrieval,
    "answers": render_answers,
    "versus": render_versus,
}


# --- command line -----------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evals.bench",
        description="Speed benchmarks: tables on stdout, every figure in a JSON file (merged by section).",
        epilog="Examples:\n  python -m evals.bench ingest --articles 200\n"
        "  python -m evals.bench retrieval --sizes 1000 --queries 10\n"
        "  python -m evals.bench answers --limit 3\n  python -m evals.bench all",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("section", choices=[*SECTIONS, "all"])
    parser.add_argument(
        "--articles", type=int, default=2000, help="ingest: articles in the synthetic archive (default 2000)"
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[1000, 10000, 100000],
        help="retrieval: archive sizes in passages (default 1000 10000 100000)",
    )
    parser.add_argument(
        "--queries", type=int, default=50, help="retrieval: timed queries per size (default 50)"
    )
    parser.add_argument(
        "--warmup", type=int, default=5, help="retrieval: untimed warm-up queries first (default 5)"
    )
    parser.add_argument("--limit", type=int, help="answers, versus: only the first N seeds_dev questions")
    parser.add_argument(
        "--fresh-model-cache",
        action="store_true",
        help="answers: assemble the model into an empty cache, so the first cold start includes it",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic archives (default 0)")
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="JSON file, merged by section (default evals/bench-results.json)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # a section run by `all`
    parser.add_argument("--workdir", type=Path, help="where the temporary data dirs go (default: $TMPDIR)")
    return parser


def run_section(name: str, args: argparse.Namespace) -> dict[str, Any]:
    if name == "ingest":
        return ingest_section(args.articles, args.seed, workdir=args.workdir)
    if name == "retrieval":
        return retrieval_section(args.sizes, args.queries, args.warmup, args.seed, workdir=args.workdir)
    if name == "versus":
        return versus_section(args.limit, workdir=args.workdir)
    return answers_section(args.limit, args.fresh_model_cache, workdir=args.workdir)


def save(out: Path, section: str, data: dict[str, Any]) -> None:
    """Merge one section into the JSON file (other sections are kept), atomically."""
    try:
        merged = json.loads(out.read_text(encoding="utf-8"))
        if not isinstance(merged, dict):
            merged = {}
    except (OSError, ValueError):
        merged = {}
    merged[section] = data
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(merged, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, out)


def _forwarded(args: argparse.Namespace) -> list[str]:
    """The options of `args` as command-line flags for a child running one section."""
    out = ["--articles", str(args.articles), "--sizes", *map(str, args.sizes)]
    out += ["--queries", str(args.queries), "--warmup", str(args.warmup), "--seed", str(args.seed)]
    if args.limit is not None:
        out += ["--limit", str(args.limit)]
    if args.fresh_model_cache:
        out.append("--fresh-model-cache")
    if args.workdir is not None:
        out += ["--workdir", str(args.workdir)]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for key, value in (("ANONYMIZED_TELEMETRY", "False"), ("HF_HUB_OFFLINE", "1")):
        os.environ.setdefault(key, value)
    if args.section != "all":
        data = run_section(args.section, args)
        save(args.out, args.section, data)
        print(RENDER[args.section](data), flush=True)
        if not args.child:
            print(f"\nfigures saved in {args.out} under '{args.section}'", flush=True)
        return 0
    # Each section in a child process: its peak memory is its own, not the high-water mark of the others.
    failed = []
    forwarded = _forwarded(args)
    for section in SECTIONS:
        with tempfile.TemporaryDirectory(prefix="bench-all-") as tmp:
            part = Path(tmp) / "part.json"
            command = [
                sys.executable,
                "-m",
                "evals.bench",
                section,
                *forwarded,
                "--child",
                "--out",
                str(part),
            ]
            child = run_child(command, capture=False)
            try:
                data = json.loads(part.read_text(encoding="utf-8"))[section]
            except (OSError, ValueError, KeyError):
                failed.append(section)
                print(f"{section}: failed (exit {child['returncode']})\n{child['stderr_tail']}", flush=True)
                continue
        data["process"] = {k: child[k] for k in ("wall_s", "cpu_s", "peak_rss_mb", "returncode")}
        save(args.out, section, data)
    print(f"\nfigures saved in {args.out}" + (f"; failed: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

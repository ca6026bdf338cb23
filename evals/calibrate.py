"""Calibrate a support judge on HaluEval QA rows: is the right answer supported and the hallucinated one not?

Each row (`knowledge`, `question`, `right_answer`, `hallucinated_answer`) gives two cases with the
knowledge as the passage: the right answer (a positive) and the hallucinated one (a negative). The claim is
the answer text itself (`claim="answer"`, the default). "question + answer" (`claim="question+answer"`)
was tried as well and is less faithful to the test: the question's words are almost all in the knowledge,
so prefixing them lifts both classes alike and drowns the answer's own words (HeuristicJudge: AUC 0.649,
best accuracy 0.638, against 0.860 and 0.878 for the answer alone; figures in `evals/judge.py`). The cost
of the bare answer: 18 of the 300 right answers are "yes"/"no", which no lexical judge can check, so they
count as unsupported.

Reports accuracy and balanced accuracy at the judge's own decision (`supports`), rank-based AUC of its
`score`, and the threshold that maximises accuracy on these rows. Nothing here downloads anything.

    python -m evals.calibrate [--embed] [path/to/halueval_qa_sample.jsonl]
    python -m evals.calibrate --judge local --limit 100 --save   # the LLM judge (slow: a model call a case)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm import tqdm

from .judge import JUDGES, HeuristicJudge, Judge, build_judge, calibration_path, judge_id

__all__ = ["Calibration", "auc", "best_threshold", "calibrate", "cases", "load_rows"]

ClaimForm = Literal["answer", "question+answer"]
DEFAULT_SAMPLE = Path(__file__).resolve().parent / "calibration" / "halueval_qa_sample.jsonl"


@dataclass(frozen=True)
class Calibration:
    """How well a judge separates supported from hallucinated answers on `n` cases (two per row)."""

    n: int
    accuracy: float  # at the judge's own threshold (`supports`)
    balanced_accuracy: float
    auc: float
    threshold: float | None  # the judge's threshold, when it has one
    best_threshold: float  # maximises accuracy on these cases (score >= best_threshold)
    best_accuracy: float
    claim_form: str
    judge: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_rows(path: Path = DEFAULT_SAMPLE) -> list[dict[str, str]]:
    """The rows of a HaluEval QA jsonl file."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _claim(row: dict[str, str], answer: str, form: ClaimForm) -> str:
    if form == "question+answer":
        return f"{row['question'].strip()} {answer.strip()}"
    return answer.strip()


def cases(rows: Iterable[dict[str, str]], claim: ClaimForm = "answer") -> list[tuple[str, str, bool]]:
    """(claim, passage, supported) pairs: the right answer supported, the hallucinated one not."""
    out: list[tuple[str, str, bool]] = []
    for row in rows:
        out.append((_claim(row, row["right_answer"], claim), row["knowledge"], True))
        out.append((_claim(row, row["hallucinated_answer"], claim), row["knowledge"], False))
    return out


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Rank-based ROC AUC (Mann-Whitney U, ties counted half); 0.5 when a class is missing."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return 0.5
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=float)
    sorted_s = s[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def best_threshold(scores: Sequence[float], labels: Sequence[bool]) -> tuple[float, float]:
    """(threshold, accuracy) maximising accuracy of `score >= threshold`; the lowest such threshold."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=bool)
    if len(s) == 0:
        return 0.5, 0.0
    candidates = np.unique(np.concatenate([s, [np.inf]]))
    best = (float(candidates[0]), -1.0)
    for t in candidates:
        acc = float(((s >= t) == y).mean())
        if acc > best[1]:
            best = (float(t), acc)
    return best


def calibrate(
    judge: Judge,
    rows: Sequence[dict[str, str]],
    claim: ClaimForm = "answer",
    progress: bool = False,
) -> Calibration:
    """Score `judge` on the rows (see the module docstring); `claim` picks the claim form."""
    pairs = cases(rows, claim)
    if not pairs:
        raise ValueError("no rows to calibrate on")
    prime = getattr(judge, "prime", None)
    if callable(prime):  # batch the embeddings of an embedding judge
        prime([c for c, _, _ in pairs] + sorted({p for _, p, _ in pairs}))
    scores = [
        judge.score(c, p)
        for c, p, _ in tqdm(pairs, desc="calibrating", unit="case", disable=not progress, leave=False)
    ]
    labels = np.array([label for _, _, label in pairs], dtype=bool)
    threshold = getattr(judge, "threshold", None)
    if isinstance(threshold, int | float):  # supports() is score >= threshold: no second verdict needed
        decided = np.array(scores) >= threshold
    else:
        decided = np.array([judge.supports(c, p) for c, p, _ in pairs], dtype=bool)
    tpr = float(decided[labels].mean()) if labels.any() else 0.0
    tnr = float((~decided[~labels]).mean()) if (~labels).any() else 0.0
    best_t, best_acc = best_threshold(scores, list(labels))
    return Calibration(
        n=len(pairs),
        accuracy=float((decided == labels).mean()),
        balanced_accuracy=(tpr + tnr) / 2,
        auc=auc(scores, list(labels)),
        threshold=float(threshold) if isinstance(threshold, int | float) else None,
        best_threshold=best_t,
        best_accuracy=best_acc,
        claim_form=claim,
        judge=str(getattr(judge, "name", type(judge).__name__)),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals.calibrate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_SAMPLE)
    parser.add_argument(
        "--judge",
        choices=JUDGES,
        default="heuristic",
        help="heuristic (default, instant); local: the in-process model (about 3 s a case on 2 cores); "
        "openai: the OpenAI-compatible server of ASSISTANT_LLM_BASE_URL / ASSISTANT_LLM_MODEL",
    )
    parser.add_argument("--embed", action="store_true", help="heuristic: mix in MiniLM embeddings")
    parser.add_argument("--claim", choices=["answer", "question+answer"], default="answer")
    parser.add_argument("--limit", type=int, help="only the first N rows (two cases each)")
    parser.add_argument(
        "--save",
        action="store_true",
        help="save the result as the judge's calibration of record (under evals/calibration/judges/), which "
        "`python -m evals run --judge ...` shows in its report",
    )
    args = parser.parse_args(argv)
    from assistant.errors import AssistantError
    from assistant.settings import Settings

    settings = Settings()
    rows = load_rows(args.path)[: args.limit]
    embed = None  # the embedder mixed into the heuristic judge (--embed)
    try:
        if args.judge == "heuristic":
            if args.embed:
                from ingest.embedding import MiniLMEmbedding

                embed = MiniLMEmbedding(threads=1).encode
            judge: Judge = HeuristicJudge(embed=embed)
        else:
            judge = build_judge(args.judge, settings)
        started = time.perf_counter()
        result = calibrate(judge, rows, claim=args.claim, progress=sys.stderr.isatty())
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    record = {
        **result.to_dict(),
        "judge": "heuristic+embed" if embed is not None else judge_id(args.judge, settings),
        "sample": args.path.name,
        "rows": len(rows),
        "seconds": round(time.perf_counter() - started, 1),
        "date": time.strftime("%Y-%m-%d"),
    }
    json.dump(record, sys.stdout, indent=2)
    print()
    if args.save:
        path = calibration_path(record["judge"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print(f"saved as {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Calibrate the answer check's threshold (`ASSISTANT_ANSWER_CHECK`) from eval runs.

Runs made with the check recording but not refusing (`ASSISTANT_ANSWER_CHECK=0 python -m evals run ...`)
hold, for every answer the model gave, the model's P(the answer answers the question) beside the
scorer's verdict.
The check should refuse exactly the answers that are wrong: unanswerable questions answered, and
answerable ones answered wrongly. For each threshold this prints what refusing below it would do: the
check's precision and recall as a detector of wrong answers, and the resulting accuracy, refusal recall
and wrong-refusal rate of the runs.

    python -m evals.check RUN_DIR [RUN_DIR ...] [--thresholds 0.1,0.2,...]

Deliberately not here: choosing the threshold. The table shows the trade-off; the setting is a decision.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .tables import table


@dataclass(frozen=True)
class CheckRow:
    """One threshold's effect on the runs."""

    threshold: float
    refused_wrong: int  # wrong answers the check would refuse (the gain)
    refused_right: int  # right answers the check would refuse (the cost)
    precision: float | None  # of the check's refusals, the share that were wrong answers
    recall: float | None  # of the wrong answers it saw, the share it refuses
    accuracy: float  # answerable questions answered right after the check
    refusal_recall: float | None  # unanswerable questions refused after the check
    wrong_refusals: float  # answerable questions refused after the check


def _wrong(row: dict[str, Any]) -> bool:
    """An answer that should not have been given: an unanswerable question answered, or a wrong one."""
    return not row["answerable"] or row["score"].get("correct") is False


def threshold_table(rows: Sequence[dict[str, Any]], thresholds: Sequence[float]) -> list[CheckRow]:
    """What refusing the checked answers below each threshold does to `rows` (results.jsonl lines)."""
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    checked = [r for r in rows if not r["refused"] and r.get("answer_check") is not None]
    wrong_seen = sum(1 for r in checked if _wrong(r))
    table = []
    for t in thresholds:
        refused = [r for r in checked if r["answer_check"] < t]
        refused_ids = {r["id"] for r in refused}
        refused_wrong = sum(1 for r in refused if _wrong(r))
        right_after = sum(
            1 for r in answerable if r["score"].get("correct") is True and r["id"] not in refused_ids
        )
        wrongly_refused = sum(1 for r in answerable if r["refused"] or r["id"] in refused_ids)
        refused_ok = sum(1 for r in unanswerable if r["refused"] or r["id"] in refused_ids)
        table.append(
            CheckRow(
                threshold=t,
                refused_wrong=refused_wrong,
                refused_right=len(refused) - refused_wrong,
                precision=refused_wrong / len(refused) if refused else None,
                recall=refused_wrong / wrong_seen if wrong_seen else None,
                accuracy=right_after / len(answerable) if answerable else 0.0,
                refusal_recall=refused_ok / len(unanswerable) if unanswerable else None,
                wrong_refusals=wrongly_refused / len(answerable) if answerable else 0.0,
            )
        )
    return table


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def render(name: str, rows: Sequence[CheckRow]) -> str:
    """`name` over the Markdown table of `rows` (for the README or a pull request)."""
    columns = "threshold|refuses wrong / right|precision|recall|accuracy|refusal recall|wrong refusals"
    cells = [
        (
            f"{row.threshold:.2f}",
            f"{row.refused_wrong} / {row.refused_right}",
            *map(_pct, (row.precision, row.recall, row.accuracy, row.refusal_recall, row.wrong_refusals)),
        )
        for row in rows
    ]
    return f"{name}\n" + table(columns.split("|"), cells, justify=["left"] * 7, markdown=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals.check",
        description="What refusing answers below an answer-check threshold would do to eval runs made "
        "with ASSISTANT_ANSWER_CHECK=0 (checked, never refused).",
    )
    parser.add_argument("runs", nargs="+", type=Path, help="run folders holding results.jsonl")
    parser.add_argument(
        "--thresholds",
        default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9",
        help="comma-separated thresholds (default 0 to 0.9 by 0.1)",
    )
    args = parser.parse_args(argv)
    try:
        thresholds = [float(t) for t in args.thresholds.split(",") if t.strip()]
    except ValueError:
        parser.error(f"--thresholds takes numbers separated by commas, not {args.thresholds!r}")
    everything: list[dict[str, Any]] = []
    for run in args.runs:
        path = run / "results.jsonl"
        try:
            rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        except (OSError, ValueError) as exc:
            parser.error(f"{path} cannot be read as results: {exc}")
        everything += rows
        print(render(str(run), threshold_table(rows, thresholds)) + "\n")
    if len(args.runs) > 1:
        print(render("all runs", threshold_table(everything, thresholds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

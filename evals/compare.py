"""Compare two runs: every metric side by side with its change, then the questions whose outcome changed.

A run is a folder holding summary.json and results.jsonl (what `python -m evals run` writes for one set),
or a folder with one such sub-folder per set; then sets are compared by name. The output is plain text
for a terminal or a pull-request comment; nothing is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .report import direction, format_delta, format_value, metric_names
from .runner import QuestionResult, load_results
from .tables import table

__all__ = ["compare", "find_runs"]

# The per-question outcomes whose change is reported.
_OUTCOMES = ("correct", "refusal_ok", "citation_precision")
_ANSWER_CHARS = 160


def find_runs(path: Path) -> dict[str, Path]:
    """{set name: run folder} for a one-set run folder or a folder of per-set run folders."""
    path = Path(path)
    if (path / "summary.json").is_file():
        summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
        return {str(summary.get("set") or path.name): path}
    if path.is_dir():
        runs = {sub.name: sub for sub in sorted(path.iterdir()) if (sub / "summary.json").is_file()}
        if runs:
            return runs
    raise FileNotFoundError(f"{path} is not a run: no summary.json in it or in its sub-folders")


def compare(run_a: Path, run_b: Path) -> str:
    """A readable report of how run B differs from run A (deltas are B - A)."""
    runs_a, runs_b = find_runs(run_a), find_runs(run_b)
    only_a: list[str] = []
    only_b: list[str] = []
    if len(runs_a) == 1 and len(runs_b) == 1:  # two one-set runs: compare them even if the names differ
        (name, a), (_, b) = next(iter(runs_a.items())), next(iter(runs_b.items()))
        pairs = [(name, a, b)]
    else:
        pairs = [(name, runs_a[name], runs_b[name]) for name in runs_a if name in runs_b]
        only_a = [name for name in runs_a if name not in runs_b]
        only_b = [name for name in runs_b if name not in runs_a]
    lines = [f"A: {run_a}", f"B: {run_b}", ""]
    if not pairs:
        lines.append("No set in common: nothing to compare.")
    for name, a, b in pairs:
        lines += _compare_set(name, a, b)
    if only_a:
        lines.append(f"Only in A (not compared): {', '.join(only_a)}")
    if only_b:
        lines.append(f"Only in B (not compared): {', '.join(only_b)}")
    return "\n".join(lines).rstrip() + "\n"


def _load_summary(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((path / "summary.json").read_text(encoding="utf-8"))
    return data


def _describe(summary: dict[str, Any]) -> str:
    parts = [f"{k}={summary[k]}" for k in ("backend", "date") if summary.get(k)]
    settings = summary.get("settings") or {}
    parts += [f"{k}={v}" for k, v in settings.items()]
    return ", ".join(parts) or "-"


def _compare_set(name: str, path_a: Path, path_b: Path) -> list[str]:
    summary_a, summary_b = _load_summary(path_a), _load_summary(path_b)
    overall_a, overall_b = summary_a.get("overall", {}), summary_b.get("overall", {})
    title = f"== {name} =="
    lines = [title, f"A: {_describe(summary_a)}", f"B: {_describe(summary_b)}", ""]
    rows = []
    better = worse = 0
    for metric in metric_names(overall_a, overall_b):
        a, b = overall_a.get(metric), overall_b.get(metric)
        if a is None and b is None:
            continue
        verdict = direction(metric, b, a)
        better += verdict == "better"
        worse += verdict == "worse"
        rows.append(
            (metric, format_value(metric, a), format_value(metric, b), format_delta(metric, b, a), verdict)
        )
    columns = ("metric", "A", "B", "delta", "change")
    lines.append(table(columns, rows, justify=("left", "right", "right", "right", "left")))
    lines += ["", f"B is better on {better} metric(s) and worse on {worse}.", ""]
    lines += _question_changes(path_a, path_b)
    lines.append("")
    return lines


def _results(path: Path) -> dict[str, QuestionResult]:
    if not (path / "results.jsonl").is_file():
        return {}
    return {r.id: r for r in load_results(path)}


def _short(text: str) -> str:
    flat = " ".join(text.split()) or "(empty)"
    return flat if len(flat) <= _ANSWER_CHARS else flat[: _ANSWER_CHARS - 1].rstrip() + "…"


def _fmt_outcome(key: str, value: Any) -> str:
    if key == "citation_precision" and isinstance(value, int | float):
        return f"{100 * value:.0f}%"
    return "-" if value is None else str(value)


def _question_changes(path_a: Path, path_b: Path) -> list[str]:
    results_a, results_b = _results(path_a), _results(path_b)
    if not results_a or not results_b:
        return ["(no results.jsonl on one side: per-question changes not compared)"]
    changed = []
    for qid, a in results_a.items():
        b = results_b.get(qid)
        if b is None:
            continue
        diffs = [
            f"{key} {_fmt_outcome(key, a.score.get(key))} -> {_fmt_outcome(key, b.score.get(key))}"
            for key in _OUTCOMES
            if a.score.get(key) != b.score.get(key)
        ]
        if diffs:
            changed.append((a, b, diffs))
    common = len(set(results_a) & set(results_b))
    lines = [f"Questions whose outcome changed: {len(changed)} of {common} (+ better in B, - worse, ~ mixed)"]
    for a, b, diffs in changed:
        fixed = _got_better(a, b)
        mark = "+" if fixed is True else "-" if fixed is False else "~"
        lines += [
            "",
            f"{mark} {a.id} [{a.kind}] {_short(a.question)}",
            f"    {'; '.join(diffs)}",
            f"    A: {_short(a.answer)}",
            f"    B: {_short(b.answer)}",
        ]
    only_a = sorted(set(results_a) - set(results_b))
    only_b = sorted(set(results_b) - set(results_a))
    if only_a:
        lines.append(f"\nQuestions only in A: {', '.join(only_a)}")
    if only_b:
        lines.append(f"\nQuestions only in B: {', '.join(only_b)}")
    return lines


def _got_better(a: QuestionResult, b: QuestionResult) -> bool | None:
    """True when B fixed what A got wrong, False when B broke it, None when mixed or unclear."""

    def points(r: QuestionResult) -> float:
        s = r.score
        return (
            float(bool(s.get("correct")))
            + float(bool(s.get("refusal_ok")))
            + (s.get("citation_precision") or 0.0)
        )

    pa, pb = points(a), points(b)
    if pa == pb:
        return None
    return pb > pa

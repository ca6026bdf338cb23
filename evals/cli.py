"""`python -m evals`: run eval sets against the assistant, compare runs, gate CI on the figures."""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from assistant.errors import AssistantError
from assistant.settings import BACKENDS, MODEL_BACKENDS, Settings, add_archive_flags, settings_from_args

from .judge import JUDGES
from .metrics import metric_spec

_EPILOG = """\
Examples:
  python -m evals run evals/sets/seeds_dev
  python -m evals run evals/sets/seeds_dev evals/sets/clapnq_dev --backend extractive --limit 20
  python -m evals run evals/sets/smoke --backend extractive --fail-under accuracy=0.8
  python -m evals run evals/sets/seeds_dev --pipeline both --limit 10
  python -m evals run evals/sets/seeds_dev --judge local   # the model judges support, not the heuristic
  python -m evals compare evals/runs/A evals/runs/B
  python -m evals feedback export evals/sets/feedback --data-dir data   # then label it and run it

A run writes results.jsonl, summary.json, report.md and report.html (with plots) into --out.
With --pipeline both, each set is run by our pipeline into <out>/ours and by the plain llama-index
baseline into <out>/baseline (<out>/<set>/... with several sets); the report of ours shows both.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evals",
        description="The grounding evaluation harness: answer accuracy, citations, refusals, latency.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run one or more sets")
    run.add_argument(
        "sets", nargs="+", type=Path, metavar="SET", help="set folders (questions.jsonl [+ corpus/])"
    )
    run.add_argument("--backend", dest="llm_backend", choices=BACKENDS)
    run.add_argument("--out", type=Path, help="output folder (default evals/runs/<time>-<backend>)")
    run.add_argument("--limit", type=int, help="only the first N questions of each set")
    run.add_argument(
        "--fail-under",
        action="append",
        default=[],
        metavar="METRIC=VALUE",
        help="exit 1 when an overall metric is below VALUE (repeatable), e.g. accuracy=0.8",
    )
    run.add_argument("--context-tokens", type=int, help="context token budget (ASSISTANT_CONTEXT_TOKENS)")
    run.add_argument("--max-sources", type=int, help="passages per prompt (ASSISTANT_MAX_SOURCES)")
    run.add_argument(
        "--baseline",
        type=Path,
        metavar="RUN",
        help="an earlier run folder: its figures go next to this run's in the report",
    )
    run.add_argument(
        "--pipeline",
        choices=["ours", "baseline", "both"],
        default="ours",
        help="ours (default); baseline: a plain llama-index pipeline (VectorStoreIndex over the same "
        "collection + the stock CitationQueryEngine, same embedder and model); both: side by side, with "
        "the baseline's figures in the report of ours (--fail-under then gates ours). The baseline needs "
        "the local or openai backend",
    )
    run.add_argument(
        "--judge",
        choices=JUDGES,
        default="heuristic",
        help="who decides whether a passage supports a sentence: heuristic (default: deterministic, "
        "instant), local (the in-process model) or openai (the ASSISTANT_LLM_BASE_URL server); an LLM "
        "judge adds a few model calls per question",
    )
    add_archive_flags(run)
    compare = sub.add_parser("compare", help="compare two runs metric by metric and question by question")
    compare.add_argument("run_a", type=Path, metavar="RUN_A", help="run folder (summary.json, results.jsonl)")
    compare.add_argument("run_b", type=Path, metavar="RUN_B", help="run folder to compare with RUN_A")
    feedback = sub.add_parser("feedback", help="readers' thumbs up / down as an eval set")
    feedback_sub = feedback.add_subparsers(dest="feedback_command", required=True, metavar="ACTION")
    export = feedback_sub.add_parser(
        "export",
        help="write every judged answer of the data dir as an unlabelled set (questions.jsonl + README.md)",
    )
    export.add_argument("out", type=Path, metavar="OUT_DIR", help="the set's folder (labels there are kept)")
    add_archive_flags(export)
    return parser


def _gates(specs: list[str]) -> list[tuple[str, float]]:
    gates = []
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep:
            raise ValueError(f"--fail-under takes METRIC=VALUE, not {spec!r}")
        metric_spec(name)  # raises with the valid names
        try:
            gates.append((name, float(value)))
        except ValueError:
            raise ValueError(f"--fail-under {spec!r}: {value!r} is not a number") from None
    return gates


@functools.cache
def _judge_calibration(kind: str, name: str) -> dict[str, Any]:
    """The calibration of the judge `name` on the HaluEval sample: computed (about 0.3 s, once per
    process) for the heuristic judge; for an LLM judge, the one saved by `evals.calibrate --save`."""
    from .calibrate import calibrate, load_rows
    from .judge import HeuristicJudge, stored_calibration

    if kind == "heuristic":
        return {**calibrate(HeuristicJudge(), load_rows()).to_dict(), "judge": name}
    stored = stored_calibration(name)
    if stored is not None:
        return stored
    return {
        "judge": name,
        "note": f"not calibrated yet: run `python -m evals.calibrate --judge {kind} --save`",
    }


def _baseline(path: Path | None, set_name: str) -> dict[str, Any] | None:
    """The summary of `set_name` in an earlier run (a one-set run folder, or one with per-set folders)."""
    if path is None:
        return None
    for candidate in (path / set_name / "summary.json", path / "summary.json"):
        if candidate.is_file():
            data: dict[str, Any] = json.loads(candidate.read_text(encoding="utf-8"))
            return data
    print(f"warning: no baseline summary for {set_name} in {path}", file=sys.stderr)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return _run(args)
    if args.command == "compare":
        return _compare(args)
    if args.command == "feedback":
        return _feedback_export(args)
    return 2


def _feedback_export(args: argparse.Namespace) -> int:
    from .feedback import export

    try:
        rows = export(settings_from_args(args, Settings).data_dir, args.out)
    except (AssistantError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    down = sum(1 for r in rows if r["rating"] == -1)
    print(f"{len(rows)} judged answers ({down} thumbed down) written to {args.out / 'questions.jsonl'}")
    print(f"label them (see {args.out / 'README.md'}), then: python -m evals run {args.out}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from .compare import compare

    try:
        print(compare(args.run_a, args.run_b), end="")
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _run(args: argparse.Namespace) -> int:
    from assistant import Assistant
    from assistant.generation import build_chat_model

    from .feedback import unlabelled
    from .report import write_report
    from .runner import EvalSet

    try:
        gates = _gates(args.fail_under)
    except (KeyError, ValueError) as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    base = settings_from_args(args, Settings)
    pipeline = getattr(args, "pipeline", "ours")
    if pipeline != "ours" and base.llm_backend not in MODEL_BACKENDS:
        print(
            f"error: --pipeline {pipeline}: the llama-index baseline needs a language model; "
            f"use --backend local or --backend openai (not {base.llm_backend})",
            file=sys.stderr,
        )
        return 2
    if pipeline == "both" and args.baseline is not None:
        print(
            "error: --baseline RUN and --pipeline both each fill the report's baseline column; use one",
            file=sys.stderr,
        )
        return 2
    out = args.out or Path("evals/runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{base.llm_backend}"
    failed_gates: list[str] = []
    reports: list[Path] = []
    try:
        for set_path in args.sets:
            if waiting := unlabelled(set_path):
                raise ValueError(
                    f"{set_path}: {len(waiting)} exported feedback questions have no labels yet "
                    f"({', '.join(waiting[:3])}{', ...' if len(waiting) > 3 else ''}): give each "
                    "'answerable' (and 'answers' when true), as its README.md says"
                )
            eval_set = EvalSet.load(set_path)
            settings = eval_set.archive_settings(base)
            eval_set.ingest(settings, progress=sys.stderr.isatty())
            set_out = out / eval_set.name if len(args.sets) > 1 else out
            ours = baseline = None
            # one chat model (and embedder), loaded once, for both pipelines
            chat_model = build_chat_model(settings) if settings.llm_backend in MODEL_BACKENDS else None
            if pipeline in ("ours", "both"):
                bot = Assistant.from_settings(settings, chat_model=chat_model)
                ours = _ask_set(
                    eval_set, bot, settings, args.limit, "ours" if pipeline == "both" else "", args.judge
                )
            if pipeline in ("baseline", "both"):
                from .baseline import BaselineAssistant

                baseline_bot = BaselineAssistant.from_settings(
                    settings,
                    chat_model=chat_model,
                    embedder=bot.retriever.embedder if ours is not None else None,
                )
                label = "baseline" if pipeline == "both" else ""
                baseline = _ask_set(eval_set, baseline_bot, settings, args.limit, label, args.judge)
            runs: list[tuple[str, Path, tuple[dict[str, Any], list[Any]], dict[str, Any] | None]] = []
            if ours is not None and baseline is not None:
                runs = [
                    ("baseline", set_out / "baseline", baseline, None),
                    ("ours", set_out / "ours", ours, baseline[0]),
                ]
            else:
                only = ours or baseline
                assert only is not None
                runs = [("", set_out, only, _baseline(args.baseline, eval_set.name))]
            for label, where, (summary, results), compared in runs:
                _write_run(where, summary, results, compared, eval_set.questions, write_report)
                reports.append(where / "report.html")
                overall = summary["overall"]
                print(
                    f"{eval_set.name}{f' ({label})' if label else ''}: "
                    + ", ".join(
                        f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in overall.items()
                        if v is not None
                    )
                )
                print(f"written to {where}")
                if label == "baseline":
                    continue  # with both pipelines, the gates are on ours
                for name, floor in gates:
                    value = overall.get(name)
                    if value is None or value < floor:
                        failed_gates.append(f"{eval_set.name}: {name}={value} < {floor}")
    except (AssistantError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for report in reports:
        print(f"report: {report}")
    for failure in failed_gates:
        print(f"gate failed: {failure}", file=sys.stderr)
    return 1 if failed_gates else 0


def _ask_set(
    eval_set: Any, bot: Any, settings: Any, limit: int | None, label: str, judge_kind: str = "heuristic"
) -> tuple[dict[str, Any], list[Any]]:
    """Ask every question of the set (the first `limit`) of one pipeline: its summary and results."""
    from .judge import build_judge, judge_id
    from .runner import run_set, summarise_results

    bot.warm_up()
    judge = build_judge(judge_kind, settings, getattr(bot, "chat_model", None))
    total = min(len(eval_set.questions), limit or len(eval_set.questions))
    desc = f"{eval_set.name} ({label})" if label else eval_set.name
    results = list(tqdm(run_set(eval_set, bot, judge=judge, limit=limit), total=total, desc=desc, unit="q"))
    summary = summarise_results(results)
    summary["set"] = eval_set.name
    summary["backend"] = bot.backend
    if label:
        summary["pipeline"] = label
    summary["date"] = time.strftime("%Y-%m-%d %H:%M:%S")
    summary["settings"] = getattr(bot, "run_settings", None) or {
        "context_tokens": settings.context_tokens,
        "max_sources": settings.max_sources,
        "chunk_tokens": settings.chunk_tokens,
    }
    summary["judge"] = dict(_judge_calibration(judge_kind, judge_id(judge_kind, settings)))
    return summary, results


def _write_run(
    where: Path,
    summary: dict[str, Any],
    results: list[Any],
    baseline: dict[str, Any] | None,
    questions: list[dict[str, Any]],
    write_report: Any,
) -> None:
    from .runner import write_results

    write_results(where, results)
    (where / "summary.json").write_text(json.dumps(summary, indent=2))
    write_report(where, summary, results, summary["judge"], baseline, questions=questions)

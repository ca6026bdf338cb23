"""`python -m evals`: run eval sets against the assistant, compare runs, gate CI on the figures."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from assistant.errors import AssistantError
from assistant.settings import add_archive_flags, settings_from_args

from .metrics import metric_spec

_EPILOG = """\
Examples:
  python -m evals run evals/sets/seeds_dev
  python -m evals run evals/sets/seeds_dev evals/sets/clapnq_dev --backend extractive --limit 20
  python -m evals run evals/sets/smoke --backend extractive --fail-under accuracy=0.8
  python -m evals compare evals/runs/A evals/runs/B

A run writes results.jsonl, summary.json, report.md and report.html (with plots) into --out.
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
    run.add_argument("--backend", dest="llm_backend", choices=["local", "openai", "extractive"])
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
    add_archive_flags(run)
    return parser


def _gates(specs: list[str]) -> list[tuple[str, float]]:
    gates = []
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep:
            raise SystemExit(f"--fail-under takes METRIC=VALUE, not {spec!r}")
        metric_spec(name)  # raises with the valid names
        gates.append((name, float(value)))
    return gates


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return _run(args)
    return 2


def _run(args: argparse.Namespace) -> int:
    from assistant import Assistant

    from .runner import EvalSet, run_set, summarise_results, write_results

    try:
        gates = _gates(args.fail_under)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    base = settings_from_args(args)
    out = args.out or Path("evals/runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{base.llm_backend}"
    failed_gates: list[str] = []
    try:
        for set_path in args.sets:
            eval_set = EvalSet.load(set_path)
            settings = eval_set.archive_settings(base)
            eval_set.ingest(settings, progress=sys.stderr.isatty())
            bot = Assistant.from_settings(settings)
            bot.warm_up()
            total = min(len(eval_set.questions), args.limit or len(eval_set.questions))
            results = list(
                tqdm(run_set(eval_set, bot, limit=args.limit), total=total, desc=eval_set.name, unit="q")
            )
            summary = summarise_results(results)
            summary["set"] = eval_set.name
            summary["backend"] = bot.backend
            summary["settings"] = {
                "context_tokens": settings.context_tokens,
                "max_sources": settings.max_sources,
                "chunk_tokens": settings.chunk_tokens,
            }
            set_out = out / eval_set.name if len(args.sets) > 1 else out
            write_results(set_out, results)
            (set_out / "summary.json").write_text(json.dumps(summary, indent=2))
            overall = summary["overall"]
            print(
                f"{eval_set.name}: "
                + ", ".join(
                    f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in overall.items()
                    if v is not None
                )
            )
            print(f"written to {set_out}")
            for name, floor in gates:
                value = overall.get(name)
                if value is None or value < floor:
                    failed_gates.append(f"{eval_set.name}: {name}={value} < {floor}")
    except (AssistantError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for failure in failed_gates:
        print(f"gate failed: {failure}", file=sys.stderr)
    return 1 if failed_gates else 0

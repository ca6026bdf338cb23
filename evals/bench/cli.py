"""`python -m evals.bench SECTION`: run a section, print its tables, merge its figures into the JSON file.

`all` runs every section in a child process of its own (so each section's peak memory is its own) and
forwards the options to each; a section that fails is named and the others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .answers import answers_section, render_answers
from .feeds import SlowServers, feeds_section, render_feeds
from .ingest import ingest_section, render_ingest
from .measure import ROOT, busy, merge_busy, run_child, say
from .retrieval import render_retrieval, retrieval_section
from .versus import render_versus, versus_section

__all__ = ["RENDER", "SECTIONS", "build_parser", "main", "run_section", "save"]

DEFAULT_OUT = ROOT / "evals" / "bench-results.json"
SECTIONS = ("ingest", "retrieval", "answers", "versus", "feeds")
RENDER: dict[str, Callable[[dict[str, Any]], str]] = {
    "ingest": render_ingest,
    "retrieval": render_retrieval,
    "answers": render_answers,
    "versus": render_versus,
    "feeds": render_feeds,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evals.bench",
        description="Speed benchmarks: tables on stdout, every figure in a JSON file (merged by section).",
        epilog="Examples:\n  python -m evals.bench ingest --articles 200\n"
        "  python -m evals.bench retrieval --sizes 1000 --queries 10\n"
        "  python -m evals.bench answers --limit 3\n  python -m evals.bench feeds --feeds 20 --items 10\n"
        "  python -m evals.bench all",
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
    parser.add_argument(
        "--feeds", type=int, default=200, help="feeds: feeds served from 127.0.0.1 (default 200)"
    )
    parser.add_argument("--items", type=int, default=50, help="feeds: items per feed (default 50)")
    parser.add_argument(
        "--new-items", type=int, default=10, help="feeds: new items timed after the first sync (default 10)"
    )
    slow = SlowServers()
    parser.add_argument(
        "--slow-feeds",
        type=int,
        default=slow.feeds,
        help=f"feeds: feeds of the slow-server sync ({slow.feeds})",
    )
    parser.add_argument(
        "--slow-items", type=int, default=slow.items, help=f"feeds: items per feed there ({slow.items})"
    )
    parser.add_argument(
        "--slow-servers",
        type=int,
        default=slow.servers,
        help=f"feeds: feeds whose pages sit on slow servers ({slow.servers})",
    )
    parser.add_argument(
        "--slow-timeout",
        type=float,
        default=slow.timeout,
        help=f"feeds: the response deadline of that sync, seconds ({slow.timeout:g})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic archives (default 0)")
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="JSON file, merged by section (default evals/bench-results.json)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # a section run by `all`
    parser.add_argument(
        "--workdir", type=Path, help="where the temporary data dirs go (created if missing; default: $TMPDIR)"
    )
    parser.add_argument(
        "--cache",
        type=Path,
        help="retrieval: keep the synthetic archives in this folder and reuse them in later runs",
    )
    parser.add_argument(
        "--no-live", action="store_true", help="retrieval: skip the live update (adding 10 articles)"
    )
    parser.add_argument(
        "--with-model",
        action="store_true",
        help="retrieval: also start the whole assistant with the local model on each archive (start-up, "
        "two answers, peak memory of that process)",
    )
    return parser


def run_section(name: str, args: argparse.Namespace) -> dict[str, Any]:
    if name == "ingest":
        return ingest_section(args.articles, args.seed, workdir=args.workdir)
    if name == "retrieval":
        return retrieval_section(
            args.sizes,
            args.queries,
            args.warmup,
            args.seed,
            workdir=args.workdir,
            cache=args.cache,
            live=not args.no_live,
            with_model=args.with_model,
        )
    if name == "feeds":
        slow = SlowServers(args.slow_feeds, args.slow_items, args.slow_servers, args.slow_timeout)
        return feeds_section(
            args.feeds, args.items, args.new_items, args.seed, workdir=args.workdir, slow=slow
        )
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


def forwarded(args: argparse.Namespace) -> list[str]:
    """The options of `args` as command-line flags for a child running one section."""
    out = ["--articles", str(args.articles), "--sizes", *map(str, args.sizes)]
    out += ["--queries", str(args.queries), "--warmup", str(args.warmup), "--seed", str(args.seed)]
    out += ["--feeds", str(args.feeds), "--items", str(args.items), "--new-items", str(args.new_items)]
    out += ["--slow-feeds", str(args.slow_feeds), "--slow-items", str(args.slow_items)]
    out += ["--slow-servers", str(args.slow_servers), "--slow-timeout", str(args.slow_timeout)]
    if args.limit is not None:
        out += ["--limit", str(args.limit)]
    if args.fresh_model_cache:
        out.append("--fresh-model-cache")
    if args.workdir is not None:
        out += ["--workdir", str(args.workdir)]
    if args.cache is not None:
        out += ["--cache", str(args.cache)]
    if args.no_live:
        out.append("--no-live")
    if args.with_model:
        out.append("--with-model")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for key, value in (("ANONYMIZED_TELEMETRY", "False"), ("HF_HUB_OFFLINE", "1")):
        os.environ.setdefault(key, value)
    for folder in (args.workdir, args.cache):
        if folder is not None:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                print(f"cannot use {folder}: {exc.strerror or exc}", file=sys.stderr)
                return 2
    if args.section != "all":
        before = busy()
        data = run_section(args.section, args)
        data["busy"] = merge_busy(before, busy())
        if data["busy"]["busy"]:
            say(f"WARNING: the machine was busy during this run: {'; '.join(data['busy']['reasons'])}")
        save(args.out, args.section, data)
        print(RENDER[args.section](data), flush=True)
        if not args.child:
            print(f"\nfigures saved in {args.out} under '{args.section}'", flush=True)
        return 0
    # Each section in a child process: its peak memory is its own, not the high-water mark of the others.
    failed = []
    options = forwarded(args)
    for section in SECTIONS:
        with tempfile.TemporaryDirectory(prefix="bench-all-") as tmp:
            part = Path(tmp) / "part.json"
            command = [sys.executable, "-m", "evals.bench", section, *options, "--child", "--out", str(part)]
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

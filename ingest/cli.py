"""`python -m ingest PATH...`: read articles from files and folders into the archive."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import AssistantError
from .pipeline import ingest_paths
from .settings import ArchiveSettings, add_archive_flags, settings_from_args

_EPILOG = """\
Formats: .txt (plain articles and the Qazinform feed format), .md (a '# Title' heading, optional
'Source:', 'Published:', 'URL:' lines), .html/.htm (article text extracted with trafilatura) and
.jsonl (one JSON object a line: title, text, optional published, source, url, id).

An article is known by its file's absolute path (plus its position in a feed or .jsonl). Unchanged
articles are skipped by content hash, changed ones have their passages replaced, copies of archived
articles are skipped, near-constant (repetitive) articles are refused, and a killed run is completed by
the next one. Exit status: 0 all good, 1 some files or records failed, 2 nothing ran.

Examples:
  python -m ingest seeds/
  python -m ingest ~/news --prune            # also forget articles whose files are gone
  ASSISTANT_CHROMA_HOST=127.0.0.1 python -m ingest archive/   # into a Chroma server
  python -m ingest --reembed                 # move an archive built with another embedder to this one
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ingest",
        description="Read news articles into the assistant's archive (passages embedded into Chroma).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="article files or folders")
    parser.add_argument("--prune", action="store_true", help="remove articles whose files are gone")
    parser.add_argument(
        "--wait", action="store_true", help="wait for another running ingest instead of failing"
    )
    parser.add_argument(
        "--reembed",
        action="store_true",
        help="re-embed the whole archive with the configured embedder (ASSISTANT_EMBEDDER), e.g. after "
        "moving from 'minilm' to 'e5'; articles and passages are kept",
    )
    parser.add_argument(
        "--embedder", choices=["e5", "minilm"], help="the local embedder (ASSISTANT_EMBEDDER, default e5)"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    parser.add_argument("--chunk-tokens", type=int, help="passage size in tokens (ASSISTANT_CHUNK_TOKENS)")
    add_archive_flags(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.paths and not args.reembed:
        parser.error("give article files or folders to read (or --reembed)")
    try:
        settings = settings_from_args(args, ArchiveSettings)
        if args.reembed:
            return _reembed(args, settings)
        report = ingest_paths(
            args.paths,
            settings,
            prune=args.prune,
            wait=args.wait,
            progress=not args.quiet and sys.stderr.isatty(),
        )
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: committed articles are kept; run again to finish", file=sys.stderr)
        return 130
    for name, reason in report.failed:
        print(f"failed: {name}: {reason}", file=sys.stderr)
    for origin, twin in report.duplicates:
        print(f"skipped duplicate: {origin} (same text as {twin})", file=sys.stderr)
    print(report.summary())
    return 0 if report.ok else 1


def _reembed(args: argparse.Namespace, settings: ArchiveSettings) -> int:
    if args.paths:
        print("error: --reembed works on the archive as it is; ingest paths in another run", file=sys.stderr)
        return 2
    from .reembed import reembed

    print(reembed(settings, wait=args.wait, progress=not args.quiet and sys.stderr.isatty()).summary())
    return 0

"""`python -m ingest PATH_OR_URL...`: read articles from files, folders, feeds and pages into the archive."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import AssistantError
from .pipeline import IngestReport, ingest_paths
from .settings import ArchiveSettings, add_archive_flags, settings_from_args
from .web import is_web_url

if TYPE_CHECKING:
    from .sync import SyncReport

_EPILOG = """\
Files: .txt (plain articles and the Qazinform feed format), .md (a '# Title' heading, optional
'Source:', 'Published:', 'URL:' lines), .html/.htm (article text extracted with trafilatura) and
.jsonl (one JSON object a line: title, text, optional published, source, url, id).

An article is known by its file's absolute path (plus its position in a feed or .jsonl). Unchanged
articles are skipped by content hash, changed ones have their passages replaced, copies of archived
articles are skipped, near-constant (repetitive) articles are refused, and a killed run is completed by
the next one.

URLs: an RSS or Atom feed (each item is an article: its page's text, or the item's own content when the
page cannot be fetched; source = the feed's title) or an article page. A feed item is known by its GUID
(else its link). Feeds are fetched conditionally (ETag / Last-Modified): an unchanged feed costs one
request answered 304, and unchanged items are not fetched again. Items that leave a feed stay in the
archive; --prune forgets them (only those of the feeds given). A feed or page that fails is reported
with the reason and the others go on. Item pages are fetched in parallel (ASSISTANT_FETCH_CONCURRENCY,
8, over all servers; ASSISTANT_FETCH_PER_HOST, 2, per server). Limits: ASSISTANT_FEED_TIMEOUT (20 s for
a whole response, however slowly it comes), ASSISTANT_FEED_BUDGET (300 s for a whole sync: the rest is
skipped and fetched next time), ASSISTANT_FEED_MAX_MB (5), ASSISTANT_FEED_MAX_ITEMS (100),
ASSISTANT_FEED_CONCURRENCY (4 sources at once), ASSISTANT_FEED_RETRIES (2), ASSISTANT_FEED_USER_AGENT;
XML declaring entities (billion laughs, external entities) is refused.

Addresses: loopback, private, link-local, multicast, reserved and unspecified addresses (any spelling,
IPv4 or IPv6, the URL given, every redirect and every item link) are refused, checked on the address
connected to, unless ASSISTANT_FETCH_ALLOW / --fetch-allow allows them (hosts, IPs or CIDR networks).
The same article arriving by two feeds, a feed and a file, or two URLs is stored once, its other
sources recorded beside it.

Exit status: 0 all good, 1 some files, records, feeds or items failed, 2 nothing ran.

Examples:
  python -m ingest seeds/
  python -m ingest ~/news --prune            # also forget articles whose files are gone
  python -m ingest https://example.org/feed.xml https://example.org/news/some-article.html
  python -m ingest --feeds feeds.txt --watch 900    # poll the feeds every 15 minutes (Ctrl-C stops)
  ASSISTANT_CHROMA_HOST=127.0.0.1 python -m ingest archive/   # into a Chroma server
  python -m ingest --reembed                 # move an archive built with another embedder to this one
  python -m ingest --prepare                 # export the embedder's engine now (make install does it)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ingest",
        description="Read news articles into the assistant's archive (passages embedded into Chroma) from "
        "files, folders, RSS/Atom feeds and article pages.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "sources", nargs="*", metavar="PATH_OR_URL", help="article files or folders, feed or page URLs"
    )
    parser.add_argument(
        "--prune",
        action="store_true",
        help="forget articles whose files are gone, and items that left the feeds given",
    )
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
        "--prepare",
        action="store_true",
        help="export the embedder's engine into the model cache now (ASSISTANT_MODEL_CACHE_DIR; make install "
        "does it; otherwise the first ingest or question does)",
    )
    parser.add_argument(
        "--embedder", choices=["e5", "minilm"], help="the local embedder (ASSISTANT_EMBEDDER, default e5)"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    parser.add_argument("--chunk-tokens", type=int, help="passage size in tokens (ASSISTANT_CHUNK_TOKENS)")
    web = parser.add_argument_group("feeds and pages (flags override ASSISTANT_FEED_* variables)")
    web.add_argument(
        "--feeds", type=Path, metavar="FILE", help="a file of feed or page URLs, one a line, '#' comments"
    )
    web.add_argument(
        "--watch",
        type=float,
        metavar="SECONDS",
        help="keep polling the feeds every SECONDS (files are read once); Ctrl-C stops",
    )
    web.add_argument(
        "--fetch-allow",
        metavar="LIST",
        help="internal hosts, IPs or CIDR networks that may be fetched, comma separated, e.g. 127.0.0.1 or "
        "10.0.0.0/8 (ASSISTANT_FETCH_ALLOW; loopback, private, link-local ... are refused otherwise)",
    )
    web.add_argument(
        "--feed-timeout", type=float, metavar="S", help="seconds per response, all in (default 20)"
    )
    web.add_argument("--feed-budget", type=float, metavar="S", help="seconds per sync, all in (default 300)")
    web.add_argument("--feed-max-mb", type=float, metavar="MB", help="largest response (default 5)")
    web.add_argument("--feed-max-items", type=int, metavar="N", help="most items per feed (default 100)")
    web.add_argument("--feed-concurrency", type=int, metavar="N", help="feeds fetched at once (default 4)")
    web.add_argument("--feed-retries", type=int, metavar="N", help="retries of failed requests (default 2)")
    web.add_argument(
        "--fetch-concurrency", type=int, metavar="N", help="requests at once, all servers (default 8)"
    )
    web.add_argument(
        "--fetch-per-host", type=int, metavar="N", help="requests at once per server (default 2)"
    )
    add_archive_flags(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.watch is not None and args.watch <= 0:
        parser.error("--watch wants a number of seconds above 0")
    paths = [Path(s) for s in args.sources if not is_web_url(s)]
    urls = [s for s in args.sources if is_web_url(s)]
    progress = not args.quiet and sys.stderr.isatty()
    ok = True
    try:
        if args.prepare:
            from .embedding import prepare_embedder

            print(prepare_embedder(settings_from_args(args, ArchiveSettings)), file=sys.stderr)
            if not args.sources and not args.feeds:
                return 0
        if args.reembed:
            if args.sources or args.feeds or args.watch:
                parser.error("--reembed works on the archive as it is: read sources in another run")
            return _reembed(args, settings_from_args(args, ArchiveSettings))
        if args.feeds is not None:
            from .sync import read_feeds_file

            urls += read_feeds_file(args.feeds)
        if not paths and not urls:
            parser.error("nothing to read: give files, folders or URLs (or --feeds FILE, or --reembed)")
        if args.watch is not None and not urls:
            parser.error("--watch polls feeds: give feed URLs or --feeds FILE")
        settings = settings_from_args(args, ArchiveSettings)
        if paths:
            report = ingest_paths(paths, settings, prune=args.prune, wait=args.wait, progress=progress)
            _print_ingest(report)
            ok = report.ok
        if urls and args.watch is None:
            from .sync import sync_sources

            synced = sync_sources(urls, settings, prune=args.prune, wait=args.wait, progress=progress)
            _print_sync(synced)
            ok = ok and synced.ok
        elif urls:
            return _watch(urls, settings, args, progress, ok)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: committed articles are kept; run again to finish", file=sys.stderr)
        return 130
    return 0 if ok else 1


def _watch(
    urls: list[str], settings: ArchiveSettings, args: argparse.Namespace, progress: bool, ok: bool
) -> int:
    """Poll until Ctrl-C; the exit status is that of the files and the last round."""
    from .sync import watch

    last: list[SyncReport] = []

    def show(report: SyncReport) -> None:
        last[:] = [report]
        _print_sync(report)
        print(f"next poll in {args.watch:g} s (Ctrl-C stops)", file=sys.stderr, flush=True)

    try:
        watch(urls, settings, args.watch, on_report=show, prune=args.prune, progress=progress)
    except KeyboardInterrupt:
        print("stopped watching", file=sys.stderr)
    return 0 if ok and all(r.ok for r in last) else 1


def _print_ingest(report: IngestReport) -> None:
    for name, reason in report.failed:
        print(f"failed: {name}: {reason}", file=sys.stderr)
    for origin, twin in report.duplicates:
        print(
            f"skipped duplicate: {origin} (the same article as {twin}; recorded beside it)", file=sys.stderr
        )
    print(report.summary(), flush=True)


def _print_sync(report: SyncReport) -> None:
    for source in report.sources:
        for origin, why in source.fallbacks:
            print(f"used the feed's text: {origin}: {why}", file=sys.stderr)
        for origin in source.items_skipped if source.status != "skipped" else [source.url]:
            print(f"skipped (the sync's time budget ran out; next poll): {origin}", file=sys.stderr)
    _print_ingest(report.ingest)
    print(report.summary().split("\n", 1)[0], flush=True)


def _reembed(args: argparse.Namespace, settings: ArchiveSettings) -> int:
    from .reembed import reembed

    print(reembed(settings, wait=args.wait, progress=not args.quiet and sys.stderr.isatty()).summary())
    return 0

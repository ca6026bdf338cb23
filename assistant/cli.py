"""`python -m assistant`: ask, chat in the terminal, or serve the chat UI. A thin layer over the library:
every command builds one `Application` (its store and embedder also seed an empty archive) and asks it
for the assistant."""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from .app import Application
from .engine import Assistant
from .errors import AssistantError
from .settings import BACKENDS, Settings, add_archive_flags, settings_from_args, settings_table
from .types import Answer, TextDelta

_EPILOG = """\
Examples:
  python -m assistant ask "How many jobs will the biopharma plant create?"
  python -m assistant ask --json --backend extractive "Who chairs the Digital Assets Committee?"
  python -m assistant chat
  python -m assistant serve --seed seeds        # the chat UI on http://127.0.0.1:7860, the API on /v1
  python -m assistant prepare                   # one-off model set-up (make install runs it)
  python -m assistant settings                  # every ASSISTANT_* setting, its default and meaning

Backends: local (default; Qwen2.5-Coder-1.5B in-process), openai (ASSISTANT_LLM_BASE_URL: vLLM,
llama.cpp server, Ollama), extractive (no model: the best supporting sentences, verbatim).
Every setting is also an ASSISTANT_* environment variable (see README).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m assistant",
        description="Answers questions about a news archive, citing the passages it used, or says the "
        "articles do not say.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--backend",
            dest="llm_backend",
            choices=BACKENDS,
            help="answer generator (ASSISTANT_LLM_BACKEND, default local)",
        )
        p.add_argument(
            "--seed", type=Path, metavar="DIR", help="ingest DIR first when the archive is empty (e.g. seeds)"
        )
        add_archive_flags(p)

    ask = sub.add_parser("ask", help="answer one question and print its sources")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print the Answer as JSON")
    common(ask)

    chat = sub.add_parser("chat", help="a terminal chat that keeps the conversation for follow-ups")
    common(chat)

    prepare = sub.add_parser(
        "prepare",
        help="assemble and verify the local model and save its evaluated prompt prefix (make install runs "
        "it), so the first start is as quick as later ones",
    )
    add_archive_flags(prepare)

    sub.add_parser(
        "settings",
        help="list every setting: its ASSISTANT_* variable, default and what it does (docs/settings.md)",
    )

    serve = sub.add_parser(
        "serve",
        help="start the chat UI and the OpenAI-compatible API under /v1 (ASSISTANT_API_KEYS: its keys)",
    )
    serve.add_argument("--host", dest="ui_host", help="bind address (ASSISTANT_UI_HOST, default 127.0.0.1)")
    serve.add_argument("--port", dest="ui_port", type=int, help="port (ASSISTANT_UI_PORT, default 7860)")
    serve.add_argument("--share", action="store_true", help="ask Gradio for a public link (off by default)")
    serve.add_argument(
        "--forwarded-allow-ips",
        dest="forwarded_allow_ips",
        metavar="IPS",
        help="the reverse proxies whose X-Forwarded-For headers are believed, comma separated "
        "(ASSISTANT_FORWARDED_ALLOW_IPS, default none)",
    )
    common(serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "settings":
        print(settings_table(Settings))
        return 0
    if isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(errors="replace")  # a stray undecodable byte is a character, not a crash
    try:
        settings = settings_from_args(args, Settings)
        if args.command == "prepare":
            return prepare(settings)
        app = Application(settings)
        if args.seed is not None:
            seed_if_empty(app, args.seed)
        if args.command == "serve":
            from .serve import serve

            serve(settings, share=args.share, store=app.store, embedder=app.embedder)
            return 0
        bot = app.assistant()
        if args.command == "ask":
            answer = bot.ask(args.question)
            print(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False) if args.json else render(answer))
            return 0
        return chat(bot, sys.stdin, sys.stdout)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def prepare(settings: Settings) -> int:
    """Do the models' one-off work now: export the embedder's engine (`ingest.embedding.prepare_embedder`),
    assemble the GGUF (checksum verified) and evaluate and save the fixed prompt prefix that every later
    process restores."""
    from ingest.embedding import prepare_embedder

    from .generation import build_chat_model
    from .prompts import Prompts

    print(prepare_embedder(settings), file=sys.stderr)
    model = build_chat_model(settings, "local")
    assert model is not None
    print("Preparing the local model (the first time: about 30 s) ...", file=sys.stderr)
    model.warm_up(Prompts.load().answer_messages("warm up", []))
    source = getattr(model, "prefix_source", "")
    done = "already prepared" if source == "file" else "prompt prefix evaluated and saved"
    print(f"local model ready in {settings.model_cache_dir} ({done})", file=sys.stderr)
    return 0


def seed_if_empty(app: Application, seed: Path) -> None:
    """Ingest `seed` when the archive holds no article yet (the first run on a fresh machine)."""
    if app.articles():
        return
    print(f"The archive is empty: ingesting {seed} ...", file=sys.stderr)
    report = app.ingest([seed], progress=sys.stderr.isatty())
    print(report.summary(), file=sys.stderr)


def render(answer: Answer) -> str:
    """An answer and its numbered sources, for the terminal."""
    lines = [answer.text]
    if answer.citations:
        lines.append("")
        lines.append("Sources:")
    for c in answer.citations:
        date = c.published[:16].replace("T", " ") or "undated"
        also = f"; also in {', '.join(c.also_in)}" if c.also_in else ""
        lines.append(f"[{c.n}] {c.title} ({date}, {c.source}{also})")
        lines.append(f"    {c.supporting_text}")
        if c.url:
            lines.append(f"    {c.url}")
    return "\n".join(lines)


def chat(bot: Assistant, stdin: TextIO, stdout: TextIO) -> int:
    """Read questions line by line; answers stream; an empty line or EOF ends the chat."""
    history: list[dict[str, str]] = []
    interactive = stdin.isatty()
    if interactive:
        print("Ask about the news archive (empty line to quit).", file=stdout)
    while True:
        if interactive:
            print("\n> ", end="", file=stdout, flush=True)
        line = stdin.readline()
        if not line or not line.strip():
            return 0
        question = line.strip()
        try:
            answer: Answer | None = None
            for event in bot.stream(question, history):
                if isinstance(event, TextDelta):
                    if interactive:
                        print(event.text, end="", file=stdout, flush=True)
                else:
                    answer = event
        except AssistantError as exc:
            print(f"\nerror: {exc}", file=stdout)
            continue
        assert answer is not None
        if interactive:
            print("\r\033[K", end="", file=stdout)
        print(render(answer), file=stdout, flush=True)
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]

"""The chat UI: escaping, uploads, a launched app through gradio_client, login, and concurrent askers."""

from __future__ import annotations

import concurrent.futures
import html
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from assistant.app import Application
from assistant.serve import serve
from assistant.settings import Settings
from assistant.types import Answer, Citation
from assistant.ui import ChatBackend, build_app, escape, markdown_text, safe_upload_name, to_messages
from ingest.embedding import ArchiveEmbedding

from .conftest import free_port


def test_importing_the_ui_starts_nothing() -> None:
    import threading

    before = {t.name for t in threading.enumerate()}
    import assistant.ui  # noqa: F401

    assert {t.name for t in threading.enumerate()} == before


HOSTILE = [
    "<script>alert(1)</script>",
    '<img src="http://127.0.0.1:9/p.png" onerror="alert(1)"><form><input type="password"></form>',
    "**bold** [link](http://x) # heading $$x^2$$ www.example.com a@b.example ~~gone~~ 1. item",
    "&lt;b&gt; stays &amp; as typed",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_escape_shows_text_literally(text: str) -> None:
    # the chat renders sanitised HTML and no Markdown or LaTeX (see the next test): escaped tags are enough
    out = escape(text)
    assert html.unescape(out) == text and "<" not in out
    # Markdown components (the status lines) get every ASCII punctuation mark escaped as well
    md = markdown_text(text)
    assert re.fullmatch(r"(?:\\[!-/:-@\[-`{-~]|&(?:lt|gt|amp);|[^!-/:-@\[-`{-~]|;)*", md), md
    assert re.sub(r"\\(.)", r"\1", html.unescape(md)) == text


def test_the_page_renders_no_markdown_or_latex_where_article_strings_go(tmp_path: Path) -> None:
    import gradio as gr

    demo = build_app(Settings(data_dir=tmp_path / "d", llm_backend="extractive"))
    chat = next(b for b in demo.blocks.values() if isinstance(b, gr.Chatbot))
    assert chat.render_markdown is False and chat.latex_delimiters == [] and chat.sanitize_html
    table = next(b for b in demo.blocks.values() if isinstance(b, gr.Dataframe))
    assert table.datatype == ["str", "str", "str", "number"]  # "markdown" or "html" cells would render


def test_source_header_and_body_show_article_strings_as_text() -> None:
    hostile = HOSTILE[1]
    text = "Before it. The tram costs 40 million. After it."
    start = text.index("The tram")
    citation = Citation(
        n=1,
        passage_id="p",
        article_id="a",
        title=f"Tram {hostile}",
        published="2026-02-03T10:00:00",
        source=f"Daily {hostile}",
        url='https://example.invalid/x"><img src=y>',
        text=text,
        span=(start, text.index(" After")),
    )
    answer = Answer(text="The tram costs 40 million [1].", citations=(citation,), refused=False, question="q")
    bubble, source = to_messages(answer)
    assert bubble["content"] == "The tram costs 40 million [1]."
    title = source["metadata"]["title"]
    assert title == "[1] " + escape(f"Tram {hostile}") and "<" not in title
    body = source["content"]
    for tag in ("<img", "<form", "<input", "<script"):
        assert tag not in body
    assert escape(f"Daily {hostile}") in body
    assert 'href="https://example.invalid/x&quot;&gt;&lt;img src=y&gt;"' in body
    assert "<mark>The tram costs 40 million.</mark>" in body
    not_http = replace(citation, url="javascript:alert(1)")
    assert "href" not in to_messages(replace(answer, citations=(not_http,)))[1]["content"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\win.md", "win.md"),
        ("/abs/path/news.HTML", "news.html"),
        ("weird name <x>.jsonl", "weird_name_x.jsonl"),
        ("....txt", "upload.txt"),
        ("noext", "noext"),
    ],
)
def test_upload_names_are_sanitised(name: str, expected: str) -> None:
    assert safe_upload_name(name) == expected


def _upload(tmp_path: Path, name: str, content: bytes) -> SimpleNamespace:
    path = tmp_path / "incoming" / name.replace("/", "_")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return SimpleNamespace(name=str(path), orig_name=name)


def test_uploads_are_checked_stored_in_the_data_dir_and_ingested(
    tmp_path: Path, embedder: ArchiveEmbedding
) -> None:
    settings = Settings(data_dir=tmp_path / "data", ui_max_upload_mb=0.01, ui_max_upload_files=5)
    backend = ChatBackend(Application(settings, embedder=embedder))  # the session's embedder, not a second
    good = _upload(
        tmp_path, "../../evil/story.md", b"# A new bridge\n\nThe bridge opened on Monday in Astana.\n"
    )
    wrong_type = _upload(tmp_path, "run.sh", b"rm -rf /")
    huge = _upload(tmp_path, "big.txt", b"word " * 10_000)
    binary = _upload(tmp_path, "pic.txt", b"\x89PNG\x00\x00" * 10)
    message = backend.add_files([good, wrong_type, huge, binary])
    assert "run.sh" in message and "only" in message
    assert "big.txt" in message and "limit" in message
    assert "pic.txt" in message
    assert "1 new" in message
    stored = sorted(p.name for p in (settings.data_dir / "uploads").iterdir())
    assert stored == ["pic.txt", "story.md"]
    assert not (tmp_path / "evil").exists()
    assert [r[0] for r in backend.articles_table()] == ["A new bridge"]
    too_many = backend.add_files([good] * 6)
    assert "Too many files" in too_many


def test_build_app_does_not_launch(tmp_path: Path) -> None:
    demo = build_app(Settings(data_dir=tmp_path / "d", llm_backend="extractive"))
    assert not getattr(demo, "is_running", False)


@pytest.fixture(scope="module")
def extractive_app(
    seeded_dir: Path, embedder: ArchiveEmbedding, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    from assistant import Assistant
    from assistant.conversations import ConversationStore

    port = free_port()
    settings = Settings(data_dir=seeded_dir, llm_backend="extractive", ui_port=port)
    bot = Assistant.from_settings(settings, embedder=embedder)
    # the answers are stored as conversations: beside the test, not in the shared seeded data dir
    store = ConversationStore(tmp_path_factory.mktemp("conversations") / "conversations.sqlite3")
    demo = _serve(settings, ChatBackend(Application(settings, assistant=bot, conversations=store)))
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def _serve(settings: Settings, backend: ChatBackend):
    demo = build_app(settings, backend)
    demo.queue(default_concurrency_limit=1)
    demo.launch(
        server_name="127.0.0.1",
        server_port=settings.ui_port,
        prevent_thread_lock=True,
        quiet=True,
        auth=[tuple(p.get_secret_value().split(":", 1)) for p in settings.ui_auth] or None,
    )
    return demo


def _ask(url: str, question: str) -> list[dict]:  # type: ignore[type-arg]
    from gradio_client import Client

    client = Client(url, verbose=False)
    display, _ = client.predict(question, [], 4, None, None, api_name="/ask")
    return display  # type: ignore[no-any-return]


def _text(message: dict) -> str:  # type: ignore[type-arg]
    content = message["content"]
    return content if isinstance(content, str) else " ".join(part.get("text", "") for part in content)


def test_gradio_client_gets_an_answer_with_a_citation(extractive_app: str) -> None:
    display = _ask(
        extractive_app, "How many high-tech surgeries a year do the hybrid operating rooms enable?"
    )
    answer, source = display[1], display[2]
    assert "350" in _text(answer) and "[1]" in _text(answer)
    assert source["metadata"]["title"].startswith("[1] ")
    assert "<mark>" in _text(source) and "350" in _text(source)


def test_several_askers_at_once_all_get_their_own_answer(extractive_app: str) -> None:
    questions = {
        "How many high-tech surgeries a year do the hybrid operating rooms enable?": "350",
        "Who chairs the Digital Assets and Breakthrough Technologies Committee?": "Baiturssynov",
        "How many regional governors and city mayors reported to the President?": "16",
    }
    with concurrent.futures.ThreadPoolExecutor(len(questions)) as pool:
        results = dict(zip(questions, pool.map(lambda q: _ask(extractive_app, q), questions), strict=True))
    for question, expected in questions.items():
        display = results[question]
        assert _text(display[0]) == escape(question)
        assert expected in _text(display[1])


def test_a_refusal_looks_different(extractive_app: str) -> None:
    display = _ask(extractive_app, "What is the boiling point of liquid nitrogen in kelvin?")
    assert 'class="refusal"' in _text(display[1]) and len(display) == 2


def test_login_protects_every_route(tmp_path: Path, seeded_dir: Path) -> None:
    port = free_port()
    settings = Settings(
        data_dir=seeded_dir, llm_backend="extractive", ui_port=port, ui_auth="ann:s3cret,bob:pw"
    )
    demo = _serve(
        settings, ChatBackend(Application(settings, assistant=SimpleNamespace(backend="extractive")))
    )  # type: ignore[arg-type]
    try:
        base = f"http://127.0.0.1:{port}"
        for route in ("/config", "/gradio_api/info", "/gradio_api/upload", "/gradio_api/queue/join"):
            r = httpx.request("POST" if "upload" in route or "join" in route else "GET", base + route)
            assert r.status_code in (401, 403), route
        with httpx.Client() as client:
            bad = client.post(base + "/login", data={"username": "ann", "password": "nope"})
            assert bad.status_code in (400, 401)
            ok = client.post(base + "/login", data={"username": "ann", "password": "s3cret"})
            assert ok.status_code == 200
            assert client.get(base + "/config").status_code == 200
    finally:
        demo.close()


def test_serving_wide_without_login_warns(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    launched = {}

    def run(self: uvicorn.Server) -> None:  # records where it would listen instead of listening
        launched["host"] = self.config.host
        self.started = True

    monkeypatch.setattr(uvicorn.Server, "run", run)
    loaded = SimpleNamespace(backend="extractive")  # nothing loads
    serve(
        Settings(llm_backend="extractive", ui_host="0.0.0.0", api_enabled=False),
        block=False,
        assistant=loaded,
    )
    assert "WITHOUT a login" in capsys.readouterr().err
    assert launched["host"] == "0.0.0.0"
    serve(Settings(llm_backend="extractive"), block=False, assistant=loaded)
    assert "WITHOUT" not in capsys.readouterr().err and launched["host"] == "127.0.0.1"


def test_cli_serve_help_documents_the_flags(capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.cli import main

    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    assert "--host" in out and "--port" in out and "--share" in out


def test_bounded_load_serves_every_user_their_own_answers(extractive_app: str) -> None:
    import json

    from evals.load import QUESTIONS, run_load

    questions = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    report = run_load(extractive_app, users=4, seconds=15, questions=questions, backend="extractive")
    assert report.errors == [] and report.mixed_up == 0, report.mismatches
    assert report.served >= 8


def test_the_model_sees_only_the_conversation_on_the_page(
    seeded_dir: Path, embedder: ArchiveEmbedding
) -> None:
    from assistant import Assistant

    from .conftest import ScriptedChat

    chat = ScriptedChat("Hybrid operating rooms enable more than 350 high-tech surgeries a year [1].")
    bot = Assistant.from_settings(Settings(data_dir=seeded_dir), embedder=embedder, chat_model=chat)
    backend = ChatBackend(Application(bot.settings, assistant=bot))
    stale = [
        {"role": "user", "content": "Who is Suindikov?"},
        {"role": "assistant", "content": "A prosecutor."},
    ]
    *_, (_display, history, _, _) = backend.respond(
        "How many surgeries do they enable a year?", [], stale, 4, None, None
    )
    assert len(chat.prompts) == 1  # no condense step: the cleared page had no earlier turns
    assert [m["role"] for m in history] == ["user", "assistant"] and "350" in history[1]["content"]


def test_time_words_do_not_make_a_question_a_follow_up() -> None:
    from assistant.engine import _FOLLOWUP

    assert not _FOLLOWUP.search("How many homes were built this year?")
    assert _FOLLOWUP.search("Where did he begin his career?")
    assert _FOLLOWUP.search("When was this announced?")


def test_the_status_reads_the_ledger_only_after_ingest_saved_a_new_index(
    seeded_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page asks for the status every second: a `stat` of the index stamp, not a ledger read each time."""
    import os
    import shutil

    from ingest.lexical import index_dir
    from ingest.store import PassageStore

    data_dir = tmp_path / "data"
    shutil.copytree(seeded_dir, data_dir, ignore=shutil.ignore_patterns("conversations.sqlite3*"))
    settings = Settings(data_dir=data_dir, llm_backend="extractive")
    reads: list[int] = []
    articles = PassageStore.articles
    monkeypatch.setattr(PassageStore, "articles", lambda self: reads.append(1) or articles(self))
    backend = ChatBackend(Application(settings, assistant=SimpleNamespace(backend="extractive")))  # type: ignore[arg-type]
    assert "10 articles" in backend.status() and "10 articles" in backend.status()
    assert len(reads) == 1
    stamp = index_dir(settings) / "meta.json"  # Tantivy's commit point: what `saved_at` reads
    later = stamp.stat().st_mtime + 5
    os.utime(stamp, (later, later))  # what an ingest that changed the archive does
    assert "10 articles" in backend.status()
    assert len(reads) == 2

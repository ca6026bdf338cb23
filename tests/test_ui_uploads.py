"""Uploads through the UI: distinct uploads always get distinct files, identical ones are recognised."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from assistant.app import Application
from assistant.settings import Settings
from assistant.ui import ChatBackend
from assistant.ui_uploads import UploadError, store_upload
from ingest.embedding import ArchiveEmbedding


def _upload(tmp_path: Path, name: str, content: bytes) -> SimpleNamespace:
    """What Gradio hands the backend: a temp file and the name the browser sent."""
    path = Path(tempfile.mkdtemp(dir=tmp_path)) / "upload"
    path.write_bytes(content)
    return SimpleNamespace(name=str(path), orig_name=name)


def _article(title: str, sentence: str) -> bytes:
    return f"{title}\n\n{sentence}\n".encode()


@pytest.fixture
def backend(tmp_path: Path, embedder: ArchiveEmbedding) -> ChatBackend:
    settings = Settings(data_dir=tmp_path / "data", llm_backend="extractive")
    return ChatBackend(Application(settings, embedder=embedder))  # the session's embedder


def _stored(backend: ChatBackend) -> dict[str, bytes]:
    folder = backend.settings.data_dir / "uploads"
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if not p.name.startswith(".")}


def test_names_that_sanitise_alike_never_overwrite_each_other(tmp_path: Path, backend: ChatBackend) -> None:
    first = _article("Bridge opens in Astana", "The new bridge in Astana opened on Monday.")
    second = _article("Tram line approved", "The council approved a tram line to the airport.")
    third = _article("Library reopens", "The city library reopened after two years of repairs.")
    backend.add_files([_upload(tmp_path, "report.txt", first)])
    message = backend.add_files([_upload(tmp_path, "report!.txt", second)])
    assert "report-2.txt" in message and "report!.txt" in message
    message = backend.add_files([_upload(tmp_path, "report?.txt", third)])
    assert "report-3.txt" in message
    assert _stored(backend) == {"report.txt": first, "report-2.txt": second, "report-3.txt": third}
    titles = sorted(row[0] for row in backend.articles_table())
    assert titles == ["Bridge opens in Astana", "Library reopens", "Tram line approved"]


def test_the_same_name_uploaded_twice_in_one_batch_keeps_both(tmp_path: Path, backend: ChatBackend) -> None:
    one = _article("Odd name one", "The first article with an odd name reports a flood.")
    two = _article("Odd name two", "The second article with an odd name reports a drought.")
    message = backend.add_files([_upload(tmp_path, "???.txt", one), _upload(tmp_path, "!!!.txt", two)])
    assert _stored(backend) == {"upload.txt": one, "upload-2.txt": two}
    assert "2 new" in message and "upload-2.txt" in message


def test_identical_content_re_uploaded_is_recognised_as_unchanged(
    tmp_path: Path, backend: ChatBackend
) -> None:
    first = _article("Bridge opens in Astana", "The new bridge in Astana opened on Monday.")
    second = _article("Tram line approved", "The council approved a tram line to the airport.")
    backend.add_files([_upload(tmp_path, "report.txt", first), _upload(tmp_path, "report!.txt", second)])
    message = backend.add_files(
        [_upload(tmp_path, "report.txt", first), _upload(tmp_path, "report?.txt", second)]
    )
    assert _stored(backend) == {"report.txt": first, "report-2.txt": second}
    assert "same content" in message and "2 unchanged" in message and "0 new" in message


def test_empty_uploads_are_reported_and_never_clobber_a_stored_article(
    tmp_path: Path, backend: ChatBackend
) -> None:
    article = _article("Bridge opens in Astana", "The new bridge in Astana opened on Monday.")
    backend.add_files([_upload(tmp_path, "report.txt", article)])
    message = backend.add_files([_upload(tmp_path, "report.txt", b""), _upload(tmp_path, "report.txt", b"")])
    assert "✗ report-2.txt" in message
    assert "report.txt: same content as report-2.txt" in message  # the second empty one
    assert _stored(backend) == {"report.txt": article, "report-2.txt": b""}
    assert [row[0] for row in backend.articles_table()] == ["Bridge opens in Astana"]


def test_store_upload_claims_names_without_a_window_for_overwrites(tmp_path: Path) -> None:
    folder = tmp_path / "uploads"
    folder.mkdir()
    sources = []
    for i in range(3):
        source = tmp_path / f"src{i}"
        source.write_bytes(f"article {i}".encode())
        sources.append(source)
    stored = [store_upload(s, "a.md", folder) for s in sources]
    assert [(s.path.name, s.status) for s in stored] == [
        ("a.md", "new"),
        ("a-2.md", "renamed"),
        ("a-3.md", "renamed"),
    ]
    again = store_upload(sources[1], "a.md", folder)
    assert (again.path.name, again.status) == ("a-2.md", "unchanged")
    assert sorted(p.name for p in folder.iterdir()) == ["a-2.md", "a-3.md", "a.md"]  # no temp files left
    (folder / "b.md").mkdir()  # a name taken by something that is not a file is skipped too
    assert store_upload(sources[0], "b.md", folder).path.name == "b-2.md"
    for bad in ("../c.md", ".hidden.md", ""):
        with pytest.raises(UploadError):
            store_upload(sources[0], bad, folder)


def test_upload_result_shows_strings_from_files_as_plain_text(tmp_path: Path, backend: ChatBackend) -> None:
    import gradio as gr

    from assistant.ui import build_app

    hostile = '<img src="http://127.0.0.1:9/p.png"> **b** [x](http://127.0.0.1:9/) www.example.com'
    line = {"id": hostile, "title": "Tram", "text": "The council approved a tram line to the airport."}
    feed = (json.dumps(line) + "\n" + json.dumps({**line, "title": "Tram 2"}) + "\n").encode()
    message = backend.add_files([_upload(tmp_path, "<b>feed</b>.jsonl", feed)])
    assert f"id {hostile!r} repeats an earlier line" in message  # ingest's note quotes the file verbatim...
    demo = build_app(backend.settings, backend)
    shown_in = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "added")
    assert isinstance(shown_in, gr.Textbox) and not shown_in.interactive  # ...into a plain-text box


def test_a_duplicate_is_reported_by_file_name_without_server_paths(
    tmp_path: Path, backend: ChatBackend
) -> None:
    body = "The new bridge in Astana opened on Monday after two years of work."
    backend.add_files([_upload(tmp_path, "bridge.txt", _article("Bridge opens in Astana", body))])
    message = backend.add_files(
        [_upload(tmp_path, "bridge.md", f"# Bridge opens in Astana\n\n{body}\n".encode())]
    )
    assert "bridge.md is a duplicate of bridge.txt" in message, message
    assert str(backend.settings.data_dir.resolve()) not in message

"""What a hostile or careless user broke in the red-team pass (issue 16): the query side.

Damaged or read-only archives, damaged lexical indexes, odd API arguments, lone surrogates, settings that
contradict each other, and a filtered vector search that comes up short.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from assistant import Assistant, Settings
from assistant.errors import ArchiveDamagedError, ArchiveUnavailableError, ConfigError, QuestionError
from assistant.retrieval import HybridRetriever
from assistant.settings import settings_from_args
from assistant.text import clean_question
from ingest.embedding import ArchiveEmbedding
from ingest.lexical import LexicalIndex
from ingest.store import PassageFilter, PassageStore

from .conftest import can_mount_read_only

ROOT = Path(__file__).resolve().parent.parent


def _bot(data_dir: Path, embedder: ArchiveEmbedding) -> Assistant:
    settings = Settings(data_dir=data_dir, llm_backend="extractive")
    return Assistant.from_settings(settings, embedder=embedder)


@pytest.fixture
def seeded_copy(seeded_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the seeded archive that a test may damage."""
    target = tmp_path / "copy"
    shutil.copytree(seeded_dir, target)
    return target


# --- lone surrogates (item 6) ---------------------------------------------------------------------------
def test_lone_surrogates_are_dropped_from_questions(seeded_dir: Path, embedder: ArchiveEmbedding) -> None:
    assert clean_question("How many jobs? \ud800\udcff") == "How many jobs?"
    answer = _bot(seeded_dir, embedder).ask("How many jobs will the biopharma plant create? \ud800")
    assert "\ud800" not in answer.question
    assert not answer.refused and "180" in answer.text


def test_history_with_lone_surrogates_does_not_crash(seeded_dir: Path, embedder: ArchiveEmbedding) -> None:
    history = [
        {"role": "user", "content": "Tell me about the biopharma plant \udcff"},
        {"role": "assistant", "content": "It is in Kazakhstan \ud800."},
    ]
    answer = _bot(seeded_dir, embedder).ask("How many jobs will it create?", history)
    # the follow-up stands alone with the history's words, cleaned, and is answered from the plant's article
    assert answer.standalone_question == "Tell me about the biopharma plant How many jobs will it create?"
    assert not answer.refused and "180" in answer.text


def _assistant_cli(
    data_dir: Path, *args: str | bytes, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(data_dir), "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=120,
        cwd=ROOT,
    )


def test_cli_argument_with_an_invalid_utf8_byte(seeded_dir: Path) -> None:
    question = b"How many jobs will the biopharma plant create? \xff"
    done = _assistant_cli(seeded_dir, "ask", "--backend", "extractive", question)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    assert b"180" in done.stdout


def test_terminal_chat_with_an_invalid_utf8_byte(seeded_dir: Path) -> None:
    stdin = b"How many jobs will the \xff biopharma plant create?\n\n"
    done = _assistant_cli(seeded_dir, "chat", "--backend", "extractive", stdin=stdin)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    assert b"180" in done.stdout


# --- the Python API's arguments (items 11 and 12) -------------------------------------------------------
@pytest.mark.parametrize(
    "between",
    [
        ("2026-01-01", None),
        (date(2026, 1, 1), "2026-02-01"),
        (date(2026, 1, 1), None, None),
        (1767225600, None),
        "2026",
    ],
)
def test_bad_date_ranges_are_question_errors(
    seeded_dir: Path, embedder: ArchiveEmbedding, between: object
) -> None:
    with pytest.raises(QuestionError, match="published_between"):
        _bot(seeded_dir, embedder).ask("How many jobs?", published_between=between)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [2.5, "3", 0, -1, True, 1000])
def test_bad_max_sources_are_question_errors(
    seeded_dir: Path, embedder: ArchiveEmbedding, value: object
) -> None:
    with pytest.raises(QuestionError, match="max_sources"):
        _bot(seeded_dir, embedder).ask("How many jobs?", max_sources=value)  # type: ignore[arg-type]


def test_dates_and_datetimes_are_accepted_and_a_date_end_includes_its_day(
    seeded_dir: Path, embedder: ArchiveEmbedding
) -> None:
    bot = _bot(seeded_dir, embedder)
    question = "How many jobs will the biopharma plant create?"  # published 2026-01-01 16:52
    one_day = bot.ask(question, published_between=(date(2026, 1, 1), date(2026, 1, 1)))
    assert not one_day.refused and "180" in one_day.text
    open_end = bot.ask(question, published_between=(date(2026, 1, 1), None))
    assert not open_end.refused and "180" in open_end.text
    aware = bot.ask(question, published_between=(datetime(2026, 1, 1, tzinfo=UTC), None))
    assert not aware.refused
    before = bot.ask(question, published_between=(None, date(2025, 12, 31)))
    assert not any("biopharma" in c.title.lower() for c in before.citations)
    with pytest.raises(QuestionError, match="empty"):
        bot.ask(question, published_between=(date(2026, 1, 2), date(2026, 1, 1)))


def test_ui_one_day_range_includes_the_day(seeded_dir: Path, embedder: ArchiveEmbedding) -> None:
    from assistant.app import Application
    from assistant.ui import ChatBackend

    settings = Settings(data_dir=seeded_dir, llm_backend="extractive")
    backend = ChatBackend(Application(settings, assistant=_bot(seeded_dir, embedder)))
    day = datetime(2026, 1, 1)  # what Gradio's date-only picker gives for both ends
    *_, (display, _, _, _) = backend.respond(
        "How many jobs will the biopharma plant create?", [], [], 5, day, day
    )
    shown = " ".join(str(m["content"]) for m in display)
    assert "empty" not in shown and "180" in shown


# --- settings (item 10) -----------------------------------------------------------------------------------
def test_an_empty_fallback_setting_turns_the_fallback_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_LLM_FALLBACK", "")
    assert Settings().llm_fallback is None
    monkeypatch.setenv("ASSISTANT_LLM_FALLBACK", "extractive")
    assert Settings().llm_fallback == "extractive"
    monkeypatch.setenv("ASSISTANT_LLM_FALLBACK", "openai")  # never honoured, so never accepted
    with pytest.raises(ValueError):
        Settings()


def test_chunk_overlap_must_be_smaller_than_the_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    monkeypatch.setenv("ASSISTANT_CHUNK_TOKENS", "64")
    monkeypatch.setenv("ASSISTANT_CHUNK_OVERLAP", "100")
    with pytest.raises(ConfigError, match="ASSISTANT_CHUNK_OVERLAP"):
        settings_from_args(argparse.Namespace(), Settings)


# --- damaged lexical index (item 7) -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "damage", [".idx", ".term", ".fieldnorm", ".store", ".fast", "meta.json", "no segment"]
)
def test_a_damaged_lexical_index_is_rebuilt(
    seeded_copy: Path, embedder: ArchiveEmbedding, damage: str
) -> None:
    index_dir = Settings(data_dir=seeded_copy).state_dir / "bm25"
    assert LexicalIndex.load(index_dir) is not None
    if damage == "meta.json":
        (index_dir / "meta.json").write_text("{")
    elif damage == "no segment":
        for entry in index_dir.glob("*.idx"):
            entry.unlink()
    else:
        for entry in index_dir.glob(f"*{damage}"):
            entry.write_bytes(b"")
    assert LexicalIndex.load(index_dir) is None
    answer = _bot(seeded_copy, embedder).ask("How many jobs will the biopharma plant create?")
    assert not answer.refused and "180" in answer.text
    assert LexicalIndex.load(index_dir) is not None, "the rebuilt index is saved again"


# --- damaged or unusable archives (items 8 and 9) ---------------------------------------------------------
def test_an_emptied_database_is_reported_as_damaged_not_empty(
    seeded_copy: Path, embedder: ArchiveEmbedding
) -> None:
    from ingest import ingest_paths

    database = seeded_copy / "chroma" / "chroma.sqlite3"
    database.write_bytes(b"")
    with pytest.raises(ArchiveDamagedError, match="damaged"):
        _bot(seeded_copy, embedder).ask("How many jobs will the biopharma plant create?")
    with pytest.raises(ArchiveDamagedError):
        ingest_paths([ROOT / "seeds"], Settings(data_dir=seeded_copy), embedder=embedder)
    assert database.stat().st_size == 0, "nothing may start a new archive over the damaged one"


def test_a_foreign_database_file_is_reported_as_damaged(
    seeded_copy: Path, embedder: ArchiveEmbedding
) -> None:
    (seeded_copy / "chroma" / "chroma.sqlite3").write_bytes(b"\x00" * 4096)
    with pytest.raises(ArchiveDamagedError, match="not a SQLite database"):
        _bot(seeded_copy, embedder).ask("How many jobs?")


def test_a_data_dir_that_is_a_file_is_a_clear_error(tmp_path: Path, embedder: ArchiveEmbedding) -> None:
    target = tmp_path / "not-a-dir"
    target.write_text("oops")
    with pytest.raises(ArchiveUnavailableError, match="is a file, not a folder"):
        _bot(target, embedder).ask("How many jobs?")
    done = _assistant_cli(target, "ask", "--backend", "extractive", "How many jobs?")
    stderr = done.stderr.decode(errors="replace")
    assert done.returncode == 2
    assert "Traceback" not in stderr and "is a file, not a folder" in stderr


@pytest.mark.skipif(not can_mount_read_only(), reason="needs a private read-only bind mount (root, unshare)")
def test_answers_come_from_a_read_only_archive(seeded_copy: Path) -> None:
    # the lexical index is stale, so the reader must rebuild it and cannot save it: in memory it is
    shutil.rmtree(Settings(data_dir=seeded_copy).state_dir / "bm25")
    script = (
        f"mount --bind {seeded_copy} {seeded_copy} && mount -o remount,ro,bind {seeded_copy} && "
        f"touch {seeded_copy}/probe 2>/dev/null && exit 99; "
        f"exec {sys.executable} -m assistant ask --backend extractive "
        "'How many jobs will the biopharma plant create?'"
    )
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(seeded_copy)}
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, env=env, timeout=180, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "180" in done.stdout


# --- a filtered vector search that comes up short (item 5) ------------------------------------------------
def test_a_filtered_query_that_comes_up_short_is_searched_exactly(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    store = PassageStore(settings)
    rng = np.random.default_rng(7)
    crowd = rng.normal(size=384).astype(np.float32)
    vectors, ids, metas = [], [], []
    for i in range(1200):  # a crowd of identical passages from one undated, repetitive upload
        vectors.append(crowd)
        ids.append(f"crowd:{i}")
        metas.append({"article_id": "crowd", "published_ts": -1})
    dated = rng.normal(size=(11, 384)).astype(np.float32)
    for i, v in enumerate(dated):
        vectors.append(v)
        ids.append(f"dated:{i}")
        metas.append({"article_id": f"dated-{i}", "published_ts": 1_767_225_600 + i})
    store.upsert_passages(ids, np.stack(vectors), [f"text {i}" for i in ids], metas)

    hits = store.query(crowd, 20, PassageFilter(published=(1_767_225_600, 1_767_225_700)))
    assert sorted(p.passage_id for p, _ in hits) == sorted(f"dated:{i}" for i in range(11))
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True)
    expected = max(float(v @ crowd / np.linalg.norm(v) / np.linalg.norm(crowd)) for v in dated)
    assert abs(scores[0] - expected) < 1e-4


def test_uncommitted_passages_crowding_the_search_are_skipped(
    seeded_copy: Path, embedder: ArchiveEmbedding
) -> None:
    """An ingest under way (or killed) leaves passages no committed article owns; they are never served,
    and when they fill the nearest k the search is redone without them."""
    settings = Settings(data_dir=seeded_copy)
    store = PassageStore(settings)
    question = "How many jobs will the biopharma plant create?"
    vector = embedder.encode([question])[0]
    ghosts = 30
    store.upsert_passages(
        [f"ghost:{i}" for i in range(ghosts)],
        np.stack([vector] * ghosts),
        [f"uncommitted text {i}" for i in range(ghosts)],
        [{"article_id": "ghost", "content_hash": "not-committed", "published_ts": -1}] * ghosts,
    )
    retrieval = HybridRetriever(settings, store, embedder).retrieve(question, k=10)
    assert not any(h.passage_id.startswith("ghost") for h in retrieval.hits)
    assert retrieval.best_dense > 0.3, "committed passages are still found by the dense search"
    assert sum(1 for h in retrieval.hits if h.dense is not None) >= 5

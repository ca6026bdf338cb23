"""Ingest end to end: real Chroma in tmp_path, the real embedder, passages and their token budgets."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant.errors import IngestLockedError
from assistant.settings import Settings
from ingest import ingest_paths
from ingest.articles import Article
from ingest.cli import main as ingest_main
from ingest.embedding import ArchiveEmbedding
from ingest.lexical import LexicalIndex
from ingest.passages import PassageSplitter, count_tokens, token_counter
from ingest.pipeline import ingest_lock
from ingest.readers import find_files, read_file
from ingest.store import PassageStore

from .conftest import SEEDS


def seed_articles(root: Path = SEEDS) -> list[Article]:
    out: list[Article] = []
    for path, origin in find_files([root]):
        out.extend(read_file(path, origin, 10**7).articles)
    return out


def stored(settings: Settings) -> dict[str, str]:
    store = PassageStore(settings)
    return {p.passage_id: p.text for p in store.iter_passages()}


# --- passages --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [64, 128, 192, 256])
def test_passages_respect_token_budget_and_point_at_their_text(size: int) -> None:
    splitter = PassageSplitter(size, 16)
    for article in seed_articles():
        passages = splitter.split(article)
        assert passages, article.title
        for p in passages:
            assert count_tokens(p.text) <= size
            assert article.text[p.start : p.end] == p.text
        # together they cover every word of the article
        covered = " ".join(p.text for p in passages)
        assert set(article.text.split()) <= set(covered.split())


def test_token_counts_match_tiktoken_reference() -> None:
    import tiktoken

    reference = tiktoken.get_encoding("cl100k_base")
    for text in ["", "Astana", "12,000 tenge", "Қазақстан 🚕 ✓", "x" * 5000]:
        assert count_tokens(text) == len(reference.encode(text)) == len(token_counter().encode(text))


@pytest.mark.parametrize(
    "text",
    ["word " * 2000, "a" * 20000, "Ұлттық ғылыми онкология орталығы. " * 200, "😀" * 3000, "x"],
)
def test_splitter_handles_edge_cases(text: str) -> None:
    article = Article(title="t", text=text, origin="t/edge.txt")
    passages = PassageSplitter(128, 16).split(article)
    assert passages
    for p in passages:
        assert count_tokens(p.text) <= 128
        assert text[p.start : p.end] == p.text


def test_passage_ids_name_the_article_version_and_position() -> None:
    splitter = PassageSplitter(64, 8)
    article = Article(title="t", text="One sentence here. " * 40, origin="t/a.txt")
    edited = Article(title="t", text=article.text + "A new last line.", origin="t/a.txt")
    ids = [p.passage_id for p in splitter.split(article)]
    edited_ids = [p.passage_id for p in splitter.split(edited)]
    assert len(set(ids)) == len(ids) > 1  # unique within an article
    assert article.article_id == edited.article_id  # same article (same origin) ...
    assert not set(ids) & set(edited_ids)  # ... but an edit never reuses an old passage id
    assert [pid.rsplit(":", 1)[1] for pid in ids] == [str(i) for i in range(len(ids))]


# --- the pipeline -----------------------------------------------------------------------------------------
def test_ingest_seeds_then_nothing_new_then_one_change_then_prune(
    tmp_path: Path, embedder: ArchiveEmbedding
) -> None:
    corpus = tmp_path / "seeds"
    shutil.copytree(SEEDS, corpus)
    settings = Settings(data_dir=tmp_path / "data")

    first = ingest_paths([corpus], settings, embedder=embedder)
    assert (first.new, first.changed, first.unchanged, first.failed) == (10, 0, 0, [])
    before = stored(settings)
    assert len(before) == first.passages_written > 10
    store = PassageStore(settings)
    assert len(store.articles()) == 10
    meta = next(p.metadata for p in store.iter_passages() if "biopharma" in p.metadata["title"])
    assert meta["published"] == "2026-01-01T16:52:00" and meta["published_ts"] > 0
    assert meta["source"] == "Qazinform News Agency"
    assert {"article_id", "title", "url", "chunk_index", "start_char", "end_char"} <= set(meta)

    second = ingest_paths([corpus], settings, embedder=embedder)
    assert (second.new, second.changed, second.unchanged, second.passages_written) == (0, 0, 10, 0)
    assert stored(settings) == before

    feed = corpus / "004_8d23ba6792565b0d.txt"
    feed.write_text(feed.read_text().replace("180 permanent jobs", "185 permanent jobs"))
    third = ingest_paths([corpus], settings, embedder=embedder)
    assert (third.new, third.changed, third.unchanged) == (0, 1, 9)
    after = stored(settings)
    changed_article = next(a for a in seed_articles(corpus) if "biopharma" in a.title).article_id
    assert {k: v for k, v in after.items() if not k.startswith(changed_article)} == {
        k: v for k, v in before.items() if not k.startswith(changed_article)
    }
    assert any("185 permanent jobs" in t for t in after.values())
    assert not any("180 permanent jobs" in t for t in after.values())

    (corpus / "000_fe063259abc2a844.txt").unlink()
    fourth = ingest_paths([corpus], settings, prune=True, embedder=embedder)
    assert fourth.pruned == 1
    assert len(PassageStore(settings).articles()) == 9
    assert not any("Primeminister" in p.metadata["source"] for p in PassageStore(settings).iter_passages())
    index = LexicalIndex.load(settings.state_dir / "bm25")
    assert index is not None and len(index) == len(stored(settings))


def test_bad_files_are_reported_and_the_rest_ingested(tmp_path: Path, embedder: ArchiveEmbedding) -> None:
    corpus = tmp_path / "mixed"
    corpus.mkdir()
    (corpus / "empty.txt").write_text("")
    (corpus / "binary.md").write_bytes(b"\x00\x01\x02PNG" * 100)
    (corpus / "latin1.txt").write_bytes("Café au lait, naïve façade.".encode("latin-1"))
    (corpus / "huge.txt").write_text("Big news. " * 300_000)
    (corpus / "broken.jsonl").write_text('{"title": "ok"\n')
    (corpus / "good.md").write_text("# Good news\n\nSource: Test Wire\n\nThe bridge opened on Monday.\n")
    settings = Settings(data_dir=tmp_path / "data", max_file_mb=1)

    report = ingest_paths([corpus], settings, embedder=embedder)
    failed = {Path(name).name: reason for name, reason in report.failed}
    assert set(failed) == {"empty.txt", "binary.md", "latin1.txt", "huge.txt", "broken.jsonl"}
    assert "too large" in failed["huge.txt"] and "UTF-8" in failed["latin1.txt"]
    assert report.new == 1 and not report.ok
    assert [r.title for r in PassageStore(settings).articles().values()] == ["Good news"]


def test_duplicate_articles_under_other_names_are_skipped(tmp_path: Path, embedder: ArchiveEmbedding) -> None:
    corpus = tmp_path / "dups"
    corpus.mkdir()
    body = "# Same story\n\nThe council approved the budget on Tuesday.\n"
    (corpus / "a.md").write_text(body)
    (corpus / "b.md").write_text(body)
    report = ingest_paths([corpus], Settings(data_dir=tmp_path / "data"), embedder=embedder)
    assert report.new == 1 and len(report.duplicates) == 1


def test_interrupted_write_is_completed_by_the_next_run(
    tmp_path: Path, embedder: ArchiveEmbedding, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path / "data")
    clean = Settings(data_dir=tmp_path / "clean")
    ingest_paths([SEEDS], clean, embedder=embedder)
    monkeypatch.setattr("ingest.pipeline._BATCH_PASSAGES", 8)  # several commit batches for the seeds

    class Dies(PassageStore):
        commits = 0

        def commit_articles(self, records):  # type: ignore[no-untyped-def]
            if Dies.commits == 2:
                raise KeyboardInterrupt
            Dies.commits += 1
            super().commit_articles(records)

    with pytest.raises(KeyboardInterrupt):
        ingest_paths([SEEDS], settings, store=Dies(settings), embedder=embedder)
    committed = len(PassageStore(settings).articles())
    assert 2 <= committed < 10  # two batches committed, the third's passages written but not committed
    report = ingest_paths([SEEDS], settings, embedder=embedder)
    assert report.new == 10 - committed and report.unchanged == committed
    assert stored(settings) == stored(clean)


def test_second_ingest_on_the_same_data_dir_refuses_clearly(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    with ingest_lock(settings), pytest.raises(IngestLockedError, match="another ingest"):
        ingest_paths([SEEDS], settings)


def test_cli_summary_and_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "bad.txt").write_bytes(b"\x00" * 10)
    (corpus / "ok.md").write_text("# Title\n\nA sentence about a new school in Almaty.\n")
    code = ingest_main([str(corpus), "--data-dir", str(tmp_path / "d"), "-q"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "1 new" in out and "1 failed" in out and "bad.txt" in err
    assert ingest_main([str(tmp_path / "missing"), "--data-dir", str(tmp_path / "d")]) == 2
    with pytest.raises(SystemExit):
        ingest_main(["--help"])
    assert "--prune" in capsys.readouterr().out


def test_chroma_server_gives_the_same_archive(
    tmp_path: Path, embedder: ArchiveEmbedding, chroma_server
) -> None:  # type: ignore[no-untyped-def]
    port, _ = chroma_server
    remote = Settings(data_dir=tmp_path / "remote", chroma_host="127.0.0.1", chroma_port=port)
    local = Settings(data_dir=tmp_path / "local")
    assert ingest_paths([SEEDS], remote, embedder=embedder).new == 10
    assert ingest_paths([SEEDS], remote, embedder=embedder).unchanged == 10
    ingest_paths([SEEDS], local, embedder=embedder)
    assert stored(remote) == stored(local)
    query = embedder.encode(["How many jobs will the biopharma plant create?"])[0]
    top_remote = [p.passage_id for p, _ in PassageStore(remote).query(query, 3)]
    top_local = [p.passage_id for p, _ in PassageStore(local).query(query, 3)]
    assert top_remote == top_local


def test_what_a_reader_finds_beyond_the_fields_is_stored_with_the_passages(seeded_dir: Path) -> None:
    """Qazinform's view counts (and the like) are read from the feed and kept in each passage's metadata."""
    store = PassageStore(Settings(data_dir=seeded_dir))
    views = {p.metadata.get("extra_views") for p in store.iter_passages()} - {None}
    assert views and all(str(v).isdigit() for v in views)

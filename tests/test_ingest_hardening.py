"""Ingest under hostile or awkward input: colliding file names, duplicates across runs, repetitive text,
invalid Unicode, an unusable data dir, and one huge article. A real Chroma in tmp_path; a deterministic fake
embedder (vectors from a hash of the text), so these run in seconds."""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.errors import IngestError
from assistant.settings import Settings
from ingest import ingest_paths
from ingest.articles import Article
from ingest.cli import main as ingest_main
from ingest.passages import PassageSplitter
from ingest.pipeline import article_record
from ingest.readers import read_file
from ingest.store import PassageStore

from .conftest import ROOT, can_mount_read_only

MAX = 10 * 1024 * 1024


class HashEmbedder:
    """Unit vectors seeded by each text's hash (identical texts, identical vectors); records every call."""

    model_id = "hash-384 (test)"

    def __init__(self, events: list[tuple[str, int]] | None = None) -> None:
        self.events = events if events is not None else []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.events.append(("embed", len(texts)))
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
            vector = np.random.default_rng(seed).standard_normal(384)
            out[i] = vector / np.linalg.norm(vector)
        return out


def ingest(paths: list[Path], settings: Settings, **kwargs: Any) -> Any:
    return ingest_paths(paths, settings, embedder=HashEmbedder(), **kwargs)  # type: ignore[arg-type]


def served(settings: Settings) -> dict[str, str]:
    """Passage id -> text of what retrieval may return: passages of committed article versions."""
    store = PassageStore(settings)
    committed = {aid: rec.content_hash for aid, rec in store.articles().items()}
    return {
        p.passage_id: p.text
        for p in store.iter_passages()
        if committed.get(p.metadata["article_id"]) == p.metadata["content_hash"]
    }


def titles(settings: Settings) -> list[str]:
    return sorted(r.title for r in PassageStore(settings).articles().values())


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def sentences(n: int, topic: str = "council") -> str:
    return " ".join(f"The {topic} met for session number {i} and approved item {i * 7}." for i in range(n))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


# --- 1. article ids identify the file, not `<folder name>/<file name>` ------------------------------------
def _two_budgets(tmp_path: Path) -> tuple[Path, Path]:
    old = write(
        tmp_path / "c" / "2023" / "news" / "budget.txt", "Budget 2023\n\nThe 2023 budget was 4 billion.\n"
    )
    new = write(
        tmp_path / "c" / "2024" / "news" / "budget.txt", "Budget 2024\n\nThe 2024 budget was 5 billion.\n"
    )
    return old.parent, new.parent


def test_same_file_name_under_two_folders_of_the_same_name_in_one_run(
    tmp_path: Path, settings: Settings
) -> None:
    first, second = _two_budgets(tmp_path)
    report = ingest([first, second], settings)
    assert (report.new, report.failed, report.duplicates) == (2, [], [])
    assert titles(settings) == ["Budget 2023", "Budget 2024"]
    again = ingest([first, second], settings)
    assert (again.new, again.changed, again.unchanged, again.passages_written) == (0, 0, 2, 0)


def test_same_file_name_under_two_folders_of_the_same_name_in_two_runs(
    tmp_path: Path, settings: Settings
) -> None:
    first, second = _two_budgets(tmp_path)
    assert ingest([first], settings).new == 1
    report = ingest([second], settings)
    assert (report.new, report.changed) == (1, 0)  # not "0 new, 1 changed": the 2023 budget stays
    assert titles(settings) == ["Budget 2023", "Budget 2024"]
    # the same file given directly, not through its folder, is the same article
    direct = ingest([first / "budget.txt"], settings)
    assert (direct.new, direct.unchanged) == (0, 1)


def test_prune_forgets_only_articles_under_the_roots_given(tmp_path: Path, settings: Settings) -> None:
    first, second = _two_budgets(tmp_path)
    write(first / "tax.md", "# Tax\n\nThe tax rate stayed at 12 percent.\n")
    ingest([first, second], settings)
    (first / "tax.md").unlink()
    # a folder of the same name elsewhere is another root: nothing of the 2023 folder is touched
    assert ingest([second], settings, prune=True).pruned == 0
    assert titles(settings) == ["Budget 2023", "Budget 2024", "Tax"]
    assert ingest([first], settings, prune=True).pruned == 1
    assert titles(settings) == ["Budget 2023", "Budget 2024"]


def _legacy_ingest(settings: Settings, folder: Path) -> None:
    """What the earlier ingest stored: origins `<folder name>/<file name>`, ids derived from them."""
    store = PassageStore(settings)
    store.record_vector_space(HashEmbedder.model_id)  # its vectors are the test embedder's
    splitter = PassageSplitter(settings.chunk_tokens, settings.chunk_overlap)
    for path in sorted(folder.iterdir()):
        for article in read_file(path, f"{folder.name}/{path.name}", MAX).articles:
            passages = splitter.split(article)
            store.upsert_passages(
                [p.passage_id for p in passages],
                HashEmbedder().encode([p.embedding_text() for p in passages]),
                [p.text for p in passages],
                [p.metadata() for p in passages],
            )
            store.commit_articles([article_record(article, len(passages))])


def test_archive_ingested_under_the_old_ids_is_kept_not_duplicated(
    tmp_path: Path, settings: Settings
) -> None:
    folder = tmp_path / "news"
    write(folder / "a.txt", "Bridge opens\n\nThe bridge opened on Monday after two years of work.\n")
    write(folder / "b.md", "# Rates\n\nThe bank kept its rate at 9 percent.\n")
    write(folder / "c.md", "# Trains\n\nA new train line links the two cities.\n")
    _legacy_ingest(settings, folder)
    legacy_ids = set(PassageStore(settings).articles())
    assert len(legacy_ids) == 3

    report = ingest([folder], settings)  # nothing re-embedded, nothing duplicated, nothing reported
    assert (report.new, report.changed, report.unchanged, report.duplicates) == (0, 0, 3, [])
    assert report.passages_written == 0 and set(PassageStore(settings).articles()) == legacy_ids

    write(folder / "b.md", "# Rates\n\nThe bank raised its rate to 10 percent.\n")
    (folder / "c.md").unlink()
    edited = ingest([folder], settings, prune=True)
    assert (edited.new, edited.changed, edited.unchanged, edited.pruned) == (0, 1, 1, 1)
    assert titles(settings) == ["Bridge opens", "Rates"]  # the old version of b.md is gone, not served twice
    texts = " ".join(served(settings).values())
    assert "10 percent" in texts and "9 percent" not in texts and "train" not in texts


def test_two_articles_with_one_id_in_one_run_never_crash_it(tmp_path: Path, settings: Settings) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    # "caf\\xe9.txt" spelled out, and a name holding the byte 0xe9: both are written "caf\\xe9.txt"
    write(folder / "caf\\xe9.txt", "Cafe one\n\nThe first cafe opened.\n")
    Path(os.fsdecode(bytes(folder) + b"/caf\xe9.txt")).write_text("Cafe two\n\nThe second cafe opened.\n")
    report = ingest([folder], settings)
    assert report.new == 1 and len(titles(settings)) == 1
    [(name, reason)] = report.failed
    assert name.endswith("caf\\xe9.txt") and "its id" in reason


# --- 3. a duplicate of an article committed in an earlier run -------------------------------------------
def test_duplicate_of_an_article_committed_in_an_earlier_run_is_skipped(
    tmp_path: Path, settings: Settings
) -> None:
    body = "Same story\n\nThe council approved the budget on Tuesday.\n"
    a = write(tmp_path / "in" / "a.txt", body)
    b = write(tmp_path / "in" / "b.txt", body)
    assert ingest([a], settings).new == 1
    report = ingest([b], settings)
    assert report.new == 0 and report.duplicates == [(str(b.resolve()), str(a.resolve()))]
    assert len(PassageStore(settings).articles()) == 1


def test_renamed_file_with_prune_keeps_its_article(tmp_path: Path, settings: Settings) -> None:
    folder = tmp_path / "in"
    a = write(folder / "a.txt", "Same story\n\nThe council approved the budget on Tuesday.\n")
    ingest([folder], settings)
    a.rename(folder / "b.txt")
    report = ingest([folder], settings, prune=True)
    assert (report.new, report.pruned, report.duplicates) == (1, 1, [])
    assert [r.origin for r in PassageStore(settings).articles().values()] == [
        str((folder / "b.txt").resolve())
    ]
    assert any("approved the budget" in t for t in served(settings).values())


def test_article_edited_into_a_copy_of_another_drops_its_old_version(
    tmp_path: Path, settings: Settings
) -> None:
    folder = tmp_path / "in"
    write(folder / "a.txt", "Rates\n\nThe bank kept its rate at 9 percent.\n")
    write(folder / "b.txt", "Bridge\n\nThe bridge opened on Monday.\n")
    ingest([folder], settings)
    write(folder / "a.txt", "Bridge\n\nThe bridge opened on Monday.\n")
    report = ingest([folder], settings)
    assert len(report.duplicates) == 1 and titles(settings) == ["Bridge"]


# --- 5. repetitive text -------------------------------------------------------------------------------------
def test_repeated_passages_of_an_article_are_stored_once(settings: Settings) -> None:
    repeated = "Read more: subscribe to our newsletter for daily news about the city council and its budget."
    text = "\n\n".join(
        [sentences(4, "board"), repeated, sentences(4, "court"), repeated, sentences(4, "mayor")]
    )
    article = Article(title="t", text=text, origin="/t/a.txt")
    passages = PassageSplitter(32, 0).split(article)
    assert len({p.text for p in passages}) == len(passages)
    assert sum(p.text == repeated for p in passages) == 1
    assert [p.index for p in passages] == list(range(len(passages)))
    assert all(text[p.start : p.end] == p.text for p in passages)


def test_near_constant_article_is_refused_and_the_rest_ingested(tmp_path: Path, settings: Settings) -> None:
    folder = tmp_path / "in"
    write(folder / "spam.txt", "Buy cheap watches now at the best price in town. " * 4000)
    write(folder / "good.md", "# Good news\n\nThe bridge opened on Monday.\n")
    report = ingest([folder], settings)
    assert report.new == 1 and titles(settings) == ["Good news"]
    [(name, reason)] = report.failed
    assert name.endswith("spam.txt") and "repetitive" in reason


# --- 6. lone surrogates ------------------------------------------------------------------------------------
def test_lone_surrogate_in_a_jsonl_line_fails_that_line_only(tmp_path: Path, settings: Settings) -> None:
    folder = tmp_path / "in"
    write(
        folder / "feed.jsonl",
        '{"title": "Bad \\ud800 title", "text": "Broken record."}\n'
        '{"title": "Good title", "text": "The mayor opened the park.", "source": "x\\udfff"}\n'
        '{"title": "Fine", "text": "Emoji pairs are fine \\ud83d\\ude00."}\n',
    )
    write(folder / "other.md", "# Other\n\nA second file is ingested too.\n")
    report = ingest([folder], settings)
    assert report.new == 2 and titles(settings) == ["Fine", "Other"]
    assert [r.split(":")[0] for _, r in report.failed] == ["line 1", "line 2"]
    assert all("surrogate" in r for _, r in report.failed)


def test_file_name_that_is_not_utf8_is_ingested(tmp_path: Path, settings: Settings) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    Path(os.fsdecode(bytes(folder) + b"/caf\xe9.txt")).write_text("Cafe\n\nA cafe opened on the square.\n")
    report = ingest([folder], settings)
    assert report.new == 1 and report.failed == []
    [record] = PassageStore(settings).articles().values()
    assert record.origin.endswith("caf\\xe9.txt")


# --- 8. an unusable data dir ----------------------------------------------------------------------------
def test_data_dir_that_is_a_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write(tmp_path / "in" / "a.md", "# A\n\nText.\n")
    data = write(tmp_path / "data.txt", "not a folder")
    with pytest.raises(IngestError, match=r"data.txt is a file, not a folder.*ASSISTANT_DATA_DIR"):
        ingest([source], Settings(data_dir=data))
    with pytest.raises(IngestError, match=r"data.txt is a file, not a folder"):
        ingest([source], Settings(data_dir=data / "sub"))  # a path under a file
    assert ingest_main([str(source), "--data-dir", str(data), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.skipif(not can_mount_read_only(), reason="needs a private read-only bind mount (root, unshare)")
def test_read_only_data_dir_is_a_clear_error_from_the_cli(tmp_path: Path) -> None:
    """A real read-only file system (a private read-only bind mount; chmod does not stop root)."""
    source = write(tmp_path / "in" / "a.md", "# A\n\nText.\n")
    data = tmp_path / "data"
    Settings(data_dir=data).state_dir.mkdir(parents=True)
    script = (
        f"mount --bind {data} {data} && mount -o remount,ro,bind {data} && "
        f"touch {data}/probe 2>/dev/null && exit 99; "
        f"exec {sys.executable} -m ingest -q {source}"
    )
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, env=env, timeout=120, cwd=ROOT
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert "Read-only file system" in done.stderr and "ASSISTANT_DATA_DIR" in done.stderr


def test_read_only_data_dir_is_a_clear_error(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the privileges for a read-only mount: EROFS simulated where ingest first writes (its lock
    file), so this covers the message, not the file system."""
    source = write(tmp_path / "in" / "a.md", "# A\n\nText.\n")

    def read_only(file: Any, *args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.EROFS, "Read-only file system", str(file))

    monkeypatch.setattr("ingest.pipeline.open", read_only, raising=False)
    with pytest.raises(IngestError, match=r"Read-only file system.*ASSISTANT_DATA_DIR") as caught:
        ingest([source], settings)
    assert "ingest.lock" in str(caught.value) and "\n" not in str(caught.value)


# --- 14. a huge article is embedded and written batch by batch, committed once at the end ---------------
class RecordingStore(PassageStore):
    def __init__(self, settings: Settings, events: list[tuple[str, int]]) -> None:
        super().__init__(settings)
        self.events = events
        self.events_lock = threading.Lock()

    def upsert_passages(self, ids: Any, embeddings: Any, documents: Any, metadatas: Any) -> None:
        super().upsert_passages(ids, embeddings, documents, metadatas)
        self.events.append(("upsert", len(ids)))

    def commit_articles(self, records: Any) -> None:
        super().commit_articles(records)
        self.events.append(("commit", len(records)))


def test_one_huge_article_is_written_batch_by_batch_and_committed_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path / "data", chunk_tokens=32, chunk_overlap=0)
    monkeypatch.setattr("ingest.pipeline._BATCH_PASSAGES", 8)
    updates: list[int] = []

    class Bar:  # tqdm as the pipeline uses it, recording the embedding bar's steps
        def __init__(self, iterable: Any = None, *, desc: str = "", **kwargs: Any) -> None:
            self.iterable, self.desc = iterable, desc

        def __iter__(self) -> Any:
            return iter(self.iterable)

        def __enter__(self) -> Bar:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def update(self, n: int) -> None:
            if self.desc == "embedding":
                updates.append(n)

        def close(self) -> None:
            pass

    monkeypatch.setattr("ingest.pipeline.tqdm", Bar)
    source = write(tmp_path / "in" / "huge.txt", "Huge\n\n" + sentences(60))
    events: list[tuple[str, int]] = []
    embedder = HashEmbedder(events)
    report = ingest_paths([source], settings, store=RecordingStore(settings, events), embedder=embedder)  # type: ignore[arg-type]

    embeds = [i for i, (kind, _) in enumerate(events) if kind == "embed"]
    upserts = [i for i, (kind, _) in enumerate(events) if kind == "upsert"]
    commits = [i for i, (kind, _) in enumerate(events) if kind == "commit"]
    assert len(embeds) >= 4 and all(n <= 8 for kind, n in events if kind == "embed")
    assert upserts[0] < embeds[-1]  # written while the rest of the article is still being embedded
    assert len(commits) == 1 and commits[0] > upserts[-1]  # committed once, after its last passage
    assert updates == [n for kind, n in events if kind == "embed"]  # the bar moves with every batch
    [record] = PassageStore(settings).articles().values()
    assert record.passages == report.passages_written == sum(n for kind, n in events if kind == "upsert")


def test_huge_article_killed_midway_is_not_served_and_is_completed_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path / "data", chunk_tokens=32, chunk_overlap=0)
    monkeypatch.setattr("ingest.pipeline._BATCH_PASSAGES", 8)
    folder = tmp_path / "in"
    write(folder / "huge.txt", "Huge\n\n" + sentences(60))
    write(folder / "small.md", "# Small\n\nThe small article.\n")

    class Dies(PassageStore):
        upserts = 0

        def upsert_passages(self, *args: Any, **kwargs: Any) -> None:
            Dies.upserts += 1
            if Dies.upserts == 3:
                raise KeyboardInterrupt
            super().upsert_passages(*args, **kwargs)

    with pytest.raises(KeyboardInterrupt):
        ingest_paths([folder], settings, store=Dies(settings), embedder=HashEmbedder())  # type: ignore[arg-type]
    store = PassageStore(settings)
    assert store.articles() == {} and served(settings) == {}
    assert store.count() == 16  # two batches of the big article's passages wait, uncommitted

    report = ingest([folder], settings)
    assert report.new == 2 and report.failed == []
    clean = Settings(data_dir=tmp_path / "clean", chunk_tokens=32, chunk_overlap=0)
    ingest([folder], clean)
    assert served(settings) == served(clean) and PassageStore(settings).count() == PassageStore(clean).count()


def test_prune_removes_what_a_killed_run_left_of_an_article_whose_file_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path / "data", chunk_tokens=32, chunk_overlap=0)
    monkeypatch.setattr("ingest.pipeline._BATCH_PASSAGES", 8)
    folder = tmp_path / "in"
    huge = write(folder / "huge.txt", "Huge\n\n" + sentences(60))
    write(folder / "small.md", "# Small\n\nThe small article.\n")
    ingest([folder / "small.md"], settings)

    class Dies(PassageStore):
        def upsert_passages(self, *args: Any, **kwargs: Any) -> None:
            if self.count() >= 16:
                raise KeyboardInterrupt
            super().upsert_passages(*args, **kwargs)

    with pytest.raises(KeyboardInterrupt):
        ingest_paths([huge], settings, store=Dies(settings), embedder=HashEmbedder())  # type: ignore[arg-type]
    assert PassageStore(settings).count() > len(served(settings)) == 1
    huge.unlink()
    assert ingest([folder], settings).unchanged == 1 and PassageStore(settings).count() > 1  # kept ...
    assert ingest([folder], settings, prune=True).pruned == 0
    assert PassageStore(settings).count() == len(served(settings)) == 1  # ... until a pruning run


def test_the_lexical_index_takes_each_batch_while_the_next_is_embedded(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tantivy's writes overlap the embedding: an article committed by an earlier batch is searchable by
    BM25 while later batches are still being embedded; the run still ends with the index of everything
    and no pending mark."""
    from ingest.lexical import LexicalIndex, index_dir, pending

    monkeypatch.setattr("ingest.pipeline._BATCH_PASSAGES", 2)  # 3 batches
    ingest([write(tmp_path / "first" / "a.txt", "Opening\n\n" + sentences(3))], settings)  # the index exists
    folder = tmp_path / "in"
    for i in range(6):
        write(
            folder / f"{i}.txt",
            f"Article {i}\n\nThe zephyrword{i} committee met. " + sentences(2, f"topic{i}"),
        )
    directory = index_dir(settings)
    seen: list[tuple[set[str], bool]] = []

    class Watching(HashEmbedder):
        def encode(self, texts: list[str]) -> np.ndarray:
            index = LexicalIndex.load(directory)
            found = {
                f"zephyrword{i}" for i in range(6) if index is not None and index.search(f"zephyrword{i}", 1)
            }
            seen.append((found, pending(directory)))
            return super().encode(texts)

    report = ingest_paths([folder], settings, embedder=Watching())  # type: ignore[arg-type]
    assert report.new == 6 and len(seen) >= 3
    before_last = seen[-1][0]
    assert before_last and len(before_last) < 6  # some articles indexed, mid-run, before the last batch
    assert all(mark for _, mark in seen)  # the run is not over: a kill now is repaired by the next run
    index = LexicalIndex.load(directory)
    assert index is not None and all(index.search(f"zephyrword{i}", 1) for i in range(6))
    assert not pending(directory)


# --- a read on a view another process has moved past ------------------------------------------------------
def test_a_read_failing_inside_chroma_is_tried_once_more_on_a_fresh_client(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m ingest` writing while the server runs left the server's client unable to read the first
    passages of an archive that was empty when it opened it (Chroma's InternalError, "Nothing found on
    disk"): a read is retried once on a client opened afresh; a write is never retried."""
    from chromadb.errors import InternalError

    store = PassageStore(settings)
    assert store.count() == 0
    opened = store._client
    real = store._collections
    failures = iter([InternalError("Error creating hnsw segment reader: Nothing found on disk")])

    def stale() -> Any:
        handles = real()
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return handles

    monkeypatch.setattr(store, "_collections", stale)
    assert store.count() == 0
    assert store._client is not None and store._client is not opened  # read again on a new client

    failures = iter([InternalError("Error executing plan")])
    with pytest.raises(InternalError):
        store.delete_passages(["a:b:0"])

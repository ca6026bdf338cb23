"""Several assistant processes sharing one archive through a Chroma server (`chroma run`), one ingesting: the
others see the new and changed articles without a restart, and every one's lexical index matches the
committed archive (the passages the ledger commits, nothing replaced)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from assistant.settings import Settings
from ingest.store import PassageStore

from .conftest import ROOT, SEEDS

READER = r"""
import json, sys
from assistant.retrieval import HybridRetriever
from assistant.settings import Settings
from ingest.embedding import MiniLMEmbedding
from ingest.store import PassageStore

settings = Settings()
retriever = HybridRetriever(settings, PassageStore(settings), MiniLMEmbedding(threads=1))
retriever.warm_up()
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    query = line.strip()
    result = retriever.retrieve(query)
    snap = retriever.snapshot()
    print(json.dumps({
        "texts": [h.passage.text for h in result.hits[:3]],
        "lexical": [pid for pid, _ in snap.index.search(query, 5)],
        "ids": sorted(snap.index.ids),
        "articles": len(snap.committed),
    }), flush=True)
"""


def _ask(reader: subprocess.Popen[str], query: str) -> dict[str, Any]:
    assert reader.stdin is not None and reader.stdout is not None
    reader.stdin.write(query + "\n")
    reader.stdin.flush()
    line = reader.stdout.readline()
    assert line, "the reader died"
    return dict(json.loads(line))


def _ingest(env: dict[str, str], *paths: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ingest", *map(str, paths), "-q"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.slow
def test_processes_sharing_a_chroma_server_see_an_ingest_without_restart(
    tmp_path: Path, chroma_server
) -> None:  # type: ignore[no-untyped-def]
    port, _ = chroma_server
    data = tmp_path / "data"
    env = {
        **os.environ,
        "ASSISTANT_DATA_DIR": str(data),
        "ASSISTANT_CHROMA_HOST": "127.0.0.1",
        "ASSISTANT_CHROMA_PORT": str(port),
        "ASSISTANT_EMBEDDER": "minilm",  # the readers' embedder: the archive must be built with it
        "PYTHONPATH": str(ROOT),
    }
    _ingest(env, SEEDS)
    news = tmp_path / "news"
    news.mkdir()
    story = news / "quokka.md"
    story.write_text("# Quokka census\n\nSource: Test Wire\n\nThe quokka census counted 12,000 quokkas.\n")

    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER],
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for reader in readers:
            assert reader.stdout is not None and json.loads(reader.stdout.readline())["ready"]
            assert not any("quokka" in t for t in _ask(reader, "quokka census")["texts"])

        settings = Settings(data_dir=data, chroma_host="127.0.0.1", chroma_port=port)

        def committed_passages() -> list[str]:
            store = PassageStore(settings)
            ledger = store.articles()
            return sorted(
                p.passage_id
                for p in store.iter_passages()
                if ledger.get(p.metadata["article_id"]) is not None
                and ledger[p.metadata["article_id"]].content_hash == p.metadata["content_hash"]
            )

        _ingest(env, SEEDS, news)  # a third process ingests while the readers run
        expected = committed_passages()
        for reader in readers:
            seen = _ask(reader, "quokka census")
            assert "12,000 quokkas" in seen["texts"][0]
            assert seen["ids"] == expected and seen["articles"] == 11

        story.write_text(
            "# Quokka census\n\nSource: Test Wire\n\nThe quokka census counted 13,500 quokkas.\n"
        )
        _ingest(env, SEEDS, news)  # the article changes: its old passage must go from every index
        expected = committed_passages()
        for reader in readers:
            seen = _ask(reader, "quokka census")
            assert "13,500 quokkas" in seen["texts"][0]
            assert not any("12,000" in t for t in seen["texts"])
            assert seen["ids"] == expected and seen["articles"] == 11
            assert len(seen["lexical"]) == 1
    finally:
        for reader in readers:
            reader.kill()
            reader.wait(10)

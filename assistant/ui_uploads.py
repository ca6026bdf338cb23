"""Uploaded article files into the uploads folder, never overwriting another upload.

`safe_upload_name` turns the name a browser sent into a plain file name. `store_upload` copies an upload
into the folder under that name or, when the name already holds a different file (an earlier upload of
the same name, or of a name that sanitises alike: `report.txt`, `report!.txt`), under the first free
`report-2.txt`, `report-3.txt`, ... Content already stored under one of those names is recognised and
not stored twice. A name is claimed with a hard link of a finished temp copy, which fails if the name
exists, so no upload ever replaces another, not even two uploads at once.

Left out: the checks of type and size (the UI's) and ingest.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import UploadError

__all__ = ["MAX_SAME_NAME", "StoredUpload", "UploadError", "safe_upload_name", "store_upload"]

MAX_SAME_NAME = 1000


@dataclass(frozen=True)
class StoredUpload:
    """Where an upload was stored: under its own name (new), another name (renamed), or already there."""

    path: Path
    status: Literal["new", "renamed", "unchanged"]


def safe_upload_name(name: str) -> str:
    """A file name with no directories, no traversal and no odd characters; keeps the suffix."""
    base = os.path.basename(name.replace("\\", "/"))
    base = unicodedata.normalize("NFKC", base)
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = re.sub(r"[^\w.-]+", "_", stem).strip("._")[:80] or "upload"
    suffix = re.sub(r"[^\w]+", "", suffix).lower()[:10]
    return f"{stem}.{suffix}" if suffix else stem


def store_upload(source: Path, name: str, folder: Path) -> StoredUpload:
    """Copy `source` into `folder` as `name` (already safe), or the first free `<stem>-N<suffix>`."""
    if not name or Path(name).name != name or name.startswith("."):
        raise UploadError(f"{name!r} is not a plain file name")
    digest = _digest(source)
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".upload-", suffix=".part")
    os.close(fd)
    try:
        shutil.copyfile(source, temp)
        for n in range(1, MAX_SAME_NAME + 1):
            candidate = folder / (name if n == 1 else f"{stem}-{n}{dot}{suffix}")
            try:
                os.link(temp, candidate)
            except FileExistsError:
                if candidate.is_file() and not candidate.is_symlink() and _digest(candidate) == digest:
                    return StoredUpload(candidate, "unchanged")
                continue
            return StoredUpload(candidate, "new" if n == 1 else "renamed")
    finally:
        os.unlink(temp)
    raise UploadError(f"{name}: {MAX_SAME_NAME} different files of that name are stored already")


def _digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()

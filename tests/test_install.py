"""The install's cache of the built llama-cpp-python wheel: named by the version and the build flags, so a
second venv reuses the build and other flags build anew (make's own dry runs; nothing is built here)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def make(*args: str) -> str:
    return subprocess.run(
        ["make", "--no-print-directory", "-s", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


def wheel_folder(tmp_path: Path, flags: str) -> str:
    out = make("print-cmake-args", f"CMAKE_ARGS={flags}", f"WHEEL_CACHE={tmp_path}")
    found = re.search(r"wheels for these flags: (\S+)", out)
    assert found, out
    return found.group(1)


def test_the_wheel_folder_is_named_by_version_and_flags(tmp_path: Path) -> None:
    version = re.search(r"^llama-cpp-python==(\S+)$", (ROOT / "requirements.lock").read_text(), re.M)
    assert version
    avx2 = wheel_folder(tmp_path, "-DGGML_AVX2=ON")
    assert avx2.startswith(f"{tmp_path}/llama-cpp-python-{version.group(1)}-")
    assert wheel_folder(tmp_path, "-DGGML_AVX2=ON") == avx2
    assert wheel_folder(tmp_path, "-DGGML_AVX2=OFF") != avx2


def test_the_install_builds_into_that_folder_only_when_it_holds_no_wheel(tmp_path: Path) -> None:
    folder = wheel_folder(tmp_path, "-DGGML_AVX2=ON")
    plan = make(
        "-n",
        "-B",
        "install",
        f"VENV={tmp_path / 'venv'}",
        "CMAKE_ARGS=-DGGML_AVX2=ON",
        f"WHEEL_CACHE={tmp_path}",
    )
    assert f"ls {folder}/llama_cpp_python-" in plan and "pip wheel" in plan
    assert f"--find-links {folder} -r requirements.lock" in plan

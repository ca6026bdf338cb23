"""The layers of the house: imports flow one way, ingest -> assistant -> evals.

`ingest/` owns the archive and never imports `assistant/` or `evals/` (not even inside a function);
`assistant/` never imports `evals/`; and the ingest command line starts without the answering stack.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

LAYERS = {  # package: the packages it must never import
    "ingest": {"assistant", "evals"},
    "assistant": {"evals"},
    "prompts": {"assistant", "evals", "ingest"},
}


def imported_packages(path: Path) -> set[str]:
    """Top-level packages `path` imports anywhere in its body (absolute imports; relative stay inside)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_imports_flow_one_way(package: str) -> None:
    modules = sorted((ROOT / package).rglob("*.py"))
    assert modules, f"no modules under {package}/"
    wrong = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & LAYERS[package]) for path in modules
    }
    assert {path: names for path, names in wrong.items() if names} == {}


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from assistant.engine import Assistant\n    import evals.cli\n")
    assert imported_packages(module) == {"assistant", "evals"}


def test_the_ingest_command_starts_without_the_answering_stack() -> None:
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['ingest', '--help']\n"
        "try:\n    runpy.run_module('ingest', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "heavy = ('assistant', 'evals', 'gradio', 'llama_cpp')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "[]"

"""The wheel is complete: built from the sources, installed alone into a fresh venv, it answers a question.

The fresh venv borrows the project venv's dependencies through a `.pth` line naming that venv's
site-packages. Such a line only adds the directory to `sys.path`; the `.pth` files inside it, among them the
editable install of this project, are not run, so `assistant` can come only from the installed wheel (the
test asserts it does) and run from a working directory outside the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("assistant", "ingest", "evals", "prompts")
PROMPT_FILES = sorted(p.name for p in (ROOT / "prompts").iterdir() if p.suffix in (".txt", ".json"))

pytestmark = pytest.mark.slow

ARTICLE = {
    "title": "Tartu approves a new tram line",
    "published": "2026-01-05T10:00:00",
    "source": "Tartu Daily",
    "text": (
        "The Tartu city council approved a new tram line on Monday after a long debate. "
        "The line will connect the railway station with the university campus and the science park. "
        "Construction of the tram line will cost 42 million euros and is due to finish in 2028. "
        "The council expects twelve thousand passengers a day once the trams run."
    ),
}
QUESTION = "How much will the construction of the new Tartu tram line cost?"

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import assistant, evals, ingest, prompts
    from assistant import Assistant, Settings
    from ingest import ingest_paths

    settings = Settings()
    report = ingest_paths([Path("article.jsonl")], settings)
    answer = Assistant.from_settings(settings).ask(sys.argv[1])
    print(json.dumps({
        "files": {m.__name__: m.__file__ for m in (assistant, evals, ingest, prompts)},
        "editable": [n for n in sys.modules if "__editable__" in n]
        + [repr(f) for f in sys.meta_path if "editable" in repr(f).lower()],
        "backend": settings.llm_backend,
        "ingested": report.new,
        "answer": answer.to_dict(),
    }))
    """
)


def _copy_sources(dest: Path) -> None:
    """What the wheel is built from, copied so the build leaves no build/ or egg-info in the checkout."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, dest / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def _run(args: list[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300, **kwargs)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_wheel_installs_alone_and_answers(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _copy_sources(src)
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", dist, src])
    [wheel] = dist.glob("news_assistant-*.whl")

    # every package of the checkout and every prompt file is in the wheel
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = sorted(
        str(init.parent.relative_to(src))
        for package in PACKAGES
        for init in (src / package).rglob("__init__.py")
    )
    assert "prompts" in packages and "assistant" in packages
    missing = [p for p in packages if f"{p}/__init__.py" not in names]
    assert not missing, f"packages missing from the wheel: {missing}"
    assert {f"prompts/{name}" for name in PROMPT_FILES} <= names
    assert {"system.txt", "examples.json", "judge.txt"} <= set(PROMPT_FILES)
    assert "assistant/py.typed" in names and "assistant/llamaindex.py" in names

    # a fresh venv holding only the wheel
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            wheel,
        ]
    )
    fresh_site = Path(
        _run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip()
    )
    assert fresh_site.is_relative_to(venv)
    # ... whose dependencies come from the project venv, added after (so pip saw none of them installed)
    deps = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (fresh_site / "project_venv_deps.pth").write_text("".join(f"{d}\n" for d in sorted(deps)))

    work = tmp_path / "work"
    work.mkdir()
    (work / "article.jsonl").write_text(json.dumps(ARTICLE) + "\n", encoding="utf-8")
    (work / "ask.py").write_text(SCRIPT, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(
        ASSISTANT_LLM_BACKEND="extractive",
        ASSISTANT_DATA_DIR=str(tmp_path / "data"),
        HF_HUB_OFFLINE="1",
        ANONYMIZED_TELEMETRY="False",
    )
    out = json.loads(_run([python, "ask.py", QUESTION], cwd=work, env=env).stdout.splitlines()[-1])

    for module, file in out["files"].items():
        assert Path(file).is_relative_to(fresh_site), f"{module} was imported from {file}, not the wheel"
    assert out["editable"] == [], "the project's editable install leaked into the fresh venv"
    assert out["backend"] == "extractive" and out["ingested"] == 1
    answer = out["answer"]
    assert not answer["refused"] and "42 million euros" in answer["text"] and "[1]" in answer["text"]
    [citation] = answer["citations"]
    assert citation["title"] == ARTICLE["title"] and "42 million euros" in citation["supporting_text"]

"""The whole assistant on an archive, in a process of its own, with the local model: the start-up to ready
(embedder, lexical index, vector index, model and its prompt prefix), the first answers, and the peak memory
of the process with everything loaded. These are the figures of item 3 of issue 13 (start-up <= 10 s,
peak RSS with the model <= 8 GB) at each archive size of the retrieval section (`--with-model`).

The memory is the child's own high-water mark (`wait4`), so it counts the model's mapped weights, Chroma's
vector index, the ledger and the lexical index together, as a reader's server would hold them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .measure import child_env, run_child

__all__ = ["served"]

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from assistant import Assistant, Settings
t1 = time.perf_counter()
bot = Assistant.from_settings(Settings(data_dir=sys.argv[1], llm_backend=sys.argv[3]))
bot.warm_up()
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "startup_s": t2 - t1}), flush=True)
for question in json.loads(sys.argv[2]):
    a = bot.ask(question)
    t = a.timings
    row = {"question": question, "retrieve_s": t.retrieve, "first_token_s": t.first_token, "total_s": t.total,
           "refused": a.refused, "prompt_tokens": t.prompt_tokens}
    print(json.dumps(row), flush=True)
"""


def served(data_dir: Path, questions: Sequence[str], backend: str = "local") -> dict[str, Any]:
    """Start the assistant on the archive in `data_dir` with `backend` drafting (default the local model),
    ask `questions`, and report the import and start-up seconds, each answer's timings and the process's
    peak resident memory."""
    command = [sys.executable, "-c", _CHILD, str(data_dir), json.dumps(list(questions)), backend]
    child = run_child(command, child_env())
    lines = [json.loads(line) for line in child["output"].splitlines() if line.startswith("{")]
    started: dict[str, Any] = next((x for x in lines if "startup_s" in x), {})
    return {
        "returncode": child["returncode"],
        "import_s": started.get("import_s"),
        "startup_s": started.get("startup_s"),
        "answers": [x for x in lines if "question" in x],
        "peak_rss_mb": child["peak_rss_mb"],
        "wall_s": child["wall_s"],
        "error": child["stderr_tail"] if child["returncode"] else "",
    }

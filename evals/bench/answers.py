"""The answers section: cold starts of `python -m assistant ask`, then answers in-process, local model.

Two cold starts (the first evaluates the prompt prefix and saves its state, the second restores it, as
every later start does), then the questions of seeds_dev asked in-process: time to the first token, total,
tokens, decode rate and the memory with the model loaded.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..tables import cell, table
from .common import SEEDS, SEEDS_DEV, fresh_settings
from .measure import current_rss_mb, header, load_average, machine, peak_rss_mb, run_child, say, spread, timed

if TYPE_CHECKING:
    from assistant.settings import Settings

__all__ = ["COLD_QUESTION", "answers_section", "render_answers"]

COLD_QUESTION = "How many jobs will the biopharma plant create?"


def answers_section(
    limit: int | None = None,
    fresh_model_cache: bool = False,
    settings: Settings | None = None,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Cold start of `python -m assistant ask` (twice), then in-process answers to the seeds_dev questions
    with the local model: time to first token, total, tokens, peak memory with the model loaded."""
    from assistant import Assistant
    from assistant.errors import AssistantError
    from assistant.generation import build_chat_model
    from assistant.model_files import GGUF_NAME
    from ingest import ingest_paths

    from ..runner import EvalSet

    started = machine()
    with tempfile.TemporaryDirectory(prefix="bench-answers-", dir=workdir) as tmp_name:
        tmp = Path(tmp_name)
        update: dict[str, Any] = {"llm_backend": "local"}
        if fresh_model_cache:
            update["model_cache_dir"] = tmp / "model-cache"
        local = fresh_settings(tmp / "data", settings, **update)
        say("answers: ingesting the seeds")
        seeded, seed_s, _ = timed(lambda: ingest_paths([SEEDS], local))
        model_cached = (local.model_cache_dir / GGUF_NAME).is_file()

        env = dict(os.environ, PYTHONUNBUFFERED="1", ASSISTANT_MODEL_CACHE_DIR=str(local.model_cache_dir))
        command = [
            sys.executable, "-m", "assistant", "ask", "--backend", "local",
            "--data-dir", str(local.data_dir), COLD_QUESTION,
        ]  # fmt: skip
        # Run 1 starts without the saved prompt-prefix state (as the very first start does), so it
        # evaluates the prefix and saves it; run 2, like every later start, restores it.
        shutil.rmtree(local.model_cache_dir / "prompt-states", ignore_errors=True)
        cold = []
        for run in (1, 2):
            say(f"answers: cold start {run} of 2")
            cold.append({**run_child(command, env), "prefix": "evaluated" if run == 1 else "restored"})

        say("answers: loading the assistant in-process")
        chat_model = build_chat_model(local)
        bot, load_s, _ = timed(lambda: Assistant.from_settings(local, chat_model=chat_model))
        _, warm_s, _ = timed(bot.warm_up)
        rss_loaded = current_rss_mb()
        rows = []
        questions = EvalSet.load(SEEDS_DEV).questions[:limit]
        for number, row in enumerate(questions, start=1):
            say(f"answers: question {number} of {len(questions)}")
            wall0 = time.perf_counter()
            try:
                answer = bot.ask(row["question"], row.get("history"))
            except AssistantError as exc:
                rows.append({"id": row["id"], "error": f"{type(exc).__name__}: {exc}"})
                continue
            wall = time.perf_counter() - wall0
            t = answer.timings
            generating = t.total - t.first_token
            rows.append(
                {
                    "id": row["id"],
                    "backend": answer.backend,
                    "refused": answer.refused,
                    "first_token_s": t.first_token,
                    "total_s": t.total or wall,
                    "retrieve_s": t.retrieve,
                    "condense_s": t.condense,
                    "prompt_tokens": t.prompt_tokens,
                    "completion_tokens": t.completion_tokens,
                    "decode_tokens_per_s": t.completion_tokens / generating
                    if t.completion_tokens and generating > 0
                    else None,
                }
            )
    ok = [r for r in rows if "error" not in r]
    generated = [r for r in ok if r["completion_tokens"]]
    backends: dict[str, int] = {}
    for r in ok:
        backends[r["backend"]] = backends.get(r["backend"], 0) + 1
    return {
        "machine": started,
        "load_average_after": load_average(),
        "llm_threads": local.llm_threads,
        "llm_context": local.llm_context,
        "seed_ingest": {"articles": seeded.new, "passages": seeded.passages_written, "seconds": seed_s},
        "cold_start": {
            "question": COLD_QUESTION,
            "model_file_cached_before": model_cached,
            "fresh_model_cache": fresh_model_cache,
            "runs": cold,
        },
        "in_process": {
            "load_s": load_s,
            "warm_up_s": warm_s,
            "prefix_source": getattr(chat_model, "prefix_source", ""),
            "rss_after_warm_up_mb": rss_loaded,
            "questions": len(rows),
            "errors": len(rows) - len(ok),
            "refused": sum(1 for r in ok if r["refused"]),
            "backends": backends,
            "first_token_s": spread([r["first_token_s"] for r in generated]),
            "total_s": spread([r["total_s"] for r in ok]),
            "total_s_generated": spread([r["total_s"] for r in generated]),
            "prompt_tokens": spread([r["prompt_tokens"] for r in generated]),
            "completion_tokens": spread([r["completion_tokens"] for r in generated]),
            "decode_tokens_per_s": spread(
                [r["decode_tokens_per_s"] for r in generated if r["decode_tokens_per_s"] is not None]
            ),
            "per_question": rows,
        },
        "peak_rss_mb": peak_rss_mb(),
    }


def render_answers(data: dict[str, Any]) -> str:
    cold = data["cold_start"]
    cold_rows = [
        [
            n,
            r.get("prefix", "?"),
            r["returncode"],
            r["to_output_s"],
            r["wall_s"],
            r["cpu_s"],
            r["peak_rss_mb"],
        ]
        for n, r in enumerate(cold["runs"], start=1)
    ]
    p = data["in_process"]
    stat_rows = [
        [name, p[key]["n"], p[key]["p50"], p[key]["p95"], p[key]["mean"], p[key]["max"]]
        for name, key in (
            ("first token s", "first_token_s"),
            ("total s", "total_s"),
            ("total s (model answered)", "total_s_generated"),
            ("prompt tokens", "prompt_tokens"),
            ("completion tokens", "completion_tokens"),
            ("decode tokens/s", "decode_tokens_per_s"),
        )
    ]
    backends = ", ".join(f"{k}: {v}" for k, v in p["backends"].items()) or "none"
    return "\n\n".join(
        [
            header("answers", data),
            f'cold start: python -m assistant ask "{cold["question"]}" (model file cached before: '
            f"{cell(cold['model_file_cached_before'])})",
            table(
                ["run", "prompt prefix", "exit", "to answer s", "to exit s", "cpu s", "peak MB"], cold_rows
            ),
            f"in-process: load {p['load_s']:.2f} s, warm-up {p['warm_up_s']:.2f} s (prefix "
            f"{p.get('prefix_source') or '?'}), RSS after warm-up "
            f"{p['rss_after_warm_up_mb']:.0f} MB, peak {data['peak_rss_mb']:.0f} MB; {p['questions']} "
            f"questions, {p['refused']} refused, {p['errors']} errors; backends {backends}; "
            f"{data['llm_threads']} threads",
            table(["", "n", "p50", "p95", "mean", "max"], stat_rows),
        ]
    )

"""A bounded load test on loopback: N concurrent clients of the chat UI (gradio_client) or of the
OpenAI-compatible API (the `openai` client) for T seconds.

First every question is asked once, alone, to record its reference answer; then each user asks them in
turn and checks that what comes back is exactly that answer (and, in the UI, its own question): no lost or
mixed-up answers, since the engine is deterministic, so any difference is a fault. Reports requests served,
latency p50/p95, errors, and the server's memory at the start and the end. Against the API, a request the
queue turns away (429 when full, 503 after waiting too long) is counted apart from the errors, with the
longest time it took to be turned away: the queue must answer at once, never hang.

    python -m evals.load --users 8 --seconds 120 --backend local --target api
    python -m evals.load --users 8 --seconds 60 --backend local --target api --queue-size 2
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assistant.settings import BACKENDS

from .bench.measure import current_rss_mb, peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "evals" / "sets" / "smoke" / "questions.jsonl"


@dataclass
class LoadReport:
    users: int
    seconds: float
    backend: str
    served: int = 0
    errors: list[str] = field(default_factory=list)
    mixed_up: int = 0
    mismatches: list[str] = field(default_factory=list)
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    rss_start_mb: float = 0.0
    rss_end_mb: float = 0.0
    peak_rss_mb: float = 0.0
    target: str = "ui"
    turned_away: dict[int, int] = field(default_factory=dict)  # HTTP status (429, 503) -> requests
    slowest_turn_away_s: float = 0.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _text(message: dict[str, Any]) -> str:
    content = message["content"]
    return content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)


def _finish(report: LoadReport, user: Callable[[int], None], latencies: list[float]) -> LoadReport:
    """Run `report.users` threads of `user` to the end, then add the latencies and memory to `report`."""
    threads = [threading.Thread(target=user, args=(i,)) for i in range(report.users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if latencies:
        report.latency_p50_s = float(np.percentile(latencies, 50))
        report.latency_p95_s = float(np.percentile(latencies, 95))
    report.rss_end_mb = current_rss_mb()
    report.peak_rss_mb = peak_rss_mb()
    return report


def run_load(
    url: str, users: int, seconds: float, questions: Sequence[dict[str, Any]], backend: str
) -> LoadReport:
    """Drive the app at `url` with `users` concurrent clients until `seconds` have passed."""
    from gradio_client import Client

    from assistant.ui import escape

    report = LoadReport(users=users, seconds=seconds, backend=backend, rss_start_mb=current_rss_mb())
    latencies: list[float] = []
    lock = threading.Lock()
    reference_client = Client(url, verbose=False, httpx_kwargs={"timeout": 600})
    reference = {
        row["question"]: _text(
            reference_client.predict(row["question"], [], 4, None, None, api_name="/ask")[0][1]
        )
        for row in questions
    }
    deadline = time.monotonic() + seconds

    def user(index: int) -> None:
        client = Client(url, verbose=False, httpx_kwargs={"timeout": 600})
        i = index
        while time.monotonic() < deadline:
            row = questions[i % len(questions)]
            i += users
            started = time.perf_counter()
            try:
                display, _ = client.predict(row["question"], [], 4, None, None, api_name="/ask")
            except Exception as exc:  # the load test counts every failure, whatever it is
                with lock:
                    report.errors.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            elapsed = time.perf_counter() - started
            own = _text(display[0]) == escape(row["question"])
            right = len(display) > 1 and _text(display[1]) == reference[row["question"]]
            with lock:
                report.served += 1
                latencies.append(elapsed)
                if not own or not right:
                    report.mixed_up += 1
                    got = [_text(m)[:160] for m in display[:2]]
                    report.mismatches.append(f"{row['question']!r} -> {got}")

    return _finish(report, user, latencies)


def run_api_load(
    base_url: str, users: int, seconds: float, questions: Sequence[dict[str, Any]], backend: str
) -> LoadReport:
    """Drive the OpenAI-compatible API at `base_url` (ending in /v1) with `users` concurrent clients."""
    import openai

    report = LoadReport(
        users=users, seconds=seconds, backend=backend, rss_start_mb=current_rss_mb(), target="api"
    )
    latencies: list[float] = []
    lock = threading.Lock()

    def ask(client: openai.OpenAI, question: str) -> Any:
        return client.chat.completions.create(
            model="news-assistant", messages=[{"role": "user", "content": question}]
        )

    alone = openai.OpenAI(base_url=base_url, api_key="load-test", max_retries=0, timeout=600)
    reference = {row["question"]: ask(alone, row["question"]).choices[0].message.content for row in questions}
    deadline = time.monotonic() + seconds

    def user(index: int) -> None:
        client = openai.OpenAI(base_url=base_url, api_key="load-test", max_retries=0, timeout=600)
        i = index
        while time.monotonic() < deadline:
            row = questions[i % len(questions)]
            i += users
            started = time.perf_counter()
            try:
                response = ask(client, row["question"])
            except openai.APIStatusError as exc:
                elapsed = time.perf_counter() - started
                with lock:
                    if exc.status_code in (429, 503):
                        report.turned_away[exc.status_code] = report.turned_away.get(exc.status_code, 0) + 1
                        report.slowest_turn_away_s = max(report.slowest_turn_away_s, elapsed)
                    else:
                        report.errors.append(f"HTTP {exc.status_code}: {exc.message}"[:300])
                if exc.status_code == 429:
                    time.sleep(float(exc.response.headers.get("retry-after", "1")))
                continue
            except Exception as exc:  # the load test counts every failure, whatever it is
                with lock:
                    report.errors.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            elapsed = time.perf_counter() - started
            text = response.choices[0].message.content
            with lock:
                report.served += 1
                latencies.append(elapsed)
                if text != reference[row["question"]]:
                    report.mixed_up += 1
                    report.mismatches.append(f"{row['question']!r} -> {(text or '')[:160]!r}")

    return _finish(report, user, latencies)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--backend", choices=BACKENDS, default="extractive")
    parser.add_argument("--data-dir", type=Path, default=Path("data/load-test"))
    parser.add_argument(
        "--questions", type=Path, default=QUESTIONS, help="an eval set (folder or questions.jsonl)"
    )
    parser.add_argument(
        "--target",
        choices=["ui", "api"],
        default="ui",
        help="the chat UI through gradio_client (default), or the /v1 API through the openai client, "
        "served as `python -m assistant serve` does (UI and API in one process)",
    )
    parser.add_argument(
        "--queue-size", type=int, help="api: requests that may wait for the model (ASSISTANT_API_QUEUE_SIZE)"
    )
    args = parser.parse_args(argv)

    from assistant.app import Application
    from assistant.serve import serve
    from assistant.settings import Settings
    from assistant.ui import ChatBackend, build_app
    from ingest import ingest_paths

    from .runner import EvalSet

    questions = EvalSet.load(args.questions).questions
    port = _free_port()
    settings = Settings(data_dir=args.data_dir, llm_backend=args.backend, ui_port=port)
    if args.queue_size is not None:
        settings = settings.model_copy(update={"api_queue_size": args.queue_size})
    ingest_paths([ROOT / "seeds"], settings)
    if args.target == "api":
        served = serve(settings, block=False)
        try:
            report = run_api_load(f"{served.url}/v1", args.users, args.seconds, questions, args.backend)
        finally:
            served.close()
        print(json.dumps(asdict(report), indent=2))
        return 0 if not report.errors and not report.mixed_up else 1
    backend = ChatBackend(Application(settings))
    backend.assistant()  # loaded before the clock starts
    demo = build_app(settings, backend)
    demo.queue(default_concurrency_limit=1, max_size=256)
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        report = run_load(f"http://127.0.0.1:{port}/", args.users, args.seconds, questions, args.backend)
    finally:
        demo.close()
    print(json.dumps(asdict(report), indent=2))
    return 0 if not report.errors and not report.mixed_up else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""How the benchmarks measure: wall and CPU time, spreads, memory, disk, the machine, child processes.

Every figure of `evals.bench` (and the load test's memory, `evals.load`) comes through these functions, so
a time or a megabyte means the same thing in every section. Memory is resident memory in MiB: `current_rss_mb`
reads it now, `peak_rss_mb` is the high-water mark of this process or, given its resource usage, of a child.

Left out on purpose: repeated runs and confidence intervals (run the command again), and any judgement of
the figures (the sections report targets beside them; nothing here asserts a speed).
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "ROOT",
    "busy",
    "child_env",
    "current_rss_mb",
    "dir_mb",
    "header",
    "load_average",
    "machine",
    "merge_busy",
    "peak_rss_mb",
    "run_child",
    "say",
    "spread",
    "timed",
]

ROOT = Path(__file__).resolve().parent.parent.parent
_VERSIONS = ("onnxruntime", "chromadb", "tantivy", "llama_cpp_python", "llama-index-core", "numpy")

T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    """(result, wall seconds, CPU seconds of this process: all its threads)."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = fn()
    return result, time.perf_counter() - wall0, time.process_time() - cpu0


def spread(values: Sequence[float]) -> dict[str, float]:
    """n, p50, p95 (numpy's linear interpolation), mean, min and max of `values` (zeros when none)."""
    if not values:
        return {"n": 0, "p50": 0.0, "p95": 0.0, "mean": 0.0, "min": 0.0, "max": 0.0}
    p50, p95 = np.percentile(values, [50, 95])
    return {
        "n": len(values),
        "p50": float(p50),
        "p95": float(p95),
        "mean": sum(values) / len(values),
        "min": min(values),
        "max": max(values),
    }


def peak_rss_mb(usage: resource.struct_rusage | None = None) -> float:
    """Peak resident memory so far (a high-water mark: it never goes down) of this process, or of the
    process whose resource `usage` is given (a child's, from `os.wait4`)."""
    return (usage or resource.getrusage(resource.RUSAGE_SELF)).ru_maxrss / 1024


def current_rss_mb() -> float:
    """This process's resident memory now (0.0 where /proc is not available)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def dir_mb(path: Path) -> float:
    """Megabytes (10^6 bytes) of the files under `path`."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6 if path.exists() else 0.0


def _proc_field(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def machine() -> dict[str, Any]:
    """Where and when the figures were taken, including how busy the machine was."""
    memory = _proc_field("/proc/meminfo", "MemTotal:")
    versions = {}
    for package in _VERSIONS:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count() or 1,
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "memory_gb": round(int(memory.split()[0]) / 1024 / 1024, 1) if memory else 0.0,
        "load_average": load_average(),
        "python": platform.python_version(),
        "commit": _commit(),
        "versions": versions,
    }


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (how busy the machine was while measuring)."""
    return [round(x, 2) for x in os.getloadavg()]


def _cpu_ticks() -> dict[int, tuple[str, int]]:
    """pid -> (command name, user+system clock ticks so far) of every process we can read."""
    out: dict[int, tuple[str, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.find("(") + 1 : stat.rfind(")")]
        fields = stat[stat.rfind(")") + 2 :].split()
        out[int(entry.name)] = (name, int(fields[11]) + int(fields[12]))
    return out


def busy(sample_s: float = 1.0, heavy_share: float = 0.5) -> dict[str, Any]:
    """How busy the machine is now: the load averages against the cores, and the other processes that used
    more than `heavy_share` of a core over `sample_s` seconds."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    heavy: list[str] = []
    if Path("/proc/self/stat").exists():
        first = _cpu_ticks()
        time.sleep(sample_s)
        second = _cpu_ticks()
        per_s = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        for pid, (name, ticks) in second.items():
            if pid == os.getpid() or pid not in first:
                continue
            share = (ticks - first[pid][1]) / per_s / sample_s
            if share > heavy_share:
                heavy.append(f"{name} (pid {pid}) {100 * share:.0f}% of a core")
    load = load_average()
    reasons = [f"load average {load[0]} above {cores} cores"] if load[0] > cores else []
    reasons += [f"another CPU-heavy process: {h}" for h in heavy]
    return {
        "load_average": load,
        "cores": cores,
        "heavy_processes": heavy,
        "busy": bool(reasons),
        "reasons": reasons,
    }


def merge_busy(start: dict[str, Any], end: dict[str, Any]) -> dict[str, Any]:
    """The run was busy if the machine was busy at its start or at its end."""
    return {
        "busy": bool(start["busy"] or end["busy"]),
        "reasons": [f"at start: {r}" for r in start["reasons"]] + [f"at end: {r}" for r in end["reasons"]],
        "start": start,
        "end": end,
    }


def header(title: str, data: dict[str, Any]) -> str:
    """The first line of a section's tables: its name and the `machine()` it ran on, how busy before/after."""
    m = data["machine"]
    load = ", ".join(str(x) for x in m["load_average"])
    return (
        f"== {title} == {m['date']}  {m['cores']} cores ({m['cpu_model']}), {m['memory_gb']} GB, "
        f"load average {load} -> {', '.join(str(x) for x in data.get('load_average_after', []))}"
        + ("  BUSY: " + "; ".join(data["busy"]["reasons"]) if data.get("busy", {}).get("busy") else "")
    )


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip()


def say(message: str) -> None:
    """Progress for the person waiting, on stderr (stdout holds the tables)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def child_env() -> dict[str, str]:
    """The environment of a benchmark's child process: this one's, the project importable, no telemetry and
    no model hub."""
    return dict(os.environ, PYTHONPATH=str(ROOT), ANONYMIZED_TELEMETRY="False", HF_HUB_OFFLINE="1")


def run_child(
    command: Sequence[str], env: dict[str, str] | None = None, capture: bool = True
) -> dict[str, Any]:
    """Run a process to its end: wall time to its first output and to its exit, its own peak memory, its
    output. Without `capture` its output goes to ours (and nothing of it is returned)."""
    started = time.perf_counter()
    first: float | None = None
    out = b""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            list(command),
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE if capture else None,
            stderr=err if capture else None,
        )
        if proc.stdout is not None:
            chunks = []
            while data := os.read(proc.stdout.fileno(), 65536):
                if first is None:
                    first = time.perf_counter()
                chunks.append(data)
            proc.stdout.close()
            out = b"".join(chunks)
        _, status, usage = os.wait4(proc.pid, 0)
        ended = time.perf_counter()
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        error_tail = err.read().decode("utf-8", "replace")[-2000:]
    text = out.decode("utf-8", "replace")
    return {
        "returncode": proc.returncode,
        "to_output_s": (first - started) if first is not None else None,
        "wall_s": ended - started,
        "peak_rss_mb": peak_rss_mb(usage),
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "output": text,
        "output_head": text[:300],
        "stderr_tail": error_tail if proc.returncode else error_tail[-300:],
    }

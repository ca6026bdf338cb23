"""A bounded pool for fetches: at most `total` at once over all servers, at most `per_host` at once on any
one server (politeness), waiting work handed out server by server in turn.

Work waits in one queue per server; a worker is started only for work whose server has a free slot, so a
server with many slow pages holds at most `per_host` workers and never blocks the others, and a newcomer's
first request goes ahead of the tenth page of a busy server. Whoever submits waits on the `Future`; the
pool's workers never wait on each other, so nothing can deadlock.

Left out: priorities beyond the round-robin, and per-server delays between requests (crawl-delay).
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

__all__ = ["HostPool"]

T = TypeVar("T")
_Work = tuple[Callable[[], Any], "Future[Any]"]


class HostPool:
    """Runs callables for servers within a global and a per-server limit. Thread-safe."""

    def __init__(self, total: int, per_host: int) -> None:
        self.total = total
        self.per_host = per_host
        self._lock = threading.Lock()
        self._waiting: dict[str, deque[_Work]] = {}  # insertion order = the turn of each server
        self._running: Counter[str] = Counter()
        self._busy = 0
        self.most_busy = 0  # the most workers busy at once (for tests and benchmarks)
        self._workers = ThreadPoolExecutor(total, thread_name_prefix="fetch")

    def __enter__(self) -> HostPool:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def submit(self, server: str, work: Callable[[], T]) -> Future[T]:
        """Run `work` once `server` and the pool have a free slot; its result or exception in the future."""
        future: Future[T] = Future()
        with self._lock:
            self._waiting.setdefault(server, deque()).append((work, future))
            self._dispatch()
        return future

    def close(self) -> None:
        """Cancel the work still waiting and wait for the running work to end."""
        with self._lock:
            waiting = [future for queue in self._waiting.values() for _, future in queue]
            self._waiting.clear()
        for future in waiting:
            future.cancel()
        self._workers.shutdown(wait=True)

    def _dispatch(self) -> None:
        """Start waiting work while slots are free (called with the lock held)."""
        while self._busy < self.total:
            server = next((s for s in self._waiting if self._running[s] < self.per_host), None)
            if server is None:
                return
            queue = self._waiting.pop(server)
            work, future = queue.popleft()
            if queue:
                self._waiting[server] = queue  # back of the line: the others go first
            if not future.set_running_or_notify_cancel():
                continue
            self._running[server] += 1
            self._busy += 1
            self.most_busy = max(self.most_busy, self._busy)
            self._workers.submit(self._run, server, work, future)

    def _run(self, server: str, work: Callable[[], Any], future: Future[Any]) -> None:
        try:
            result = work()
        except BaseException as exc:  # handed to whoever waits on the future
            outcome: tuple[bool, Any] = (False, exc)
        else:
            outcome = (True, result)
        with self._lock:
            self._running[server] -= 1
            if not self._running[server]:
                del self._running[server]
            self._busy -= 1
            self._dispatch()
        if outcome[0]:
            future.set_result(outcome[1])
        else:
            future.set_exception(outcome[1])

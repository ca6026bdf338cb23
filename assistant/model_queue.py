"""Turns at the one model: every answer, from the chat page or the API, waits here for its turn.

Left out: priorities and per-user fairness (first come, first served).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import QueueFullError, QueueTimeoutError

__all__ = ["ModelQueue", "QueueFullError", "QueueTimeoutError"]


class ModelQueue:
    """Turns at the one model, first come first served: `with queue.turn(): ...` answers one question.

    `size` requests may wait while one answers; `turn(bounded=True)` (the API) raises `QueueFullError`
    when they already do, and `QueueTimeoutError` after waiting `timeout` seconds. `bounded=False` (the
    UI, whose Gradio queue bounds it) waits in the same line without either limit.
    """

    def __init__(self, size: int = 8, timeout: float = 120.0) -> None:
        self.size = size
        self.timeout = timeout
        self._cond = threading.Condition()
        self._waiting: deque[object] = deque()
        self._busy = False

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @contextmanager
    def turn(self, *, bounded: bool = True) -> Iterator[None]:
        with self._cond:
            if self._busy or self._waiting:
                if bounded and len(self._waiting) >= self.size:
                    raise QueueFullError(
                        f"the assistant is busy ({len(self._waiting)} requests already wait): retry shortly"
                    )
                ticket = object()
                self._waiting.append(ticket)
                ready = self._cond.wait_for(
                    lambda: not self._busy and self._waiting[0] is ticket,
                    timeout=self.timeout if bounded else None,
                )
                self._waiting.remove(ticket)
                if not ready:
                    self._cond.notify_all()  # the next in line may be first now
                    raise QueueTimeoutError(f"the assistant stayed busy for {self.timeout:g} s: retry later")
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()

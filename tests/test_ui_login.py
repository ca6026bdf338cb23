"""Login throttling: repeated wrong passwords from one client are refused for a growing, capped pause."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from assistant.serve import serve
from assistant.settings import Settings
from assistant.ui_login import LoginAttempts

from .conftest import free_port


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_five_attempts_are_free_then_each_pause_doubles_up_to_the_cap() -> None:
    clock = Clock()
    attempts = LoginAttempts(free_attempts=5, first_pause=1.0, max_pause=8.0, clock=clock)
    assert [attempts.admit("10.0.0.1") for _ in range(5)] == [0.0] * 5
    pauses = []
    for _ in range(6):
        wait = attempts.admit("10.0.0.1")  # refused: the pause after the last failure runs
        assert wait > 0
        clock.now += wait
        pauses.append(wait)
        assert attempts.admit("10.0.0.1") == 0.0  # one more try once it is over
    assert pauses == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert attempts.admit("10.0.0.2") == 0.0  # other clients are not held up


def test_attempts_in_flight_count_so_parallel_guesses_are_bounded_too() -> None:
    attempts = LoginAttempts(free_attempts=5, clock=Clock())
    admitted = [attempts.admit("10.0.0.1") == 0.0 for _ in range(50)]  # none has finished yet
    assert sum(admitted) == 5


def test_success_resets_and_old_failures_are_forgotten() -> None:
    clock = Clock()
    attempts = LoginAttempts(free_attempts=2, first_pause=5.0, max_pause=20.0, forget_after=60.0, clock=clock)
    attempts.admit("a")
    attempts.admit("a")
    assert attempts.admit("a") > 0
    clock.now += 5
    assert attempts.admit("a") == 0.0
    attempts.succeeded("a")
    assert [attempts.admit("a") for _ in range(2)] == [0.0, 0.0]  # a fresh allowance
    assert attempts.admit("a") > 0
    clock.now += 61  # a quiet while: the failures are forgotten
    assert [attempts.admit("a") for _ in range(2)] == [0.0, 0.0]


def test_memory_stays_bounded_with_many_clients() -> None:
    attempts = LoginAttempts(max_clients=100, clock=Clock())
    for i in range(1000):
        attempts.admit(f"10.0.{i // 256}.{i % 256}")
    assert len(attempts) <= 100


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The real `serve()` with a login, on a free loopback port (the model is never loaded)."""
    port = free_port()
    settings = Settings(
        data_dir=tmp_path / "data",
        llm_backend="extractive",
        ui_port=port,
        ui_auth="ann:s3cret",
        ui_login_free_attempts=4,  # the settings reach the throttle (its own default is 5)
        ui_login_max_pause=30,
    )
    demo = serve(settings, block=False, assistant=SimpleNamespace(backend="extractive"))
    yield f"http://127.0.0.1:{port}"
    demo.close()


def test_many_wrong_logins_are_refused_and_a_right_one_after_the_pause_works(served: str) -> None:
    codes = []
    refused = None
    with httpx.Client(base_url=served, timeout=10) as client:
        for _ in range(30):
            r = client.post("/login", data={"username": "ann", "password": "guess"})
            codes.append(r.status_code)
            if r.status_code == 429:
                refused = r
        assert codes[:4] == [400] * 4  # wrong, and said so
        assert codes[4] == 429 and codes.count(429) >= 20, codes
        assert refused is not None and "try again in" in refused.json()["detail"]
        pause = float(refused.headers["Retry-After"])
        assert 1 <= pause <= 30
        assert client.get("/config").status_code in (401, 403)  # other routes unchanged
        time.sleep(pause + 0.2)
        ok = client.post("/login", data={"username": "ann", "password": "s3cret"})
        assert ok.status_code == 200
        assert client.get("/config").status_code == 200
    with httpx.Client(base_url=served, timeout=10) as client:  # success reset the count
        again = [
            client.post("/login", data={"username": "ann", "password": "x"}).status_code for _ in range(4)
        ]
        assert again == [400] * 4

"""End-to-end helpers: the real `feedwatch` command as a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

FEEDWATCH = str(Path(sys.executable).with_name("feedwatch"))


class Feedwatch:
    """Runs `feedwatch -c CONFIG ...` in a temp folder with a clean environment."""

    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.env = {**os.environ, **(env or {})}
        self.env.pop("FEEDWATCH_CONFIG", None)
        self.daemons: list[subprocess.Popen[str]] = []

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [FEEDWATCH, "-c", str(self.config), *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        """`feedwatch run` in the background; stopped at teardown if still running."""
        process = subprocess.Popen(
            [FEEDWATCH, "-c", str(self.config), *args, "run"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            stdin=subprocess.DEVNULL,
        )
        self.daemons.append(process)
        return process

    def close(self) -> None:
        for process in self.daemons:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            process.communicate(timeout=10)


def wait_until(predicate: object, timeout: float = 20.0, step: float = 0.05) -> None:
    """Poll ``predicate`` until it is true; fail the test after ``timeout`` seconds."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout}s")


@pytest.fixture
def feedwatch_factory(tmp_path: Path) -> Iterator[type[Feedwatch]]:
    created: list[Feedwatch] = []

    class _Tracked(Feedwatch):
        def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
            super().__init__(config, env)
            created.append(self)

    yield _Tracked
    for runner in created:
        runner.close()

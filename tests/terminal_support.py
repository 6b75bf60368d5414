"""A child process on a real pseudo-terminal, for what a person at a terminal sees and answers."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time


class Terminal:
    """A child process on a real pseudo-terminal: read what it draws, type answers."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, child = pty.openpty()
        self.process = subprocess.Popen(argv, stdin=child, stdout=child, stderr=child, env=env, close_fds=True)
        os.close(child)
        self.seen = ""

    def wait_for(self, pattern: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.seen):
            left = deadline - time.monotonic()
            if left <= 0 or (self.process.poll() is not None and not self._read(0.1)):
                raise AssertionError(f"never saw {pattern!r}; the terminal showed:\n{self.seen[-3000:]}")
            self._read(min(left, 1.0))
        return self.seen

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def finish(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.2)
        while self._read(0.1):
            pass
        if self.process.poll() is None:
            self.process.kill()
        os.close(self.master)
        return self.process.wait()

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # the child closed the terminal
            return False
        self.seen += chunk.decode(errors="replace")
        return bool(chunk)

"""What a person does with a running endpoint, checked the same way for every engine:
a terminal chat that switches thinking on, then a bench through localv4's own endpoint."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable


def chat_then_bench(cli: Callable[..., subprocess.CompletedProcess], served: str, endpoint: str,
                    variant: str, runs: int) -> tuple[subprocess.CompletedProcess, dict]:
    """`localv4 chat` (two turns, `/reasoning high` between) and `localv4 bench --json`: the chat run and
    the measured result, both already checked for what every engine must show."""
    chat = cli("chat", "--max-tokens", "4", input="hello\n/reasoning high\nhello\n/exit\n")
    assert chat.returncode == 0, chat.stderr
    assert f"Chatting with {served} at {endpoint}" in " ".join(chat.stdout.split())
    assert "reasoning: high" in chat.stdout
    bench = cli("bench", "--runs", str(runs), "--tokens", "8", "--json")
    assert bench.returncode == 0, bench.stderr
    measured = json.loads(bench.stdout)
    assert measured["variant"] == variant and measured["generated_tokens"] == 8
    assert measured["generation_tok_s"] > 0
    return chat, measured

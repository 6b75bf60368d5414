"""Several clients at once (`bench --clients N`): N threads, each sending the bench's prompt
`requests` times in turn; the total generation tok/s (all completion tokens over the wall time)
and the median latency of one request, as N users of the endpoint see them."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from localv4.errors import UsageError
from localv4.serve.bench import DEFAULT_MAX_TOKENS, request_body
from localv4.serve.chat import complete, new_client
from localv4.serve.endpoint import Endpoint

MAX_CLIENTS = 64


@dataclass(frozen=True)
class LoadResult:
    """One level of concurrency: what all clients got together, and what one request waited."""

    clients: int
    requests: int  # completed, over all clients
    generated_tokens: int  # over all requests
    seconds: float  # wall time, first request sent to last answer
    median_latency_s: float  # one request, sent to answered
    max_latency_s: float

    @property
    def total_tok_s(self) -> float:
        return self.generated_tokens / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"total_tok_s": self.total_tok_s}


def parse_clients(text: str) -> tuple[int, ...]:
    """`--clients 4` or `--clients 1,4`: each 1 to MAX_CLIENTS, or one line naming the bad one."""
    try:
        levels = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--clients {text!r}: give a number or numbers like 1,4.") from None
    bad = [n for n in levels if not 1 <= n <= MAX_CLIENTS]
    if bad:
        raise UsageError(f"--clients {bad[0]} is out of range: use 1 to {MAX_CLIENTS}.")
    return levels


def _client(endpoint: Endpoint, requests: int, max_tokens: int) -> list[tuple[float, int]]:
    """One client's (latency, completion tokens) for each of its requests, one after another."""
    timed = []
    with new_client() as client:
        for _ in range(requests):
            sent = time.perf_counter()
            answer = complete(client, endpoint, request_body(max_tokens))
            timed.append((time.perf_counter() - sent, (answer.get("usage") or {}).get("completion_tokens", 0)))
    return timed


def run_clients(endpoint: Endpoint, clients: int, requests: int = 2,
                max_tokens: int = DEFAULT_MAX_TOKENS) -> LoadResult:
    """`clients` concurrent clients, each sending `requests` completions in turn (after one warm-up)."""
    with new_client() as client:
        complete(client, endpoint, request_body(8))
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(lambda _: _client(endpoint, requests, max_tokens), range(clients)))
    seconds = time.perf_counter() - started
    latencies = [lat for timed in results for lat, _ in timed]
    return LoadResult(clients, len(latencies), sum(n for timed in results for _, n in timed), seconds,
                      statistics.median(latencies), max(latencies))

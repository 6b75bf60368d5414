"""Measuring the running endpoint: prompt-processing and generation tokens/s, median of runs.

Measured through the endpoint as any client sees it. Where the engine reports its own timings
(llama-server's `timings`), those are used; otherwise the stream is timed here, with token counts
from the server's `usage`. Each run starts with a distinct marker so no prompt cache can skip the
prompt. The last result is kept in the state directory for `localv4 status`.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from localv4.errors import RuntimeFailure, UsageError
from localv4.serve.chat import complete, deltas_of, new_client, stream_chunks, thinking_options
from localv4.serve.endpoint import Endpoint
from localv4.serve.state import bench_path, ensure_state_dir
from localv4.storage import write_atomic

# A fixed prompt of a few hundred tokens: long enough to time prompt processing, short enough
# for a CPU. The answer is open-ended so a model keeps generating up to max_tokens.
_PASSAGE = (
    "Memory bandwidth decides how fast a large language model writes: every new token reads the "
    "active weights once, so a machine that moves more bytes per second writes more tokens per "
    "second. Prompt processing is different: the whole prompt goes through the network in "
    "batches, so it is limited by arithmetic rather than by memory. "
)
PROMPT = _PASSAGE * 6 + "Explain, in a long and detailed essay, why these two speeds differ."
DEFAULT_RUNS = 3
DEFAULT_MAX_TOKENS = 128


@dataclass(frozen=True)
class RunSample:
    """One timed completion. Rates are None when the server gave too little to compute them."""

    prompt_tokens: int | None
    generated_tokens: int
    prompt_tok_s: float | None
    generation_tok_s: float | None
    source: str  # "server timings" | "stream timing"
    draft_tokens: int | None = None  # llama-server's `timings.draft_n`: tokens the draft proposed
    draft_accepted: int | None = None  # `timings.draft_n_accepted`: of those, kept by the model


@dataclass(frozen=True)
class BenchResult:
    """Medians over the runs, the plan's decode estimate beside them, and what was measured."""

    prompt_tok_s: float | None
    generation_tok_s: float | None
    runs: int
    prompt_tokens: int | None
    generated_tokens: int
    source: str
    estimate_low: float | None
    estimate_high: float | None
    base_url: str
    model: str | None
    variant: str | None
    engine: str | None
    measured_at: str  # ISO 8601, UTC
    draft: str | None = None  # the speculative draft the engine decoded with, None without one
    draft_tokens: int | None = None  # summed over the timed runs
    draft_accepted: int | None = None
    without_draft_tok_s: float | None = None  # the same runs with the engine restarted without its draft

    @property
    def acceptance(self) -> float | None:
        """Share of drafted tokens the model kept (the engine's own counters); None without a draft."""
        return self.draft_accepted / self.draft_tokens if self.draft_tokens else None

    @property
    def draft_speedup(self) -> float | None:
        """Generation tok/s with the draft over without it; None unless both were measured."""
        if self.generation_tok_s and self.without_draft_tok_s:
            return self.generation_tok_s / self.without_draft_tok_s
        return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"acceptance": self.acceptance, "draft_speedup": self.draft_speedup}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchResult:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def _rate(tokens: int | None, seconds: float) -> float | None:
    return tokens / seconds if tokens and seconds > 0 else None


def _sample(
    timed: list[tuple[float, dict[str, Any]]], started: float, prompt_tokens: int | None
) -> RunSample:
    """Rates from one stream: server timings when present, else the clock between tokens.

    `prompt_tokens` is the count to assume when the stream carries no usage (llama-cpp-python)."""
    token_times = [t for t, chunk in timed if next(deltas_of(chunk), None)]
    usage = next((c["usage"] for _, c in reversed(timed) if c.get("usage")), {})
    timings = next((c["timings"] for _, c in reversed(timed) if c.get("timings")), {})
    generated = usage.get("completion_tokens") or timings.get("predicted_n") or len(token_times)
    prompt_tokens = usage.get("prompt_tokens") or timings.get("prompt_n") or prompt_tokens
    if timings.get("predicted_per_second"):
        return RunSample(
            prompt_tokens, generated, timings.get("prompt_per_second"),
            timings["predicted_per_second"], "server timings",
            timings.get("draft_n"), timings.get("draft_n_accepted"),
        )
    if not token_times:
        raise RuntimeFailure("the server returned no tokens, so there is nothing to time.")
    first, last = token_times[0], token_times[-1]
    # The first token arrives once the prompt is processed; the rest are generation.
    return RunSample(
        prompt_tokens, generated, _rate(prompt_tokens, first - started),
        _rate(generated - 1, last - first) if generated > 1 else None, "stream timing",
    )


def request_body(max_tokens: int) -> dict[str, Any]:
    """The fixed prompt behind a fresh marker (defeats prompt caches), reasoning off.

    Greedy decoding with a fixed seed: runs are comparable, and a sampled end-of-text as the
    first token (a real failure seen with small models at temperature 1.0) cannot empty a run."""
    return {
        "messages": [{"role": "user", "content": f"[run {time.time_ns()}] {PROMPT}"}],
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "seed": 0,
        **thinking_options("off"),
    }


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def run_bench(
    endpoint: Endpoint,
    runs: int = DEFAULT_RUNS,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    estimate: tuple[float, float] | None = None,
    variant: str | None = None,
    engine: str | None = None,
    on_run: Callable[[int, RunSample], None] | None = None,
    draft: str | None = None,
) -> BenchResult:
    """A warm-up completion, then `runs` timed ones; `on_run(i, sample)` after each."""
    if runs < 1:
        raise UsageError(f"--runs must be at least 1, not {runs}.")
    if max_tokens < 2:
        raise UsageError(f"--tokens must be at least 2, not {max_tokens}.")
    samples: list[RunSample] = []
    with new_client() as client:
        # Warm-up, not timed: first-call costs (allocations, graph compilation) stay out of the
        # medians, and its usage gives the prompt's token count for streams that carry none.
        warm_up = complete(client, endpoint, request_body(max_tokens=8))
        prompt_tokens = (warm_up.get("usage") or {}).get("prompt_tokens")
        for i in range(1, runs + 1):
            started = time.perf_counter()
            timed = [(time.perf_counter(), c)
                     for c in stream_chunks(client, endpoint, request_body(max_tokens))]
            samples.append(_sample(timed, started, prompt_tokens))
            if on_run:
                on_run(i, samples[-1])
    low, high = estimate if estimate and estimate[1] > 0 else (None, None)
    return BenchResult(
        prompt_tok_s=_median([s.prompt_tok_s for s in samples]),
        generation_tok_s=_median([s.generation_tok_s for s in samples]),
        runs=runs,
        prompt_tokens=samples[-1].prompt_tokens,
        generated_tokens=int(statistics.median(s.generated_tokens for s in samples)),
        source=samples[-1].source,
        estimate_low=low,
        estimate_high=high,
        base_url=endpoint.v1_url,
        model=endpoint.model_id,
        variant=variant,
        engine=engine,
        measured_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        draft=draft,
        draft_tokens=_total([s.draft_tokens for s in samples]),
        draft_accepted=_total([s.draft_accepted for s in samples]),
    )


def _total(values: list[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def save_result(result: BenchResult) -> Path:
    """Kept atomically in the state dir: a reader (`status`, the tray) sees one whole result."""
    ensure_state_dir()
    write_atomic(bench_path(), json.dumps(result.to_dict(), indent=2) + "\n")
    return bench_path()


def last_result() -> BenchResult | None:
    """The last saved result, or None when there is none or it cannot be read."""
    try:
        return BenchResult.from_dict(json.loads(bench_path().read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None

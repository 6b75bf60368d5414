"""CLI commands: chat, bench. Both talk to the running endpoint, as any client would."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import typer

from localv4.cli.app import app
from localv4.cli.output import JSON_OPTION, print_json

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from localv4.serve.bench import BenchResult
    from localv4.serve.chat import ChatSession
    from localv4.serve.endpoint import Endpoint
    from localv4.serve.state import ServerState

URL_OPTION = typer.Option(
    None, "--url", help="Another OpenAI-compatible endpoint (e.g. http://127.0.0.1:8080/v1) "
    "instead of the one `localv4 up` started.")
CHAT_HELP = "/reset clears the conversation, /reasoning off|high|max switches thinking, /exit or Ctrl-D quits."


def _endpoint(url: str | None) -> tuple[Endpoint, ServerState | None]:
    """The endpoint to talk to, and the running engine's record (None with --url)."""
    from dataclasses import replace

    from localv4.serve import api
    from localv4.serve.chat import first_model_id, new_client
    from localv4.serve.endpoint import Endpoint

    if url:
        endpoint = Endpoint.at(url)
        with new_client() as client:
            return replace(endpoint, model_id=first_model_id(client, endpoint)), None
    live = api.serving()
    return live.endpoint, live.server


def _handle_command(line: str, session: ChatSession, console: Console) -> bool:
    """Run a /command; False when the user asked to leave."""
    from localv4.errors import UsageError

    name, _, arg = line.partition(" ")
    if name in ("/exit", "/quit"):
        return False
    if name == "/reset":
        session.reset()
        console.print("conversation cleared", style="dim")
    elif name == "/reasoning" and arg.strip():
        try:
            session.set_thinking(arg.strip())
            console.print(f"reasoning: {arg.strip()}", style="dim")
        except UsageError as err:
            console.print(str(err), style="red")
    else:
        console.print(CHAT_HELP, style="dim")
    return True


def _stream_reply(session: ChatSession, text: str, console: Console) -> None:
    """Print the reply as it arrives: reasoning dimmed, then the answer."""
    from contextlib import closing

    shown = None
    with closing(session.send(text)) as deltas:  # closes the HTTP stream on Ctrl-C too
        for delta in deltas:
            if delta.kind != shown:
                if shown is not None:
                    console.out("\n")
                shown = delta.kind
            console.out(delta.text, style="dim italic" if delta.kind == "reasoning" else None,
                        end="", highlight=False)
    console.out("\n")


@app.command()
def chat(
    think: Optional[str] = typer.Option(
        None, "--reasoning", help="Thinking mode: off, high or max (default: as `localv4 up` set it)."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", min=1, help="Cap each reply."),
    system: Optional[str] = typer.Option(None, "--system", help="A system prompt."),
    url: Optional[str] = URL_OPTION,
) -> None:
    """Chat with the running model in the terminal. /reset, /reasoning off|high|max, /exit."""
    from rich.console import Console

    from localv4.errors import LocalV4Error
    from localv4.serve.chat import ChatSession, default_reasoning_modes

    console = Console(highlight=False)
    endpoint, server = _endpoint(url)
    # the served recipe's modes (--url: the default model's): a bad --reasoning fails here
    modes = server.plan.model.reasoning_modes if server else default_reasoning_modes()
    session = ChatSession(endpoint, thinking=think, max_tokens=max_tokens, system=system, reasoning_modes=modes)
    console.print(f"Chatting with {endpoint.model_id or 'the model'} at {endpoint.v1_url}. {CHAT_HELP}",
                  style="dim")
    with session:
        while True:
            try:
                line = console.input("[bold cyan]> [/]").strip()
            except EOFError:
                console.out("\n")
                return
            if not line:
                continue
            if line.startswith("/"):
                if not _handle_command(line, session, console):
                    return
                continue
            try:
                _stream_reply(session, line, console)
            except KeyboardInterrupt:
                console.print("\n(reply stopped)", style="dim")
            except LocalV4Error as err:
                console.print(f"\n{err}", style="red")


def _rate(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "n/a"


def _bench_clients(clients: str, runs: int, tokens: int, url: str | None, as_json: bool, console: Console) -> None:
    """`bench --clients`: each level of concurrency in turn, a line (or a JSON object) for each."""
    from localv4.serve.load import parse_clients, run_clients

    levels = parse_clients(clients)
    endpoint, _ = _endpoint(url)
    results = []
    for n in levels:
        with console.status(f"{n} concurrent client{'s' if n > 1 else ''} on {endpoint.v1_url}"):
            results.append(run_clients(endpoint, n, requests=runs, max_tokens=tokens))
        if not as_json:
            r = results[-1]
            console.print(f"{n} client{'s' if n > 1 else ''}: {r.total_tok_s:.1f} tok/s in all, median latency "
                          f"{r.median_latency_s:.2f} s per request (max {r.max_latency_s:.2f} s, {r.requests} requests)")
    if as_json:
        print_json({"base_url": endpoint.v1_url, "clients": [r.to_dict() for r in results]})


def _bench_table(result: BenchResult) -> Table:
    from rich.table import Table

    estimate = (f"{result.estimate_low:.0f}-{result.estimate_high:.0f}"
                if result.estimate_low is not None else "n/a")
    table = Table(title=f"{result.variant or result.model or 'model'} at {result.base_url}",
                  title_justify="left")
    for column in ("tokens/s", "measured (median)", "plan estimate"):
        table.add_column(column, justify="left" if column == "tokens/s" else "right")
    table.add_row(f"prompt processing ({result.prompt_tokens or '?'} tokens)",
                  _rate(result.prompt_tok_s), "n/a")
    table.add_row(f"generation ({result.generated_tokens} tokens)",
                  _rate(result.generation_tok_s), estimate)
    if result.without_draft_tok_s is not None:
        speedup = f" ({result.draft_speedup:.2f}x with it)" if result.draft_speedup else ""
        table.add_row(f"generation without the draft{speedup}", _rate(result.without_draft_tok_s), "")
    if result.draft:
        accepted = (f"{result.acceptance:.0%} of {result.draft_tokens} drafted tokens accepted"
                    if result.acceptance is not None else "the engine reported no draft counters")
        table.add_row(f"speculative: {result.draft}", accepted, "")
    else:
        table.add_row("speculative", "no draft in use", "")
    hint = result.draft and result.without_draft_tok_s is None
    table.caption = f"{result.runs} runs after a warm-up; {result.source}" + (
        ". Without the draft too: `localv4 bench --compare-draft` (restarts the engine twice)" if hint else "")
    return table


@app.command()
def bench(
    runs: int = typer.Option(3, "--runs", min=1, help="Timed runs (after one warm-up)."),
    tokens: int = typer.Option(128, "--tokens", min=2, help="Tokens to generate per run."),
    url: Optional[str] = URL_OPTION,
    compare_draft: bool = typer.Option(
        False, "--compare-draft", help="Also measure without the speculative draft (restarts the engine twice)."),
    clients: Optional[str] = typer.Option(
        None, "--clients", help="N concurrent clients (or 1,4: each in turn), each sending --runs requests: "
        "the total tok/s and the median latency of one request."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Prompt-processing and generation tokens/s of the running model, beside the plan's estimate."""
    from dataclasses import replace

    from rich.console import Console

    from localv4.errors import UsageError
    from localv4.serve.bench import run_bench, save_result

    console = Console(stderr=as_json)
    if clients is not None and compare_draft:
        raise UsageError("--clients and --compare-draft measure different things: give one of them.")
    if clients is not None:
        return _bench_clients(clients, runs, tokens, url, as_json, console)
    endpoint, server = _endpoint(url)
    if compare_draft and not (server and server.draft):
        raise UsageError("--compare-draft needs localv4's own engine decoding with a draft, and none is in use "
                         "(`localv4 status` shows the draft; `localv4 up --speculative auto` uses one where it fits).")
    with console.status(f"benchmarking {endpoint.v1_url}: warm-up run") as spinner:
        def say(line: str) -> None:
            if console.is_terminal:
                spinner.update(line)
            else:
                console.print(line)

        def measure(label: str = "") -> BenchResult:
            return run_bench(
                endpoint, runs=runs, max_tokens=tokens, estimate=server.speed_estimate if server else None,
                variant=server.variant if server else None, engine=server.engine if server else None,
                on_run=lambda i, s: say(f"{label}run {i}/{runs}: {_rate(s.generation_tok_s)} tok/s"),
                draft=server.draft if server else None,
            )

        result = measure()
        if compare_draft:
            from localv4 import flow

            say("restarting the engine without its draft")
            with flow.draft_switched_off(server, lambda e: say(e.message)):
                without = measure("without the draft: ")
                say("restarting the engine with its draft")
            result = replace(result, without_draft_tok_s=without.generation_tok_s)
    if server is not None:  # only localv4's own engine: `status` shows this result
        save_result(result)
    if as_json:
        print_json(result.to_dict())
    else:
        console.print(_bench_table(result))
        if server is not None and server.workers:
            console.print(f"pooled: this host + {', '.join(server.workers)} over llama.cpp RPC "
                          "(the plan estimate counts the network)")

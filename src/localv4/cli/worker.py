"""CLI command: worker (lend this machine to a pool over llama.cpp RPC)."""

from __future__ import annotations

from typing import Optional

import typer

from localv4.cli.app import app


@app.command()
def worker(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on: loopback unless you give a LAN address."),
    port: str = typer.Option("50052", "--port", help="RPC port; the info endpoint for the host uses the next one."),
    device: Optional[str] = typer.Option(None, "--device", help="rpc-server devices, e.g. CUDA1 or CPU; the host plans only these (default: every GPU, else the CPU)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for a CPU device (default: physical cores)."),
    allow_untrusted_network: bool = typer.Option(
        False, "--allow-untrusted-network",
        help="Listen on a wildcard or public address although rpc-server has no authentication."),
) -> None:
    """Lend this machine's memory to a host: `localv4 up --pool THIS:PORT` there (Ctrl-C stops it)."""
    from localv4.rpc import worker as rpc_worker

    prepared = rpc_worker.prepare(rpc_worker.WorkerOptions(
        host=host, port=port, devices=device, threads=threads, allow_untrusted_network=allow_untrusted_network))
    typer.echo(f"localv4 worker: llama.cpp {prepared.info['build']} on {prepared.endpoint}; "
               f"pool it from the host with `localv4 up --pool {prepared.endpoint}`.")
    typer.echo(rpc_worker.TRUST_LINE)
    raise typer.Exit(rpc_worker.run(prepared))

"""`localv4 worker`: lend this machine's memory to a host, with the rpc-server of `up`'s build.

rpc-server has no authentication: whoever reaches its port can make it allocate memory and run
graphs. So it listens on loopback unless told an address; a wildcard or public address needs
the words `--allow-untrusted-network`. Beside it, on the next port, a read-only JSON endpoint
tells the pooling host this machine's build and memory (the host refuses a worker whose build
differs from its own, before anything loads).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from localv4.errors import RuntimeFailure, UsageError
from localv4.hardware.profile import Hardware
from localv4.net import WILDCARD_HOSTS, family, is_free, port_number

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 50052  # rpc-server's own default
INFO_PATH = "/localv4-worker"
RISK_FLAG = "--allow-untrusted-network"
TRUST_LINE = ("rpc-server has no authentication: keep this worker on a trusted network "
              "(anyone who reaches its port can use this machine's memory).")
_INSTALL = "`localv4 install llama.cpp` builds it"
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class WorkerOptions:
    host: str = DEFAULT_HOST
    port: int | str = DEFAULT_PORT
    devices: str | None = None  # rpc-server -d: "CUDA0,CUDA1"; None: every GPU, else the CPU
    threads: int | None = None  # rpc-server -t for its CPU device; None: physical cores
    allow_untrusted_network: bool = False


@dataclass(frozen=True)
class Worker:
    """A worker checked and ready to start: its command line and what it tells the host."""

    argv: tuple[str, ...]
    host: str
    port: int
    info: dict

    @property
    def endpoint(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def check_address(host: str, allow_untrusted: bool) -> str:
    """The address to listen on; a wildcard or public one only with the risk named (UsageError)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError):
        raise UsageError(f"--host '{host}' is not an address this machine can listen on.") from None
    address = ipaddress.ip_address(infos[0][4][0].split("%")[0])
    wildcard = host in WILDCARD_HOSTS or address.is_unspecified
    public = not (address.is_loopback or address.is_private or address.is_link_local)
    if (wildcard or public) and not allow_untrusted:
        where = "every network this machine is on" if wildcard else f"the public address {address}"
        raise UsageError(
            f"--host {host} would open the RPC worker to {where}, and rpc-server has no "
            f"authentication: use a loopback or private LAN address, or add {RISK_FLAG} to accept the risk."
        )
    return host


def prepare(options: WorkerOptions) -> Worker:
    """Check the options (UsageError) and find the build's rpc-server (RuntimeFailure), before starting."""
    from localv4.install.locate import find_llama_server, rpc_server_flags

    host = check_address(options.host, options.allow_untrusted_network)
    port = port_number(options.port, "--port")
    if port == 65535:
        raise UsageError("--port must leave the next port free for the worker's info endpoint: use 1-65534.")
    if options.threads is not None and options.threads < 1:
        raise UsageError(f"--threads must be 1 or more (got {options.threads}).")
    binary = find_llama_server()
    if binary is None or binary.rpc_server is None:
        raise RuntimeFailure(f"no RPC worker (rpc-server) in a llama.cpp build here: {_INSTALL}.")
    hardware = _shared_profile(options.devices, binary.backends)
    taken = [p for p in (port, port + 1) if not is_free(host, p)]
    if taken:
        raise RuntimeFailure(f"port {taken[0]} on {host} is in use: pick another with --port N "
                             "(the worker needs N and N+1).")
    flags = rpc_server_flags(binary.rpc_server)
    argv = [str(binary.rpc_server), "-H", host, "-p", str(port)]
    if "--cache" in flags:  # tensors kept on disk, so a restarted host does not resend them
        argv.append("--cache")
    if options.devices:
        argv += ["-d", options.devices]
    argv += ["-t", str(options.threads or _physical_cores())]
    info = {
        "localv4_worker": 1, "rpc_port": port, "build": binary.version, "commit": binary.commit,
        "flavour": binary.flavour, "hardware": hardware,
    }
    return Worker(tuple(argv), host, port, info)


def _physical_cores() -> int:
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def _shared_profile(devices: str | None, backends: tuple[str, ...]) -> dict:
    """This machine's profile for the host's planner, as rpc-server serves it, without the local disk path."""
    from localv4.hardware import detect

    profile = served_hardware(detect(), devices, backends).to_dict()
    profile.update(disk_path="", disk_free=0, findings=[])
    return profile


def served_hardware(hw: Hardware, devices: str | None, backends: tuple[str, ...]) -> Hardware:
    """`hw` cut to the devices rpc-server will serve, so the host plans no device RPC does not give it.

    Without --device rpc-server serves every GPU its build drives, else the CPU; with it, the ones
    named, in that order (tools/rpc/rpc-server.cpp). UsageError for a name it would not serve."""
    gpus = {f"CUDA{g.index}": g for g in hw.gpus} if "cuda" in backends else {}
    metal = ("MTL0",) if hw.apple is not None and "metal" in backends else ()
    if not devices:
        return hw if gpus or metal else _cpu_only(hw)
    names = [n for n in re.split(r"[,/]+", devices) if n]
    known = [*gpus, *metal, "CPU"]
    unknown = next((n for n in names if n not in known), None)
    if unknown is not None or not names:
        raise UsageError(f"--device {unknown or devices} is not a device this worker can serve; "
                         f"it has {', '.join(known)}.")
    if "CPU" in names and len(names) > 1:
        raise UsageError("--device mixes the CPU with a GPU, which localv4 cannot plan on one worker: "
                         "give the GPUs, or CPU alone.")
    if names == ["CPU"]:
        return _cpu_only(hw)
    return dataclasses.replace(hw, gpus=tuple(gpus[n] for n in names if n in gpus))


def _cpu_only(hw: Hardware) -> Hardware:
    return dataclasses.replace(hw, gpus=(), apple=None)


def _tensor_cache_env() -> dict[str, str]:
    """rpc-server keeps its tensor cache in $LLAMA_CACHE/rpc: under localv4's own data."""
    from localv4.paths import data_dir

    return {"LLAMA_CACHE": str(data_dir() / "llama.cpp-cache")}


def _info_server(worker: Worker, alive: Callable[[], bool]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802  (http.server's name)
            if self.path != INFO_PATH:
                self.send_error(404)
                return
            body = json.dumps({**worker.info, "alive": alive()}).encode()
            self.send_response(200 if alive() else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args) -> None:
            pass

    class Server(ThreadingHTTPServer):
        address_family = family(worker.host)
        daemon_threads = True

    return Server((worker.host, worker.port + 1), Handler)


def _die_with_parent() -> None:
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def run(worker: Worker) -> int:
    """Run rpc-server in the foreground until it exits or this process is told to stop.

    Returns 0 after Ctrl-C or SIGTERM; raises RuntimeFailure when rpc-server stopped by itself."""
    child = subprocess.Popen(
        list(worker.argv), stdin=subprocess.DEVNULL, env={**os.environ, **_tensor_cache_env()},
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )
    info = _info_server(worker, lambda: child.poll() is None)
    threading.Thread(target=info.serve_forever, daemon=True).start()

    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        code = child.wait()
    except KeyboardInterrupt:
        import psutil

        from localv4.process_tree import family, stop_family

        try:
            stop_family(family(psutil.Process(child.pid)), STOP_TIMEOUT_S)
        except psutil.Error:
            pass  # already gone
        child.wait()
        return 0
    finally:
        info.shutdown()
        info.server_close()
    raise RuntimeFailure(f"the RPC worker {Path(worker.argv[0]).name} stopped (exit {code}); "
                         "its last lines are above.")

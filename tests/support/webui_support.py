"""The UI tests' stand-ins: a localv4 endpoint (a real HTTP server) and an `open-webui` program.

Open WebUI itself cannot be installed in tests (a large download with ~100 exact pins), so native
mode runs a small script in its place that answers /health like `open-webui serve` and writes
down the argv, working dir and environment it was started with.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil

LAUNCH_RECORD = "standin-launch.json"
RECORDED_ENV = (
    "OPENAI_API_BASE_URL", "OPENAI_API_KEY", "ENABLE_OLLAMA_API", "ENABLE_OPENAI_API", "WEBUI_AUTH",
    "ENABLE_PERSISTENT_CONFIG", "DATA_DIR", "DEFAULT_MODELS", "HOST", "PORT",
)

STANDIN_OPEN_WEBUI = f"""#!{sys.executable}
import json, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

args = sys.argv[1:]
host, port = args[args.index("--host") + 1], int(args[args.index("--port") + 1])
record = {{"argv": sys.argv, "cwd": os.getcwd(), "env": {{k: os.environ.get(k) for k in {RECORDED_ENV!r}}}}}
with open({LAUNCH_RECORD!r}, "w") as f:
    json.dump(record, f)

class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(b'{{"status":true}}')
    def log_message(self, *args):
        pass

print("stand-in open-webui listening", flush=True)
HTTPServer((host, port), Health).serve_forever()
"""

CRASHING_OPEN_WEBUI = f"""#!{sys.executable}
import sys
print("stand-in open-webui: cannot open database", flush=True)
sys.exit(3)
"""


def write_program(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def read_launch(data_dir: Path) -> dict:
    return json.loads((data_dir / LAUNCH_RECORD).read_text())


class FakeEndpoint:
    """A real HTTP server for /v1/models that checks and records the Authorization header."""

    def __init__(self, host: str = "127.0.0.1", key: str | None = None) -> None:
        self.key = key
        self.auth_headers: list[str | None] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                header = self.headers.get("Authorization")
                endpoint.auth_headers.append(header)
                authorized = endpoint.key is None or header == f"Bearer {endpoint.key}"
                status = 401 if not authorized else 200 if self.path == "/v1/models" else 404
                body = json.dumps({"object": "list", "data": [{"id": "standin-model"}]}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.host, self.port = host, self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def register_with_serve(endpoint: FakeEndpoint, log: Path) -> str:
    """Record `endpoint` as the running engine, the way `localv4 up` does; returns its API key.

    The record names this test process, so serve's status() sees a live engine.
    """
    from localv4.serve.state import ensure_api_key, read_key_file, write_state
    from support.records import stand_in_plan, stand_in_record

    key_file = ensure_api_key()
    now = time.time()
    write_state(stand_in_record(
        stand_in_plan("standin-model", context=4096, placement="cpu"), pid=os.getpid(),
        create_time=psutil.Process().create_time(), host=endpoint.host, port=endpoint.port, log=str(log),
        started_at=now, ready_at=now, api_key_file=str(key_file),
    ))
    key = read_key_file(key_file)
    endpoint.key = key
    return key

#!/usr/bin/env python3
"""How fast localv4 notices a failed engine: the fault timings in docs/reliability.md.

On the real Gemma 3 270M GGUF with the native llama-server, in a private localv4 home, through
`localv4.flow.up` and `localv4.serve.api`, TRIALS times each:
- kill -9 of a serving engine -> seconds until `status` says crashed;
- SIGSTOP of a serving engine -> seconds one `status` takes to say unresponsive, and `down`'s time;
- SIGSTOP of an engine while it loads -> seconds until `up` gives up (instead of waiting an hour).

Usage: python -m scripts.fault_timings [--trials 3]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
import threading
import time
from pathlib import Path


def one_trial(options, out: dict[str, list[float]]) -> None:
    import psutil

    from localv4 import flow
    from localv4.errors import RuntimeFailure
    from localv4.serve import api
    from localv4.serve.state import read_state

    info = flow.up(options)
    os.kill(info.server.pid, signal.SIGKILL)
    began = time.monotonic()
    while api.status().state != "crashed":
        time.sleep(0.005)
    out["kill9_to_crashed_s"].append(time.monotonic() - began)
    api.down()

    info = flow.up(options)
    os.kill(info.server.pid, signal.SIGSTOP)
    while psutil.Process(info.server.pid).status() != psutil.STATUS_STOPPED:  # the signal has landed
        time.sleep(0.001)
    began = time.monotonic()
    assert api.status().state == "unresponsive"
    out["sigstop_status_s"].append(time.monotonic() - began)
    began = time.monotonic()
    api.down()
    out["down_of_stopped_s"].append(time.monotonic() - began)

    def stop_once_recorded() -> None:
        while (server := read_state()) is None:
            time.sleep(0.01)
        os.kill(server.pid, signal.SIGSTOP)

    stopper = threading.Thread(target=stop_once_recorded)
    stopper.start()
    began = time.monotonic()
    try:
        flow.up(options)
        raise SystemExit("up succeeded although its engine was stopped")
    except RuntimeFailure:
        out["stopped_while_loading_up_fails_s"].append(time.monotonic() - began)
    stopper.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    from scripts.bench_serve import setup_home, variant_name

    out: dict[str, list[float]] = {k: [] for k in ("kill9_to_crashed_s", "sigstop_status_s",
                                                  "down_of_stopped_s", "stopped_while_loading_up_fails_s")}
    with tempfile.TemporaryDirectory(prefix="faults-") as tmp:
        setup_home(Path(tmp))
        from localv4 import flow
        from localv4.serve import api

        options = flow.UpOptions(variant=variant_name(), serve=api.ServeOptions(backend="llama-server", port="auto"))
        for _ in range(args.trials):
            one_trial(options, out)
    print(json.dumps({k: [round(v, 3) for v in vs] for k, vs in out.items()}, indent=2))


if __name__ == "__main__":
    main()

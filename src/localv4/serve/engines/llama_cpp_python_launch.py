"""Runs llama-cpp-python's server in this process, with what its own flags cannot say.

`python -m localv4.serve.engines.llama_cpp_python_launch --temperature T --top-p P [--api-key-file F] -- ARGS`
- the recipe's temperature and top_p become the defaults for requests that send none;
- the API key is read from its file here, so it never appears on a command line (`ps`);
- HOST, PORT, CONFIG_FILE, MODEL... in the environment would override the flags localv4 chose
  (pydantic-settings and the server read them), so they are dropped.
Then the server runs as usual, in this same process: nothing sits between client and engine.
"""

from __future__ import annotations

import argparse
import os
import sys

from localv4.internals import Target, get, replace
from localv4.serve.engines.base import split_launcher_args


def _server(module: str, path: str, key: str | None = None) -> Target:
    return Target("llama-cpp-python", f"llama_cpp.server.{module}", path, key)


SETTINGS = _server("settings", "Settings.model_fields")
# The request types' defaults, in pydantic v2's field table, and the rebuild that applies them.
REQUESTS = ("CreateCompletionRequest", "CreateChatCompletionRequest")
DEFAULTS = {(r, f): _server("types", f"{r}.model_fields", f) for r in REQUESTS for f in ("temperature", "top_p")}
REBUILDS = {r: _server("types", f"{r}.model_rebuild") for r in REQUESTS}
MAIN = _server("__main__", "main")
# Where `Llama` takes its model parameters from, to switch off the extra CPU buffer types.
MODEL_PARAMS = Target("llama-cpp-python", "llama_cpp.llama", "llama_cpp.llama_model_default_params")
TARGETS = (SETTINGS, *DEFAULTS.values(), *REBUILDS.values(), MAIN, MODEL_PARAMS)


def _drop_settings_env() -> None:
    names = {name.lower() for name in get(SETTINGS)} | {"config_file"}
    for key in [k for k in os.environ if k.lower() in names]:
        del os.environ[key]


def set_sampling_defaults(temperature: float, top_p: float) -> None:
    for request in REQUESTS:
        get(DEFAULTS[request, "temperature"]).default = temperature
        get(DEFAULTS[request, "top_p"]).default = top_p
        get(REBUILDS[request])(force=True)


def keep_weights_as_loaded() -> None:
    """No AMX or repack buffers for CPU-held weights (engines.base.weights_as_loaded says when);
    the server's settings have no field for llama.cpp's `use_extra_bufts`."""
    defaults = get(MODEL_PARAMS)

    def model_params():
        params = defaults()
        params.use_extra_bufts = False
        return params

    replace(MODEL_PARAMS, model_params)


def main(argv: list[str] | None = None) -> None:
    ours, server_args = split_launcher_args(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m localv4.serve.engines.llama_cpp_python_launch")
    parser.add_argument("--temperature", type=float, required=True)
    parser.add_argument("--top-p", type=float, required=True)
    parser.add_argument("--api-key-file")
    parser.add_argument("--weights-as-loaded", action="store_true")
    args = parser.parse_args(ours)

    _drop_settings_env()
    set_sampling_defaults(args.temperature, args.top_p)
    if args.weights_as_loaded:
        keep_weights_as_loaded()
    if args.api_key_file:
        with open(args.api_key_file, encoding="utf-8") as f:
            # One token: a key may begin with "-" (token_urlsafe draws from A-Z a-z 0-9 - _), which
            # argparse would take for an option and exit 2 while "loading".
            server_args.append(f"--api_key={f.read().strip()}")
    sys.argv = ["llama_cpp.server", *server_args]  # this process's argv only: /proc shows the original
    get(MAIN)()


if __name__ == "__main__":
    main()

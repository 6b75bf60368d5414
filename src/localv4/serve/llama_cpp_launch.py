"""Runs llama-cpp-python's server in this process, with what its own flags cannot say.

`python -m localv4.serve.llama_cpp_launch --temperature T --top-p P [--api-key-file F] -- ARGS`
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


def _split(argv: list[str]) -> tuple[list[str], list[str]]:
    if "--" not in argv:
        return argv, []
    i = argv.index("--")
    return argv[:i], argv[i + 1:]


def _drop_settings_env() -> None:
    from llama_cpp.server.settings import Settings

    names = {name.lower() for name in Settings.model_fields} | {"config_file"}
    for key in [k for k in os.environ if k.lower() in names]:
        del os.environ[key]


def set_sampling_defaults(temperature: float, top_p: float) -> None:
    from llama_cpp.server import types

    for request in (types.CreateCompletionRequest, types.CreateChatCompletionRequest):
        request.model_fields["temperature"].default = temperature
        request.model_fields["top_p"].default = top_p
        request.model_rebuild(force=True)


def main(argv: list[str] | None = None) -> None:
    ours, server_args = _split(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m localv4.serve.llama_cpp_launch")
    parser.add_argument("--temperature", type=float, required=True)
    parser.add_argument("--top-p", type=float, required=True)
    parser.add_argument("--api-key-file")
    args = parser.parse_args(ours)

    _drop_settings_env()
    set_sampling_defaults(args.temperature, args.top_p)
    if args.api_key_file:
        with open(args.api_key_file, encoding="utf-8") as f:
            server_args += ["--api_key", f.read().strip()]
    sys.argv = ["llama_cpp.server", *server_args]  # this process's argv only: /proc shows the original
    from llama_cpp.server.__main__ import main as serve

    serve()


if __name__ == "__main__":
    main()

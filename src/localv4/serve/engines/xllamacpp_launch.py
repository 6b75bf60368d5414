"""Runs llama.cpp's own server in this process through xllamacpp, from llama-server's flag names.

`python -m localv4.serve.engines.xllamacpp_launch [--site DIR] -- LLAMA_SERVER_FLAGS`
- takes the llama-server flags in FLAGS, so one command builder serves both llama.cpp programs
  (llama_server.server_args): each sets the `CommonParams` field its handler in llama.cpp's
  common/arg.cpp sets, and the parser's own finishing touch (`preserve_reasoning`) is repeated here;
- `--site DIR`: the engine environment localv4 installed xllamacpp into (install/prebuilt.py),
  put first on this process's path; without it, the xllamacpp this interpreter imports;
- the API key is read from its file here, so it never appears on a command line (`ps`);
- `--fit` is not taken: the plan places every layer (`-ngl`), as with a llama-server without --fit
  (xllamacpp leaves the override table unpadded, which llama.cpp's fitting needs to write into);
- the server logs to stdout/stderr (server.log); SIGTERM/SIGINT stop it as llama-server's do.
Nothing sits between client and engine: the C++ server answers on the port.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from localv4.serve.engines.base import split_launcher_args

# llama-server's flag -> the type of its value (None: a switch). FLAGS is what the backend may put
# on the command line; tests/test_xllamacpp.py reads each back from the CommonParams it makes.
_TAKES: dict[str, type | None] = {
    "-m": str, "-c": int, "--host": str, "--port": int, "--alias": str, "--temp": float, "--top-p": float,
    "-ngl": int, "--n-cpu-moe": int, "--tensor-split": str, "--parallel": int, "--no-kv-unified": None,
    "-ctk": str, "-ctv": str, "--no-repack": None, "--jinja": None, "--metrics": None,
    "--reasoning": str, "--reasoning-effort": str, "--api-key-file": str,
    "--spec-type": str, "-md": str, "--spec-draft-n-max": int, "-ngld": int,
    "--spec-draft-n-cpu-moe": int, "--spec-draft-type-k": str, "--spec-draft-type-v": str,
}
FLAGS = frozenset(_TAKES)
# common.h LLM_FFN_EXPS_REGEX, per layer as llm_add_n_cpu_ffn_overrides writes it (--n-cpu-moe).
_EXPERTS = r"blk\.{}\.ffn_(up|down|gate|gate_up)_(ch|)exps=CPU"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xllamacpp_launch", add_help=False, allow_abbrev=False)
    for flag, kind in _TAKES.items():
        if kind is None:
            parser.add_argument(flag, action="store_true")
        else:
            parser.add_argument(flag, type=kind)
    return parser


def expert_overrides(layers: int) -> str:
    """The experts of the first `layers` layers in RAM, as `tensor_buft_overrides` takes them."""
    return ",".join(_EXPERTS.format(i) for i in range(layers))


def _ggml_type(x, name: str):
    return x.ggml_type[f"GGML_TYPE_{name.upper()}"]


def _read_keys(path: str) -> list[str]:
    """One key a line, as llama-server's --api-key-file reads it."""
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def params_from(server_args: list[str]):
    """The CommonParams llama-server would run with for these flags (only those in FLAGS)."""
    import xllamacpp as x

    a = vars(_parser().parse_args(server_args))
    p = x.CommonParams()
    p.model.path = a["m"]
    p.n_ctx = a["c"]
    p.hostnames = [a["host"]]
    p.port = a["port"]
    p.model_alias = {a["alias"]}
    p.sampling.temp, p.sampling.top_p = a["temp"], a["top_p"]
    user = x.common_params_sampling_config  # marks them as set, as --temp and --top-p do
    p.sampling.user_sampling_config |= (user.COMMON_PARAMS_SAMPLING_CONFIG_TEMP
                                        | user.COMMON_PARAMS_SAMPLING_CONFIG_TOP_P)
    p.fit_params = False
    if a["ngl"] is not None:
        p.n_gpu_layers = a["ngl"]
    if a["n_cpu_moe"]:
        p.tensor_buft_overrides = expert_overrides(a["n_cpu_moe"])
    if a["tensor_split"]:
        shares = [float(v) for v in a["tensor_split"].split(",")]
        p.tensor_split = shares + [0.0] * (len(p.tensor_split) - len(shares))
    if a["parallel"] is not None:
        p.n_parallel = a["parallel"]
    if a["no_kv_unified"]:
        p.kv_unified = False
    if a["ctk"]:
        p.cache_type_k = _ggml_type(x, a["ctk"])
    if a["ctv"]:
        p.cache_type_v = _ggml_type(x, a["ctv"])
    p.no_extra_bufts = a["no_repack"]
    p.use_jinja = a["jinja"]
    p.endpoint_metrics = a["metrics"]
    p.default_template_kwargs = _template_kwargs(p, a["reasoning"], a["reasoning_effort"])
    if a["api_key_file"]:
        p.api_keys = _read_keys(a["api_key_file"])
    if a["md"]:
        _speculative(x, p, a)
    return p


def _template_kwargs(p, reasoning: str | None, effort: str | None) -> dict[str, str]:
    """--reasoning and --reasoning-effort as arg.cpp sets them (values JSON-encoded), and
    preserve_reasoning true unless given, as llama.cpp's parser does after every flag."""
    kwargs = dict(p.default_template_kwargs)
    if reasoning is not None:
        p.enable_reasoning = {"on": 1, "off": 0}.get(reasoning, -1)
        if reasoning in ("on", "off"):
            kwargs["enable_thinking"] = "true" if reasoning == "on" else "false"
    if effort is not None:
        kwargs["reasoning_effort"] = json.dumps(effort)
    kwargs.setdefault("preserve_reasoning", "true")
    return kwargs


def _speculative(x, p, a: dict) -> None:
    draft = p.speculative.draft
    draft.mparams.path = a["md"]
    if a["spec_type"]:
        kind = a["spec_type"].upper().replace("-", "_")
        p.speculative.types = [x.common_speculative_type[f"COMMON_SPECULATIVE_TYPE_{kind}"]]
    if a["spec_draft_n_max"] is not None:
        draft.n_max = a["spec_draft_n_max"]
    if a["ngld"] is not None:
        draft.n_gpu_layers = a["ngld"]
    if a["spec_draft_n_cpu_moe"]:
        draft.tensor_buft_overrides = expert_overrides(a["spec_draft_n_cpu_moe"])
    if a["spec_draft_type_k"]:
        draft.cache_type_k = _ggml_type(x, a["spec_draft_type_k"])
    if a["spec_draft_type_v"]:
        draft.cache_type_v = _ggml_type(x, a["spec_draft_type_v"])


def serve(params) -> None:
    """Load and serve until SIGTERM or SIGINT, then stop the server and return.

    The constructor returns once the model is loaded (the port answers /health with 503 until
    then); a signal during the load ends the process as it would llama-server's."""
    import xllamacpp as x

    server = x.Server(params)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):  # after the C++ server set its own: ours stop it cleanly
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass
    del server  # its destructor ends the server's loop and joins it


def main(argv: list[str] | None = None) -> None:
    ours, server_args = split_launcher_args(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m localv4.serve.engines.xllamacpp_launch")
    parser.add_argument("--site", help="the engine environment's site-packages, put first on the path")
    args = parser.parse_args(ours)
    if args.site:
        sys.path.insert(0, args.site)
    serve(params_from(server_args))


if __name__ == "__main__":
    main()

"""llama-cpp-python's server command line: the embedded fallback when no native llama-server fits.

It runs through `localv4.serve.engines.llama_cpp_python_launch`, which sets the recipe's sampling defaults and
reads the API key file inside the engine process. It cannot keep MoE experts in RAM (its
tensor-override setting is unused): it declares no hybrid placement.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys

from localv4.fixes import pip_install
from localv4.pins import PYTHON_ENGINE_REQUIREMENT
from localv4.planning.values import Plan
from localv4.serve.engines.base import (
    Capabilities, EngineCommand, EngineInputs, template_kwargs, weights_as_loaded,
)

NAME = "llama-cpp-python"
_GPU_LAYERS = {"gpu": "-1", "unified": "-1", "cpu": "0"}


_GGML_TYPE = {"q8_0": 8, "q4_0": 2}  # ggml.h enum ggml_type


def threads() -> int:
    """Physical cores, as llama.cpp's own default (the server's default is half the CPUs)."""
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def _command(inputs: EngineInputs) -> EngineCommand:
    plan = inputs.plan
    launcher = [
        sys.executable, "-m", "localv4.serve.engines.llama_cpp_python_launch",
        "--temperature", str(plan.model.temperature),
        "--top-p", str(plan.model.top_p),
    ]
    if inputs.api_key_file is not None:
        launcher += ["--api-key-file", str(inputs.api_key_file)]
    if weights_as_loaded(plan):
        launcher += ["--weights-as-loaded"]
    server = [
        "--model", str(inputs.model_path),
        "--model_alias", plan.model.served_name,
        "--n_ctx", str(plan.context),
        "--n_gpu_layers", _GPU_LAYERS[plan.placement],
        "--n_threads", str(threads()),
        "--host", inputs.host,
        "--port", str(inputs.port),
        # Its server keeps logits for every context position by default: a float32 array of
        # context x vocabulary that the plan does not hold (529 GB for V4-Flash at 1M context,
        # 32 GiB seen here for 32K x 262,144); off, it keeps one batch's worth (llama.py:485).
        "--logits_all", "false",
    ]
    if plan.kv_type != "f16":  # its settings take ggml's type numbers
        server += ["--type_k", str(_GGML_TYPE[plan.kv_type]), "--type_v", str(_GGML_TYPE[plan.kv_type])]
    kwargs = template_kwargs(inputs.reasoning)
    if kwargs:
        server += ["--chat_template_kwargs", json.dumps(kwargs)]
    return EngineCommand(
        backend=NAME, argv=(*launcher, "--", *server), health_path="/v1/models"
    )


def installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


class LlamaCppPython:
    """llama-cpp-python's server: no hybrid placement, no draft models, OpenAI routes only."""

    name = NAME
    engine = "llama.cpp"
    capabilities = Capabilities(formats=frozenset({"gguf"}))

    def unavailable(self, plan: Plan) -> str | None:
        if not installed():
            return (f"llama-cpp-python is not installed: `{pip_install(PYTHON_ENGINE_REQUIREMENT)}` "
                    "(it compiles llama.cpp: minutes)")
        return None

    def command(self, inputs: EngineInputs) -> EngineCommand:
        return _command(inputs)

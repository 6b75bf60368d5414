"""llama-cpp-python's server command line: the embedded fallback when no native llama-server fits.

It runs through `localv4.serve.llama_cpp_launch`, which sets the recipe's sampling defaults and
reads the API key file inside the engine process. It cannot keep MoE experts in RAM (its
tensor-override setting is unused), so `engines.choose_backend` refuses it hybrid plans.
"""

from __future__ import annotations

import json
import os
import sys

from localv4.serve.engines import LLAMA_CPP_PYTHON, EngineCommand, EngineInputs, template_kwargs

_GPU_LAYERS = {"gpu": "-1", "unified": "-1", "cpu": "0"}


def threads() -> int:
    """Physical cores, as llama.cpp's own default (the server's default is half the CPUs)."""
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def command(inputs: EngineInputs) -> EngineCommand:
    plan = inputs.plan
    launcher = [
        sys.executable, "-m", "localv4.serve.llama_cpp_launch",
        "--temperature", str(plan.model.temperature),
        "--top-p", str(plan.model.top_p),
    ]
    if inputs.api_key_file is not None:
        launcher += ["--api-key-file", str(inputs.api_key_file)]
    server = [
        "--model", str(inputs.model_path),
        "--model_alias", plan.model.served_name,
        "--n_ctx", str(plan.context),
        "--n_gpu_layers", _GPU_LAYERS[plan.placement],
        "--n_threads", str(threads()),
        "--host", inputs.host,
        "--port", str(inputs.port),
    ]
    kwargs = template_kwargs(inputs.reasoning)
    if kwargs:
        server += ["--chat_template_kwargs", json.dumps(kwargs)]
    return EngineCommand(
        backend=LLAMA_CPP_PYTHON, argv=(*launcher, "--", *server), health_path="/v1/models"
    )

"""The MLX server's command line: mlx-lm's server for model types it knows, mlx-vlm's otherwise.

mlx-lm 0.32 has no `deepseek_v4` (mlx-vlm has; localv4 needs 0.7.10 to 0.7.x), so the
folder's config.json decides. Both run through `mlx_launch`, which caps the
context (neither server has a cap of its own: the KV cache would grow until the Mac panics,
mlx-lm#883) and sets the wired limit.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
from pathlib import Path

from localv4.errors import RuntimeFailure
from localv4.fixes import pip_install
from localv4.planning.values import Plan
from localv4.serve.engines.base import Capabilities, EngineCommand, EngineInputs, template_kwargs

NAME = "mlx"
MLX_LM = "mlx_lm"
MLX_VLM = "mlx_vlm"
DRAFT_KINDS = {"dspark": "dflash", "mtp": "mtp"}  # a recipe's draft kind -> mlx-vlm's --draft-kind
# Model types mlx-lm ships but cannot load as published: its deepseek_v41 (0.32) refuses the
# Engram layers every V4.1-Flash checkpoint has; mlx-vlm's maps their tables from disk.
VLM_ONLY = frozenset({"deepseek_v41"})


def model_type(folder: Path) -> str:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        return str(config["model_type"])
    except (OSError, ValueError, KeyError, TypeError):
        raise RuntimeFailure(
            f"{folder} has no readable config.json with a model_type: the download is incomplete "
            "or damaged; run `localv4 pull` again."
        ) from None


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _package_has_model(package: str, kind: str) -> bool:
    """Whether `package` ships a model module for `kind`, without importing it (that takes seconds)."""
    root = _package_dir(package)
    if root is None:
        return False
    models = root / "models"
    return (models / f"{kind}.py").is_file() or (models / kind / "__init__.py").is_file()


def _mlx_lm_alias(kind: str) -> str:
    """mlx-lm loads some model types with another's code (mistral -> llama): its MODEL_REMAPPING."""
    root = _package_dir(MLX_LM)
    try:
        tree = ast.parse((root / "utils.py").read_text(encoding="utf-8")) if root else None
    except (OSError, SyntaxError):
        tree = None
    for node in ast.walk(tree) if tree else ():
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "MODEL_REMAPPING" for t in node.targets
        ):
            try:
                return ast.literal_eval(node.value).get(kind, kind)
            except ValueError:
                break
    return kind


def server_for(kind: str) -> str:
    if kind not in VLM_ONLY and _package_has_model(MLX_LM, _mlx_lm_alias(kind)):
        return MLX_LM
    if _package_has_model(MLX_VLM, kind):
        return MLX_VLM
    raise RuntimeFailure(
        f"neither mlx-lm nor mlx-vlm here can load model type '{kind}': "
        f"`{pip_install('mlx-lm', 'mlx-vlm', pip_args='--upgrade')}`, or use a GGUF variant (llama.cpp)."
    )


def _server_args(server: str, inputs: EngineInputs) -> list[str]:
    plan = inputs.plan
    common = ["--model", str(inputs.model_path), "--host", inputs.host, "--port", str(inputs.port)]
    if inputs.draft_path is not None and plan.draft is not None and server != MLX_VLM:
        raise RuntimeFailure(f"the {plan.draft.kind} draft needs mlx-vlm's server, and {server} serves "
                             f"'{model_type(inputs.model_path)}' here: `localv4 up --speculative off`.")
    if server == MLX_VLM:  # sampling and reasoning defaults: through the launcher
        return [*common, "--max-kv-size", str(plan.context), "--max-num-seqs", "1", *_draft_args(inputs)]
    return [
        *common,
        "--temp", str(plan.model.temperature),
        "--top-p", str(plan.model.top_p),
        "--chat-template-args", json.dumps(template_kwargs(inputs.reasoning)),
        # One sequence at a time, its KV cache within the plan's budget: what the plan measured.
        "--decode-concurrency", "1",
        "--prompt-concurrency", "1",
        "--prompt-cache-bytes", str(max(plan.memory.kv_cache, 1)),
    ]


def _draft_args(inputs: EngineInputs) -> list[str]:
    """mlx-vlm's drafter: the pulled draft folder (DeepSeek's config, index, tokenizer and the
    shards holding `mtp.*`, which mlx-vlm splits out in memory) and its round loop (`dflash`)."""
    draft = inputs.plan.draft
    if inputs.draft_path is None or draft is None:
        return []
    return ["--draft-model", str(inputs.draft_path), "--draft-kind", DRAFT_KINDS[draft.kind]]


def _command(inputs: EngineInputs) -> EngineCommand:
    plan = inputs.plan
    server = server_for(model_type(inputs.model_path))
    launcher = [
        sys.executable, "-m", "localv4.serve.engines.mlx_launch",
        "--server", server,
        "--context", str(plan.context),
        "--wired-limit", str(plan.memory.total),
        "--served-name", plan.model.served_name,
    ]
    if inputs.api_key_file is not None:
        launcher += ["--api-key-file", str(inputs.api_key_file)]
    if server == MLX_VLM:  # mlx-lm takes these as server flags (_server_args)
        launcher += ["--temperature", str(plan.model.temperature), "--top-p", str(plan.model.top_p)]
        if inputs.reasoning:
            launcher += ["--reasoning", inputs.reasoning]
    return EngineCommand(
        backend=NAME, argv=(*launcher, "--", *_server_args(server, inputs)), health_path="/health",
        env={"HF_HUB_OFFLINE": "1"},  # the weights are on disk: the server must never fetch any
    )


class Mlx:
    """mlx-lm's or mlx-vlm's server on Apple Silicon (and on the CPU elsewhere, for tests)."""

    name = NAME
    engine = "mlx"
    # speculative: mlx-vlm's DSpark drafter; the planner gives an MLX plan a draft only where the
    # installed mlx-vlm ships it (planner.mlx_drafter_missing).
    capabilities = Capabilities(formats=frozenset({"mlx"}), speculative=True)

    def unavailable(self, plan: Plan) -> str | None:
        if _package_dir(MLX_LM) is None and _package_dir(MLX_VLM) is None:
            return "neither mlx-lm nor mlx-vlm is installed: run `localv4 install mlx`"
        return None

    def command(self, inputs: EngineInputs) -> EngineCommand:
        return _command(inputs)

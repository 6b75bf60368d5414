"""aider: the served model as `openai/<id>` on the endpoint, its context from a model-metadata
file of localv4's own; its update check, analytics and litellm's price-list download are off."""

from __future__ import annotations

import json
from pathlib import Path

from localv4.agents.base import AgentSetup, AgentTarget

OUTPUT_SHARE = 4
EFFORT = {"off": "none", "high": "high", "max": "max"}  # sent as reasoning_effort


class Aider:
    name = "aider"
    title = "aider"
    program = "aider"
    install = "pipx install aider-chat"
    api = "chat"
    calls_tools = False  # edits through its text formats, not tool calls

    def setup(self, target: AgentTarget, folder: Path) -> AgentSetup:
        model = f"openai/{target.endpoint.model_id}"
        metadata = {model: {
            "max_input_tokens": target.context,
            "max_output_tokens": target.context // OUTPUT_SHARE,
            "max_tokens": target.context // OUTPUT_SHARE,
            "input_cost_per_token": 0.0,
            "output_cost_per_token": 0.0,
            "litellm_provider": "openai",
            "mode": "chat",
        }}
        # A reply cap: without max_tokens llama-server generates until the context is full.
        settings = [{"name": model, "edit_format": "diff", "use_repo_map": True,
                     "extra_params": {"max_tokens": target.context // OUTPUT_SHARE}}]
        path, settings_path = folder / "model-metadata.json", folder / "model-settings.yml"
        argv = [
            self.program, "--model", model, "--openai-api-base", target.endpoint.v1_url,
            "--model-metadata-file", str(path), "--model-settings-file", str(settings_path),
            "--no-check-update", "--analytics-disable", "--no-show-release-notes",
            "--no-show-model-warnings",
        ]
        if target.reasoning is not None:
            argv += ["--reasoning-effort", EFFORT[target.reasoning]]
        env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "AIDER_CHECK_UPDATE": "false"}
        return AgentSetup(argv=tuple(argv), env=env, key_env=("OPENAI_API_KEY",),
                          files={path: json.dumps(metadata, indent=2) + "\n",
                                 settings_path: json.dumps(settings, indent=2) + "\n"})  # JSON is YAML

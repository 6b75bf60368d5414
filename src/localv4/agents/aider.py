"""aider: the served model as `openai/<id>` on the endpoint, its context from a model-metadata
file of localv4's own; its update check, analytics and litellm's price-list download are off."""

from __future__ import annotations

import json
from pathlib import Path

from localv4.agents.base import AgentSetup, Endpoint

OUTPUT_SHARE = 4
EFFORT = {"off": "none", "high": "high", "max": "max"}  # sent as reasoning_effort


class Aider:
    name = "aider"
    title = "aider"
    program = "aider"
    install = "pipx install aider-chat"
    api = "chat"
    calls_tools = False  # edits through its text formats, not tool calls

    def setup(self, endpoint: Endpoint, folder: Path) -> AgentSetup:
        model = f"openai/{endpoint.model}"
        metadata = {model: {
            "max_input_tokens": endpoint.context,
            "max_output_tokens": endpoint.context // OUTPUT_SHARE,
            "max_tokens": endpoint.context // OUTPUT_SHARE,
            "input_cost_per_token": 0.0,
            "output_cost_per_token": 0.0,
            "litellm_provider": "openai",
            "mode": "chat",
        }}
        # A reply cap: without max_tokens llama-server generates until the context is full.
        settings = [{"name": model, "edit_format": "diff", "use_repo_map": True,
                     "extra_params": {"max_tokens": endpoint.context // OUTPUT_SHARE}}]
        path, settings_path = folder / "model-metadata.json", folder / "model-settings.yml"
        argv = [
            self.program, "--model", model, "--openai-api-base", endpoint.v1,
            "--model-metadata-file", str(path), "--model-settings-file", str(settings_path),
            "--no-check-update", "--analytics-disable", "--no-show-release-notes",
            "--no-show-model-warnings",
        ]
        if endpoint.reasoning is not None:
            argv += ["--reasoning-effort", EFFORT[endpoint.reasoning]]
        env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "AIDER_CHECK_UPDATE": "false"}
        return AgentSetup(argv=tuple(argv), env=env, key_env=("OPENAI_API_KEY",),
                          files={path: json.dumps(metadata, indent=2) + "\n",
                                 settings_path: json.dumps(settings, indent=2) + "\n"})  # JSON is YAML

"""opencode: a `localv4` provider in a config file of localv4's own (OPENCODE_CONFIG is merged
over the user's config, which stays as it was); its model-list fetch, auto-update, default
plugins and LSP downloads are switched off by its own variables."""

from __future__ import annotations

import json
from pathlib import Path

from localv4.agents.base import KEY_ENV, AgentSetup, AgentTarget

OUTPUT_SHARE = 4  # at most a quarter of the context for one reply
EFFORT = {"off": "none", "high": "high", "max": "max"}  # passed through as reasoning_effort


class Opencode:
    name = "opencode"
    title = "opencode"
    program = "opencode"
    install = "npm install -g opencode-ai"
    api = "chat"
    calls_tools = True

    def setup(self, target: AgentTarget, folder: Path) -> AgentSetup:
        served = target.endpoint.model_id
        model = {
            "name": served,
            "tool_call": True,
            "limit": {"context": target.context, "output": target.context // OUTPUT_SHARE},
        }
        if target.reasoning is not None:
            model["options"] = {"reasoningEffort": EFFORT[target.reasoning]}
        config = {
            "$schema": "https://opencode.ai/config.json",
            "model": f"localv4/{served}",
            "small_model": f"localv4/{served}",
            "autoupdate": False,
            "share": "disabled",
            "provider": {"localv4": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "localv4",
                "options": {"baseURL": target.endpoint.v1_url, "apiKey": f"{{env:{KEY_ENV}}}"},
                "models": {served: model},
            }},
        }
        path = folder / "opencode.json"
        env = {
            "OPENCODE_CONFIG": str(path),
            "OPENCODE_DISABLE_AUTOUPDATE": "1",
            "OPENCODE_DISABLE_MODELS_FETCH": "1",
            "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
            "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
            "OPENCODE_DISABLE_SHARE": "1",
        }
        return AgentSetup(argv=(self.program,), env=env, key_env=(KEY_ENV,),
                          files={path: json.dumps(config, indent=2) + "\n"})

"""Codex CLI: a `localv4` model provider (Responses API) given as `-c` settings on its command line.

Nothing is written to ~/.codex: every setting is a one-run override. Its calls home (update
check, analytics, feedback, plugin and app sync) are switched off the same way.
"""

from __future__ import annotations

import json
from pathlib import Path

from localv4.agents.base import KEY_ENV, AgentSetup, AgentTarget

# localv4's reasoning modes in Codex's words (Codex has no "max": its highest is xhigh).
EFFORT = {"off": "none", "high": "high", "max": "xhigh"}
OFF_FEATURES = ("plugins", "remote_plugin", "apps", "api_key_model_discovery", "skill_search",
                "in_app_updates")
COMPACT_AT = 0.8  # compact the conversation at 80% of the context, before the engine refuses it


def _toml(value: object) -> str:
    return json.dumps(value)  # a JSON string or number is a TOML one too


class Codex:
    name = "codex"
    title = "Codex CLI"
    program = "codex"
    install = "npm install -g @openai/codex"
    api = "responses"
    calls_tools = True

    def setup(self, target: AgentTarget, folder: Path) -> AgentSetup:
        provider = (f"{{name = {_toml('localv4')}, base_url = {_toml(target.endpoint.v1_url)}, "
                    f"env_key = {_toml(KEY_ENV)}, wire_api = \"responses\"}}")
        settings = {
            "model_provider": _toml("localv4"),
            "model_providers.localv4": provider,
            "model": _toml(target.endpoint.model_id),
            "model_context_window": str(target.context),
            "model_auto_compact_token_limit": str(int(target.context * COMPACT_AT)),
            "check_for_update_on_startup": "false",
            "analytics.enabled": "false",
            "feedback.enabled": "false",
            **{f"features.{name}": "false" for name in OFF_FEATURES},
        }
        if target.reasoning is not None:
            settings["model_reasoning_effort"] = _toml(EFFORT[target.reasoning])
        argv = [self.program]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        return AgentSetup(argv=tuple(argv), key_env=(KEY_ENV,))

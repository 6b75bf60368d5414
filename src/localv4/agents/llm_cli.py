"""simonw's `llm`: the served model in an extra-openai-models.yaml of localv4's own.

llm reads that file only from its user folder, so LLM_USER_PATH points at localv4's folder for
this agent (its keys and logs there too); the user's own llm folder is not touched. LLM_MODEL
makes the served model the default of `llm`, `llm chat` and the rest.
"""

from __future__ import annotations

import json
from pathlib import Path

from localv4.agents.base import AgentSetup, AgentTarget

KEY_NAME = "localv4"


class LlmCli:
    name = "llm"
    title = "llm"
    program = "llm"
    install = "pipx install llm"
    api = "chat"
    calls_tools = False  # only when a prompt passes tools

    def setup(self, target: AgentTarget, folder: Path) -> AgentSetup:
        endpoint = target.endpoint
        lines = [
            f"- model_id: {json.dumps(endpoint.model_id)}",
            f"  model_name: {json.dumps(endpoint.model_id)}",
            f"  api_base: {json.dumps(endpoint.v1_url)}",
            "  can_stream: true",
            "  supports_tools: true",
        ]
        key_env: tuple[str, ...] = ()
        if endpoint.api_key is not None:  # llm then reads it from OPENAI_API_KEY (keys.json has none)
            lines.append(f"  api_key_name: {KEY_NAME}")
            key_env = ("OPENAI_API_KEY",)
        path = folder / "extra-openai-models.yaml"
        env = {"LLM_USER_PATH": str(folder), "LLM_MODEL": endpoint.model_id}
        return AgentSetup(argv=(self.program,), env=env, key_env=key_env,
                          files={path: "\n".join(lines) + "\n"})

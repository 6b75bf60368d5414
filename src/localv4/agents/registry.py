"""Every agent `localv4 launch` knows, by name."""

from __future__ import annotations

from localv4.agents.aider import Aider
from localv4.agents.base import Agent
from localv4.agents.claude_code import ClaudeCode
from localv4.agents.codex import Codex
from localv4.agents.llm_cli import LlmCli
from localv4.agents.opencode import Opencode

AGENTS: dict[str, Agent] = {a.name: a for a in (ClaudeCode(), Codex(), Opencode(), Aider(), LlmCli())}
NAMES = tuple(AGENTS)

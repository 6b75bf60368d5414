"""What every agent module shares: the endpoint it is pointed at, and the setup it gets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from localv4.serve.endpoint import Endpoint

# Agents refuse an empty key even where the endpoint needs none: they get this placeholder.
PLACEHOLDER_KEY = "localv4"
# The variable the OpenAI-speaking agents read the endpoint's key from (set for the agent's
# process only; localv4 itself never reads it).
KEY_ENV = "LOCALV4_API_KEY"


@dataclass(frozen=True)
class AgentTarget:
    """The running endpoint as an agent needs it: the endpoint, and what the agent is set up for."""

    endpoint: Endpoint  # its URLs, the served model id, its key (None: it needs none)
    context: int  # tokens the engine holds per request
    reasoning: str | None = None  # off | high | max: what the agent should ask for; None: its default

    @property
    def key_or_placeholder(self) -> str:
        return self.endpoint.api_key or PLACEHOLDER_KEY


@dataclass(frozen=True)
class AgentSetup:
    """How one agent is run against an endpoint; nothing here is a secret."""

    argv: tuple[str, ...]  # the program and localv4's settings; the user's ARGS follow
    env: Mapping[str, str] = field(default_factory=dict)
    defaults: Mapping[str, str] = field(default_factory=dict)  # env the user's own environment may override
    key_env: tuple[str, ...] = ()  # variables that get the endpoint's key (shown by name only)
    files: Mapping[Path, str] = field(default_factory=dict)  # localv4's own config files, written first


class Agent(Protocol):
    name: str  # what `localv4 launch NAME` takes
    title: str
    program: str  # the executable looked up on PATH
    install: str  # the command that installs it
    api: str  # "anthropic" | "chat" | "responses": the route it speaks
    calls_tools: bool  # needs the engine to parse the model's tool calls

    def setup(self, target: AgentTarget, folder: Path) -> AgentSetup:
        """The setup for `target`; `folder` is localv4's own config folder for this agent."""

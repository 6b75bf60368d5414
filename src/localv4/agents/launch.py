"""`localv4 launch AGENT`: the endpoint (started as `up` would when none runs), the agent's setup
for it, and the agent run with the user's own arguments.

Checked before anything slow: the agent's name, that it is installed, and that the engine serves
what the agent speaks (an agent that calls tools needs an engine that parses tool calls).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from typing import TYPE_CHECKING

from localv4.agents.base import Agent, AgentSetup, AgentTarget
from localv4.errors import RuntimeFailure, UsageError
from localv4.recipes import ModelSpec, VariantRef, load_catalog
from localv4.serve.engines.base import Capabilities

if TYPE_CHECKING:
    from localv4.flow import UpOptions
    from localv4.hardware.profile import Hardware
    from localv4.planning.values import Plan
    from localv4.serve.api import CheckedServe

ROUTES = {"anthropic": "Anthropic Messages (/v1/messages)", "responses": "the Responses API (/v1/responses)",
          "chat": "chat completions (/v1/chat/completions)"}


@dataclass(frozen=True)
class Launch:
    """One agent, ready to run against one endpoint."""

    agent: Agent
    target: AgentTarget
    setup: AgentSetup
    running: bool  # False: nothing serves yet (`--config` shows what `up` would start)
    blocked: str = ""  # not running: why `launch` would stop before starting it here now ("": it would start)


def get_agent(name: str) -> Agent:
    from localv4.agents.registry import AGENTS, NAMES

    if name not in AGENTS:
        raise UsageError(f"unknown agent '{name}': use one of {', '.join(NAMES)}.")
    return AGENTS[name]


def check_reasoning(mode: str | None, named: str | None, running: ModelSpec | None) -> str | None:
    """`mode` against the recipe of the model launched: the one named, else the one running, else
    the default model (what `up` would start)."""
    if mode is not None:
        from localv4.serve.engines import policy

        policy.check_reasoning(running if running and not named else load_catalog().recipe(named).model, mode)
    return mode


def require_installed(agent: Agent) -> str:
    found = shutil.which(agent.program)
    if found is None:
        raise RuntimeFailure(f"{agent.title} is not installed (no `{agent.program}` on PATH): `{agent.install}`.")
    return found


def tool_calls_line(backend: str) -> str:
    """What `up` says on an engine that leaves tool calls as the model's raw text."""
    return (f"{backend} does not turn DeepSeek's DSML tool calls into the API's tool calls, so agents "
            "would get raw DSML: tool calls need the llama.cpp engine (`localv4 up --variant` a GGUF "
            "variant, on llama-server).")


def refusal(agent: Agent, backend: str, capabilities: Capabilities) -> str | None:
    """Why `agent` cannot work on this engine (one line), or None."""
    if agent.calls_tools and not capabilities.tool_calls:
        return f"{agent.title} calls tools, and {tool_calls_line(backend)}"
    served = {"anthropic": capabilities.anthropic_messages, "responses": capabilities.responses, "chat": True}
    if not served[agent.api]:
        return (f"{agent.title} speaks {ROUTES[agent.api]}, which {backend} does not serve: serve the model "
                "on the native llama-server first (`localv4 down`, then `localv4 up --backend llama-server`), "
                "then launch again.")
    return None


def _check(agent: Agent, backend: str) -> None:
    from localv4.serve.engines import registry

    reason = refusal(agent, backend, registry.get(backend).capabilities)
    if reason:
        raise RuntimeFailure(reason)


def _folder(agent: Agent):
    from localv4.paths import config_dir

    return config_dir() / "agents" / agent.name


def serves(running_variant: str, model: str | None, variant: str | None) -> bool:
    """Whether the engine's "recipe:variant" is the model and variant asked for (None: any)."""
    running = VariantRef.parse(running_variant)
    if model is not None and running.model != model:
        return False
    return variant is None or variant in (running_variant, running.variant)


def prepare(name: str, reasoning: str | None = None, start: bool = True,
            on_event: Callable[[object], None] = lambda _: None,
            model: str | None = None, variant: str | None = None) -> Launch:
    """The agent's setup for the running endpoint; with `start`, starts it first when none runs
    (without, the endpoint `up` would start: for `--config`). `model` and `variant` choose what
    starts, as `up --model/--variant` would; a running engine serving something else is refused."""
    from localv4 import flow
    from localv4.serve import api

    agent = get_agent(name)
    current = api.status()
    running = current.server if current.state in ("running", "loading") else None
    named = (VariantRef.parse(variant).model if variant else None) or model
    check_reasoning(reasoning, named, running.plan.model if running else None)
    if start:
        require_installed(agent)
    if running is not None and not serves(running.variant, model, variant):
        raise RuntimeFailure(f"the endpoint already serves {current.server.variant}: `localv4 down` first, "
                             "or launch without --model/--variant to use it.")
    if current.state not in ("running", "loading"):
        options = flow.UpOptions(variant=variant, model=model, serve=api.ServeOptions(reasoning=reasoning))
        checked = options.serve.check()
        if not start:
            return _unstarted(agent, options, checked, reasoning)
        from localv4.hardware import detect

        hw = detect()
        _check_engine(agent, flow.make_plan(options, hw=hw), hw, checked)  # before any download
        flow.up(options, on_event)
    live = api.serving()
    _check(agent, live.server.backend)
    return _launch(agent, AgentTarget(live.endpoint, live.server.context, reasoning), running=True)


def _check_engine(agent: Agent, plan: Plan, hw: Hardware, checked: CheckedServe) -> None:
    """Refuse an engine `agent` cannot use; with no engine here, the line `up` gives (the install
    command), since `launch` has no --backend to suggest."""
    from localv4 import flow

    _check(agent, flow.check_engine(plan, hw, checked).backend)


def _unstarted(agent: Agent, options: UpOptions, checked: CheckedServe, reasoning: str | None) -> Launch:
    """`--config` with nothing running: the endpoint `up` would start. Where no plan or engine is
    possible here yet, still what would be set (without a plan: the recipe's served name and
    smallest context), and why `launch` would stop: the settings are worth seeing before then."""
    from localv4 import flow
    from localv4.hardware import detect
    from localv4.serve import ports
    from localv4.serve.endpoint import Endpoint

    model, context, blocked = flow.request_of(options).recipe.model, None, ""
    try:
        hw = detect()
        plan = flow.make_plan(options, hw=hw)
        model, context = plan.model, plan.context
        _check_engine(agent, plan, hw, checked)
    except RuntimeFailure as err:
        blocked = str(err).rstrip(".") + "."
        if context is None:
            blocked += " The context shown is the model's smallest; a plan sets the real one."
    endpoint = Endpoint(options.serve.host, ports.DEFAULT_PORT, model.served_name)
    target = AgentTarget(endpoint, context or model.min_context, reasoning)
    return _launch(agent, target, running=False, blocked=blocked)


def _launch(agent: Agent, target: AgentTarget, running: bool, blocked: str = "") -> Launch:
    return Launch(agent, target, agent.setup(target, _folder(agent)), running, blocked)


def describe(launch: Launch, args: Sequence[str] = ()) -> list[str]:
    """What `launch` would set, as lines for `--config`: never the key, only where it is."""
    import shlex

    agent, target, setup = launch.agent, launch.target, launch.setup
    endpoint = target.endpoint
    lines = [f"{agent.title} -> {endpoint.base_url} (model {endpoint.model_id}, context {target.context:,} "
             f"tokens, {ROUTES[agent.api]})"]
    if launch.blocked:
        lines.append(f"  nothing is running, and `localv4 launch` would stop before starting it: {launch.blocked}")
    elif not launch.running:
        lines.append("  (nothing is running: `localv4 launch` starts this endpoint first, as `localv4 up` would)")
    for key, value in setup.env.items():
        lines.append(f"  env   {key}={shlex.quote(value)}")
    for key, value in setup.defaults.items():
        lines.append(f"  env   {key}={shlex.quote(value)} (unless you set it)")
    for key in setup.key_env:
        where = (f"the endpoint's key, read from {endpoint.key_file} (not shown)" if endpoint.key_file
                 else f"{target.key_or_placeholder} (a placeholder: this endpoint needs no key)")
        lines.append(f"  env   {key}=<{where}>")
    for path, text in setup.files.items():
        lines.append(f"  file  {path} (localv4's own; written before each launch):")
        lines += [f"        {line}" for line in text.splitlines()]
    lines.append(f"  run   {shlex.join([*setup.argv, *args])}")
    return lines


def write_files(setup: AgentSetup) -> None:
    from localv4.storage import write_atomic

    for path, text in setup.files.items():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(path, text, mode=0o600)


def run(launch: Launch, args: Sequence[str] = ()) -> int:
    """Run the agent in the foreground with the user's `args`; its exit code."""
    program = require_installed(launch.agent)
    setup = launch.setup
    write_files(setup)
    env = {**setup.defaults, **os.environ, **setup.env}
    env.update({name: launch.target.key_or_placeholder for name in setup.key_env})
    child = subprocess.Popen([program, *setup.argv[1:], *args], env=env)
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:  # the agent got the Ctrl-C too: it decides how to end
            continue

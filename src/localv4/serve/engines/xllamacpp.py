"""The prebuilt llama.cpp engine: llama.cpp's own server from xllamacpp's wheel, no compiler needed.

It runs through `localv4.serve.engines.xllamacpp_launch`, which takes llama-server's flag names, so
its command comes from the same builder as the native server's (`llama_server.server_args`): the
plan's context, KV type, placement (`-ngl`, `--n-cpu-moe` as tensor overrides), draft, reasoning
mode and key file mean the same on both. It answers llama-server's routes (`/health`,
`/v1/chat/completions`, `/v1/messages`, `/v1/responses`, `/completion`, `/slots`, `/metrics`).
What it lacks: an rpc-server (pools keep the native build), `--fit` (the plan places every layer),
and the engine's own flags after `--` (the launcher takes only the flags localv4 sets).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from localv4.errors import RuntimeFailure
from localv4.planning.values import Plan
from localv4.serve.engines import llama_server, xllamacpp_launch
from localv4.serve.engines.base import Capabilities, EngineCommand, EngineInputs

NAME = "xllamacpp"
LAUNCHER = "localv4.serve.engines.xllamacpp_launch"
_GPU_PLACEMENTS = frozenset({"gpu", "hybrid", "unified"})


@dataclass(frozen=True)
class _Launcher:
    """The launcher as `llama_server.server_args` sees a program: the llama-server flags it takes."""

    path: str = f"python -m {LAUNCHER}"

    def supports(self, flag: str) -> bool:
        return flag in xllamacpp_launch.FLAGS


def find():
    """The pinned xllamacpp localv4 can run (an install.prebuilt.PrebuiltEngine), else None."""
    from localv4.install.prebuilt import find_prebuilt

    return find_prebuilt()


def command_for(engine, inputs: EngineInputs) -> EngineCommand:
    """The launcher's command for this engine (a PrebuiltEngine) and these inputs."""
    site = ["--site", str(engine.site)] if engine.site else []
    argv = (sys.executable, "-m", LAUNCHER, *site, "--", *llama_server.server_args(_Launcher(), inputs))
    return EngineCommand(backend=NAME, argv=argv, health_path="/health")


class Xllamacpp:
    """llama.cpp's server from PyPI's wheel: every route and draft of the native build, no pools."""

    name = NAME
    engine = "llama.cpp"
    capabilities = Capabilities(
        formats=frozenset({"gguf"}), hybrid=True, tool_calls=True, speculative=True,
        anthropic_messages=True, responses=True, installable=True, parallel=True,
    )

    def unavailable(self, plan: Plan) -> str | None:
        engine = find()
        if engine is None:
            from localv4.install.prebuilt import other_version
            from localv4.pins import XLLAMACPP_VERSION

            other = other_version()
            found = f" (this Python has xllamacpp {other})" if other else ""
            return (f"the prebuilt llama.cpp engine (xllamacpp {XLLAMACPP_VERSION}) is not installed{found}: "
                    f"run `localv4 install xllamacpp`")
        if engine.flavour == "cpu" and plan.placement in _GPU_PLACEMENTS:
            return (f"the prebuilt engine here is PyPI's CPU wheel, and this plan puts weights on a GPU "
                    f"({plan.placement}): `localv4 install llama.cpp` builds llama-server for the GPU "
                    f"(xllamacpp's GPU wheels are on its publisher's own index)")
        return None

    def command(self, inputs: EngineInputs) -> EngineCommand:
        engine = find()
        if engine is None:
            raise RuntimeFailure(self.unavailable(inputs.plan) + ".")
        return command_for(engine, inputs)

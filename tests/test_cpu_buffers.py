"""When llama.cpp must keep CPU-held weights as loaded (no AMX, no online repack): deepseek4
always at the pinned tree, any model on a CPU that reports AMX (planner.AMX_CRASHES). The plan
decides from the hardware; each llama.cpp backend turns it into its own switch. On this
development machine (a Xeon reporting AMX-INT8) the engine tests fail without it: SIGILL in
tinygemm_kernel_amx, and for the tiny V4 `GGML_ASSERT(*cur_backend_id != -1)` at load."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from localv4.planning import machine as planner
from localv4.recipes import load_catalog
from localv4.serve.engines import llama_cpp_python, llama_server
from localv4.serve.engines.base import EngineInputs
from support.machines import machine

V4 = load_catalog().recipe("deepseek-v4-flash-0731")


def _with_features(name: str, *features: str):
    return replace(machine(name), cpu_features=features)


def test_a_cpu_that_reports_amx_gets_a_plan_without_extra_buffers_and_is_told_why():
    amx = planner.plan(_with_features("h200-141gb", "AMX", "AMX-INT8", "AVX-512"), V4)
    assert amx.cpu_extra_buffers is False and planner.AMX_CRASHES in amx.advice
    assert amx.to_dict()["cpu_extra_buffers"] is False
    plain = planner.plan(_with_features("h200-141gb", "AVX-512", "AVX2"), V4)
    assert plain.cpu_extra_buffers is True and planner.AMX_CRASHES not in plain.advice


def _argv(backend, plan) -> list[str]:
    inputs = EngineInputs(plan, Path("/models/x.gguf"), "127.0.0.1", 8484, None, None)
    return list(backend(inputs).argv)


def test_each_llama_cpp_backend_keeps_weights_as_loaded_when_the_plan_says_or_for_deepseek4(
        native_server, gemma_plan):
    binary = llama_server.find(gemma_plan.model.arch_llama_cpp)
    server = lambda inputs: llama_server.command_for(binary, inputs)  # noqa: E731
    gemma = replace(gemma_plan, cpu_extra_buffers=True)
    assert "--no-repack" not in _argv(server, gemma)
    assert "--no-repack" in _argv(server, replace(gemma, cpu_extra_buffers=False))
    v4 = planner.plan(_with_features("h200-141gb", "AVX-512"), V4)
    assert v4.cpu_extra_buffers and "--no-repack" in _argv(server, v4)  # deepseek4 on any CPU

    python = llama_cpp_python._command
    assert "--weights-as-loaded" not in _argv(python, gemma)
    argv = _argv(python, replace(gemma, cpu_extra_buffers=False))
    assert argv.index("--weights-as-loaded") < argv.index("--")  # the launcher's own flag


def test_the_launcher_switches_off_llama_cpps_extra_buffer_types():
    pytest.importorskip("llama_cpp")
    import subprocess
    import sys

    code = ("from localv4.serve.engines import llama_cpp_python_launch as l; l.keep_weights_as_loaded(); "
            "import llama_cpp.llama as m; print(m.llama_cpp.llama_model_default_params().use_extra_bufts)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr

"""The engine's word before the download: a plan is projected by llama-fit-params on the GGUF
headers alone, fetched with range requests from the (fake) hub, and changed where it disagrees.

Needs the native build (with llama-fit-params) and the split tiny V4 (the pinned converter's
`--split-max-tensors`); both are made in CI."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import run_cli
from support.gemma_serving import native_server  # noqa: F401  (fixture)
from support.hubserver import FakeHub
from support.tiny_v4 import REPO_NAMESPACE, maker, recipe_text, tiny_v4_split_paths

from localv4.install.layout import FIT_PARAMS_NAME
from localv4.install.locate import find_llama_server
from localv4.paths import user_recipes_dir
from localv4.weights.gguf_header import read_header
from localv4.weights.headers import header_length

RECIPE = "tiny-v4-split"


@pytest.fixture()
def fit_tool(native_server: Path) -> Path:
    """llama-fit-params beside the native llama-server (on PATH for the CLI), or skip."""
    tool = native_server.resolve().parent / FIT_PARAMS_NAME
    if not tool.is_file():
        pytest.skip("the native build predates llama-fit-params: `localv4 install llama.cpp --cpu --force`")
    return tool


@pytest.fixture(scope="module")
def split_hub_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    parts = tiny_v4_split_paths()
    root = tmp_path_factory.mktemp("hub")
    repo = root / REPO_NAMESPACE / "split-GGUF"
    repo.mkdir(parents=True)
    for part in parts:
        os.link(part, repo / part.name)
    return root


def _recipe() -> str:
    """The tiny V4's test recipe (its constants are the tiny build's own) with its variant as the
    3-part split on the hub."""
    parts = tiny_v4_split_paths()
    name = maker().Build("preview", "test").name
    text = recipe_text(sum(p.stat().st_size for p in parts), recipe_id=RECIPE, served=RECIPE)
    text = re.sub(r'(?m)^repo = ".*-GGUF"$', f'repo = "{REPO_NAMESPACE}/split-GGUF"', text)
    text = re.sub(r'(?m)^layout = ".*"$', f'layout = "{name}-{{part:05d}}-of-{{parts:05d}}.gguf"', text)
    return text.replace("parts = 1", f"parts = {len(parts)}")


def test_header_reads_end_exactly_where_the_tensor_data_begins() -> None:
    """Every range asked for ends inside the header: 0 bytes of tensor data, for each split part."""
    for part in tiny_v4_split_paths():
        data = part.read_bytes()
        asked: list[tuple[int, int]] = []

        def read(start: int, end: int) -> bytes:
            asked.append((start, end))
            return data[start:end]

        header, data_start = header_length(read)
        assert max(end for _, end in asked) == len(header) <= data_start
        assert data[:len(header)] == header
        tensors = read_header(part).tensors
        assert tensors and data_start == len(data) - sum(t.size_bytes for t in tensors)


def _plan(hub: FakeHub, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "LOCALV4_ENGINE_CHECK": "on"}
    return run_cli("plan", RECIPE, "--ctx", "4096", *args, "--json", env=env)


def test_plan_is_engine_checked_from_headers_alone_and_a_second_plan_fetches_nothing(
        split_hub_root: Path, fit_tool: Path) -> None:
    (user_recipes_dir()).mkdir(parents=True, exist_ok=True)
    (user_recipes_dir() / f"{RECIPE}.toml").write_text(_recipe())
    size = sum(p.stat().st_size for p in tiny_v4_split_paths())
    with FakeHub(split_hub_root) as hub:
        done = _plan(hub)
        assert done.returncode == 0, done.stderr
        import json

        check = json.loads(done.stdout)["plan"]["engine_check"]
        assert check["checked"], check
        host = next(d for d in check["devices"] if d["device"] == "Host")
        assert host["model"] > 0.9 * size  # the whole model projected, from its headers
        served = hub.served_bytes("*.gguf")
        tensor_bytes = sum(p.stat().st_size - _data_start(p) for p in tiny_v4_split_paths())
        assert served == check["fetched_bytes"] == sum(_header_bytes(p) for p in tiny_v4_split_paths())
        assert served < 0.01 * size and served <= size - tensor_bytes  # under 1%, no tensor byte
        again = _plan(hub)
        assert json.loads(again.stdout)["plan"]["engine_check"]["fetched_bytes"] == 0
        assert hub.served_bytes("*.gguf") == served  # nothing more from the hub


def _header_bytes(part: Path) -> int:
    data = part.read_bytes()
    return len(header_length(lambda a, b: data[a:b])[0])


def _data_start(part: Path) -> int:
    data = part.read_bytes()
    return header_length(lambda a, b: data[a:b])[1]


def test_projection_matches_the_engine_at_a_real_load_within_5_percent(split_hub_root: Path, fit_tool: Path) -> None:
    """The Host row projected from the stand-ins against llama.cpp's own memory breakdown when
    llama-server loads the real file with the same flags (printed at exit)."""
    (user_recipes_dir()).mkdir(parents=True, exist_ok=True)
    (user_recipes_dir() / f"{RECIPE}.toml").write_text(_recipe())
    import json

    with FakeHub(split_hub_root) as hub:
        check = json.loads(_plan(hub).stdout)["plan"]["engine_check"]
    projected = next(d for d in check["devices"] if d["device"] == "Host")
    loaded = _breakdown_at_load(tiny_v4_split_paths()[0], 4096)
    for part in ("model", "context", "compute"):
        assert abs(projected[part] - loaded[part]) <= 0.05 * loaded[part] + 2**20, (part, projected, loaded)


def _breakdown_at_load(gguf: Path, ctx: int) -> dict[str, int]:
    """Run llama-server on the file, stop it, and read the Host row of the memory breakdown it
    prints at exit (common_memory_breakdown_print, a trace-level table: `-lv 4`)."""
    import signal
    import time

    from support.ports import free_port

    server = find_llama_server()
    assert server is not None
    port = free_port()
    proc = subprocess.Popen([str(server.path), "-m", str(gguf), "-c", str(ctx), "--port", str(port), "-ngl", "0",
                             "--parallel", "1", "-lv", "4"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace")
    import urllib.request

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    row = re.search(r"\|\s*- Host\s*\|\s*(\d+) =\s*(\d+) \+\s*(\d+) \+\s*(\d+)", out)
    assert row, out[-3000:]
    return {"model": int(row.group(2)) << 20, "context": int(row.group(3)) << 20, "compute": int(row.group(4)) << 20}


def test_a_plan_the_estimate_fits_but_the_engine_does_not_is_changed_before_the_download(
        split_hub_root: Path, fit_tool: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine with 1.2 GB of RAM to give: the estimate (which does not know the compute
    buffers grow with the context) picks a long context; the engine projects more than that for
    it, so the plan is made again, shorter, and checked again. Nothing is downloaded: the hub
    served headers only."""
    from dataclasses import replace

    from localv4.hardware import detect
    from localv4.planning import machine
    from localv4.planning.memory import RAM_HEADROOM
    from localv4.recipes import load_catalog
    from localv4.serve.projection import engine_checked

    monkeypatch.setenv("LOCALV4_ENGINE_CHECK", "on")
    (user_recipes_dir()).mkdir(parents=True, exist_ok=True)
    (user_recipes_dir() / f"{RECIPE}.toml").write_text(_recipe())
    recipe = load_catalog().recipe(RECIPE)
    hw = replace(detect(), ram_available=RAM_HEADROOM + 1_200_000_000)

    def plan_for(machine_hw, ctx=None):
        return machine.plan(machine_hw, recipe, ctx=ctx)

    estimated = plan_for(hw)
    with FakeHub(split_hub_root) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        checked = engine_checked(estimated, hw, plan_for)
        assert hub.served_bytes("*.gguf") == sum(_header_bytes(p) for p in tiny_v4_split_paths())
    assert checked.context < estimated.context
    check = checked.engine_check
    assert check is not None and check.checked
    host = next(d for d in check.devices if d.device == "Host")
    assert host.total <= 1_200_000_000  # the engine's own figure fits what the machine gives
    assert f"the engine projected Q8_0 at {estimated.context:,} tokens over RAM by" in check.note


def test_without_an_engine_offline_or_for_a_profile_the_plan_says_it_is_the_estimate(
        split_hub_root: Path, tmp_path: Path) -> None:
    """One line each, and the plan is the estimate's: no engine here; the hub unreachable with no
    headers kept; a saved profile (its devices are elsewhere)."""
    import json

    (user_recipes_dir()).mkdir(parents=True, exist_ok=True)
    (user_recipes_dir() / f"{RECIPE}.toml").write_text(_recipe())
    no_engine = {**os.environ, "LOCALV4_ENGINE_CHECK": "on", "PATH": str(tmp_path)}
    done = run_cli("plan", RECIPE, "--json", env=no_engine)
    assert json.loads(done.stdout)["plan"]["engine_check"]["note"] == (
        "not engine-checked: no llama.cpp engine with llama-fit-params here (`localv4 install llama.cpp`); "
        "the memory is the estimate")
    profile = tmp_path / "box.json"
    profile.write_text(run_cli("doctor", "--json").stdout)
    done = run_cli("plan", RECIPE, "--hardware", str(profile), "--json", env={**os.environ, "LOCALV4_ENGINE_CHECK": "on"})
    assert json.loads(done.stdout)["plan"]["engine_check"]["note"].startswith(
        "not engine-checked: a saved profile's devices are not here to project on")


def test_offline_with_no_headers_kept_the_plan_is_the_estimate(fit_tool: Path) -> None:
    import json

    (user_recipes_dir()).mkdir(parents=True, exist_ok=True)
    (user_recipes_dir() / f"{RECIPE}.toml").write_text(_recipe())
    env = {**os.environ, "LOCALV4_ENGINE_CHECK": "on", "HF_HUB_OFFLINE": "1"}
    note = json.loads(run_cli("plan", RECIPE, "--json", env=env).stdout)["plan"]["engine_check"]["note"]
    assert note == ("not engine-checked: the headers cannot be fetched (HF_HUB_OFFLINE is set) and none are kept; "
                    "the memory is the estimate")


def test_a_plan_with_a_dspark_draft_fetches_its_header_and_says_how_it_is_counted(fit_tool: Path, tmp_path: Path) -> None:
    """The tiny V4 0731 and its DSpark draft, each from its headers. The pinned build cannot make a
    DSpark draft's context without its target (`dflash`), so the plan says its share stays the
    estimate's (and counts it against the budget)."""
    import json

    from support import tiny_v4
    from support.tiny_v4 import DRAFT_REPO, recipe_with_draft

    gguf, draft = tiny_v4.tiny_v4_gguf_path("0731"), tiny_v4.tiny_v4_dspark_path()
    for repo, path in ((f"{REPO_NAMESPACE}/{gguf.stem}-GGUF", gguf), (DRAFT_REPO, draft)):
        (tmp_path / repo).mkdir(parents=True)
        os.link(path, tmp_path / repo / path.name)
    user_recipes_dir().mkdir(parents=True, exist_ok=True)
    (user_recipes_dir() / f"{tiny_v4.RECIPE_ID}.toml").write_text(
        recipe_with_draft(gguf.stat().st_size, draft.stat().st_size))
    with FakeHub(tmp_path) as hub:
        env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "LOCALV4_ENGINE_CHECK": "on"}
        done = run_cli("plan", tiny_v4.RECIPE_ID, "--ctx", "4096", "--json", env=env)
        assert done.returncode == 0, done.stderr
        plan = json.loads(done.stdout)["plan"]
        assert plan["draft"] is not None
        check = plan["engine_check"]
        assert check["checked"] and not any(d["draft"] for d in check["devices"])
        assert "the dspark draft cannot be projected without its target by this build: its share is the " \
               "estimate's" in check["note"]
        assert hub.served_bytes("*DSpark*") == _header_bytes(draft)  # its header only, all the same


def test_an_engine_figure_over_one_gpu_is_taken_from_that_gpu_and_the_plan_moves_experts() -> None:
    """On a recorded RTX 5090 box (hybrid), a projection 3 GB over the GPU's budget: the plan is
    made again for a GPU with 3 GB less, which keeps more layers' experts in RAM."""
    from dataclasses import replace

    from support.machines import machine

    from localv4.planning import machine as planner
    from localv4.planning.engine_check import overrun, with_less_memory
    from localv4.planning.memory import gpu_budgets, ram_budget
    from localv4.planning.values import DeviceProjection, EngineCheck
    from localv4.recipes import load_catalog

    hw = machine("rtx5090-192gb")
    recipe = load_catalog().recipe()
    plan = planner.plan(hw, recipe, speculative=False, parallel=1)
    assert plan.placement == "hybrid"
    gpu = DeviceProjection("CUDA0", model=gpu_budgets(hw)[0] + 3 * 10**9, context=0, compute=0)
    host = DeviceProjection("Host", model=ram_budget(hw) // 2, context=0, compute=0)
    over = overrun(plan, hw, EngineCheck(devices=(gpu, host)))
    assert over is not None and over.gpus == (3 * 10**9,) and over.host == 0
    assert over.describe() == "GPU 0 by 3.0 GB"
    again = planner.plan(with_less_memory(hw, over), recipe, variant=plan.variant, ctx=plan.context,
                         speculative=False, parallel=1)
    assert again.n_cpu_moe > plan.n_cpu_moe
    assert overrun(plan, hw, EngineCheck(devices=(replace(gpu, model=gpu_budgets(hw)[0]), host))) is None


def test_up_plans_through_the_same_check_before_it_pulls(split_hub_root: Path, fit_tool: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`up`'s plan (flow.make_plan) is engine-checked from the headers: nothing else is fetched."""
    from localv4.flow import UpOptions, make_plan

    (user_recipes_dir()).mkdir(parents=True, exist_ok=True)
    (user_recipes_dir() / f"{RECIPE}.toml").write_text(_recipe())
    monkeypatch.setenv("LOCALV4_ENGINE_CHECK", "on")
    with FakeHub(split_hub_root) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        plan = make_plan(UpOptions(model=RECIPE, ctx=8192))
        assert hub.served_bytes("*.gguf") == sum(_header_bytes(p) for p in tiny_v4_split_paths())
    assert plan.context == 8192 and plan.engine_check is not None and plan.engine_check.checked

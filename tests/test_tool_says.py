"""What the tool says to a newcomer (issue 24): the plan table whole in 80 and 100 columns, titles
and verdicts that name the right thing, `--json` where reporting commands take it, `launch --config`
without a plan, and every usage mistake answered in one line with exit 2."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path

from rich.cells import cell_len

from conftest import run_cli
from localv4.hardware.profile import GIB
from support import pool
from support.hidden_package import env_without
from support.machines import machine

DEMO = "qwen2.5-0.5b"
NEEDS_BUILD = "serving a pool needs a llama-server with RPC on this host: `localv4 install llama.cpp` builds it"


def _profile(tmp_path: Path, name: str, **changes) -> str:
    """A recorded machine saved as `doctor --json` saves one, for `plan --hardware`."""
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(dataclasses.replace(machine(name), **changes).to_dict()))
    return str(path)


def _table(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    return lines[lines.index(next(line for line in lines if line.startswith("┏"))):
                 lines.index(next(line for line in lines if line.startswith("└"))) + 1]


def _headers(table: list[str]) -> list[str]:
    """Each column's header, its lines joined ("max ctx")."""
    rows = [line for line in table if line.startswith("┃")]
    cells = [[cell.strip() for cell in row.strip("┃").split("┃")] for row in rows]
    return [" ".join(part for part in column if part) for column in zip(*cells)]


def test_plan_table_is_whole_at_80_columns_with_the_notes_below(tmp_path: Path):
    for name in ("cpu-only-24gb", "mac-studio-m4-max-128"):
        done = run_cli("plan", "--hardware", _profile(tmp_path, name), env={"COLUMNS": "80"})
        table = _table(done.stdout)
        assert all(cell_len(line) <= 80 for line in done.stdout.splitlines()), done.stdout
        assert "…" not in done.stdout
        assert table[0].endswith("┓") and table[-1].endswith("┘")  # the right border is there
        assert _headers(table) == ["variant", "format", "size", "fits", "placement", "max ctx", "est. tok/s"]
        assert [cell_len(line) for line in table] == [len(table[0])] * len(table)
    assert "  mlx-2.4bit-mixed: unconfirmed: pick it with --variant" in done.stdout.splitlines()
    small = run_cli("plan", "--hardware", _profile(tmp_path, "cpu-only-24gb"), env={"COLUMNS": "80"})
    assert "  mlx-2.4bit-mixed: MLX is for Apple Silicon" in small.stdout.splitlines()
    assert any(line.startswith("  UD-IQ1_S: short by ") and line.endswith(" GB") for line in small.stdout.splitlines())


def test_plan_table_wraps_its_notes_in_their_column_at_100_columns(tmp_path: Path):
    done = run_cli("plan", "--hardware", _profile(tmp_path, "cpu-only-24gb"), env={"COLUMNS": "100"})
    table = _table(done.stdout)
    assert _headers(table)[-1] == "note" and table[0].endswith("┓")
    assert all(cell_len(line) <= 100 for line in done.stdout.splitlines()) and "…" not in done.stdout
    notes = [line.rsplit("│", 2)[1].strip() for line in table if line.startswith("│")]
    assert "MLX is for Apple Silicon" in " ".join(notes)
    assert any(note.startswith("short by ") and note.endswith(" GB") for note in notes)


def test_plan_is_titled_by_the_recipe_s_model():
    done = run_cli("plan", "--model", DEMO)
    assert done.stdout.splitlines()[0].startswith("Qwen2.5 0.5B Instruct (demo) variants on ")
    assert "DeepSeek" not in done.stdout


def test_an_mlx_variant_off_a_mac_is_told_where_mlx_runs_and_the_gguf_that_fits(tmp_path: Path):
    box = _profile(tmp_path, "cpu-only-24gb", ram_total=93 * GIB, ram_available=85 * GIB)
    done = run_cli("plan", "--hardware", box, "--variant", "mlx-2.4bit-mixed")
    assert done.returncode == 1
    verdict = [line for line in done.stdout.splitlines() if line.startswith("Verdict:")]
    assert verdict == ["Verdict: mlx-2.4bit-mixed is an MLX variant, and MLX runs on Apple Silicon; the GGUF "
                       "variant UD-IQ1_S fits this machine: `localv4 up --variant deepseek-v4-flash-0731:UD-IQ1_S`"]
    assert "Ways out" not in done.stdout and "RPC" not in done.stdout


def test_install_dry_run_takes_json():
    done = run_cli("install", "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["engine"] == "all" and report["actions"] and all(isinstance(a, str) for a in report["actions"])
    alone = run_cli("install", "--json")
    assert alone.returncode == 2
    assert alone.stderr == "localv4: --json goes with --dry-run: an install shows its progress on the terminal.\n"


def _huge_recipe() -> str:
    """A recipe no machine holds: `launch --config` can plan nothing for it anywhere."""
    from localv4.paths import user_recipes_dir

    text = (Path(__file__).resolve().parents[1] / "recipes" / "qwen2.5-0.5b-instruct.toml").read_text()
    text = (text.replace("demo = true", "").replace('id = "qwen2.5-0.5b"', 'id = "huge-test"')
            .replace('served_name = "qwen2.5-0.5b-instruct"', 'served_name = "huge-test-instruct"'))
    text = re.sub(r"size_bytes = [\d_]+", "size_bytes = 900_000_000_000_000", text)
    user_recipes_dir().mkdir(parents=True, exist_ok=True)
    (user_recipes_dir() / "huge-test.toml").write_text(text)
    return "huge-test"


def test_launch_config_says_what_it_would_set_without_a_plan():
    done = run_cli("launch", "codex", "--model", _huge_recipe(), "--config")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == ("Codex CLI -> http://127.0.0.1:8484 (model huge-test-instruct, context 2,048 tokens, "
                        "the Responses API (/v1/responses))")
    assert lines[1].startswith("  nothing is running, and `localv4 launch` would stop before starting it: nothing fits: ")
    assert lines[1].endswith("The context shown is the model's smallest; a plan sets the real one.")
    assert lines[-1].startswith("  run   codex ") and "model_context_window=2048" in lines[-1]


def test_launch_without_an_engine_gives_the_install_line_not_a_backend_flag(tmp_path: Path):
    engines = env_without(tmp_path / "site", "llama-cpp-python", "llama_cpp", ("xllamacpp", "xllamacpp"))
    env = {**engines, "PATH": str(tmp_path),  # no Python engine, no llama-server, no finished build
           "LOCALV4_BUILD_CACHE": str(tmp_path / "empty-cache")}
    done = run_cli("launch", "llm", "--model", DEMO, "--config", env=env)
    assert done.returncode == 0, done.stderr
    # `install xllamacpp` where PyPI's wheel serves the plan (a CPU-only Linux machine), else `install llama.cpp`
    assert re.search(r"would stop before starting it: no llama.cpp engine here serves this model: run "
                     r"`localv4 install (xllamacpp|llama\.cpp)`", done.stdout), done.stdout
    assert "--backend" not in done.stdout


def test_launch_refusals_name_up_s_backend_flag_not_launch_s():
    from localv4.agents.launch import get_agent, refusal
    from localv4.serve.engines.base import Capabilities

    line = refusal(get_agent("claude"), "llama-cpp-python", Capabilities(formats=frozenset({"gguf"}), tool_calls=True))
    assert line.endswith("(`localv4 down`, then `localv4 up --backend llama-server`), then launch again.")


def test_launch_refuses_an_option_it_does_not_know_before_the_dashes():
    done = run_cli("launch", "codex", "--confg")
    assert done.returncode == 2 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("localv4: No such option: --confg (did you mean --config?); the agent's own arguments "
                           "go after `--` (see `")
    after = run_cli("launch", "llm", "--model", DEMO, "--config", "--", "-o", "max_tokens", "4")
    assert after.stdout.splitlines()[-1] == "  run   llm -o max_tokens 4"


def test_plan_pool_plans_from_the_workers_reports_without_a_build(tmp_path: Path):
    host = _profile(tmp_path, "rtx4090-64gb")
    with pool.stand_in_worker(machine("laptop-64gb-handwritten").to_dict()) as endpoint:
        table = run_cli("plan", "--hardware", host, "--pool", endpoint, env={"PATH": str(tmp_path)})
        report = run_cli("plan", "--hardware", host, "--pool", endpoint, "--json", env={"PATH": str(tmp_path)})
    assert table.returncode == 0, table.stderr
    assert "pooled over several machines" in table.stdout
    assert f"  tip: {NEEDS_BUILD} (this plan comes from the workers' own reports)." in table.stdout
    plan = json.loads(report.stdout)["plan"]
    assert plan["placement"] == "pool" and plan["pool"]["workers"] == [endpoint]
    assert f"{NEEDS_BUILD} (this plan comes from the workers' own reports)." in plan["advice"]


def test_doctor_fails_on_folders_that_cannot_be_written_with_the_fix(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {"LOCALV4_HOME": str(blocker / "localv4"), "HF_HOME": str(blocker / "hf")}
    done = run_cli("doctor", "--model", DEMO, "--json", env=env)
    assert done.returncode == 1, done.stderr
    checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    assert checks["disk"]["status"] == "fail" and "GB free" not in checks["disk"]["detail"]
    assert checks["disk"]["detail"] == (f"the Hugging Face cache {blocker}/hf/hub cannot take weights: "
                                        f"{blocker} is a file, not a folder")
    assert checks["disk"]["fix"] == "set HF_HOME to a folder you can write to"
    assert checks["folders"]["status"] == "fail" and checks["folders"]["fix"] == "set LOCALV4_HOME to a folder you can write to"
    for command in ("logs", "models", "status"):
        said = run_cli(command, env={"LOCALV4_HOME": str(blocker / "localv4")})
        assert said.returncode == 1 and said.stdout == "", command
        assert said.stderr.startswith(f"localv4: cannot write {blocker}/localv4/") and "LOCALV4_HOME" in said.stderr
        assert f": {blocker} is a file, not a folder; " in said.stderr, said.stderr


def test_doctor_exits_0_on_warnings_alone(tmp_path: Path):
    done = run_cli("doctor", "--model", DEMO, "--json", env={"PATH": str(tmp_path)})  # no llama-server, no hub: warnings
    report = json.loads(done.stdout)
    assert any(c["status"] == "warn" for c in report["checks"])
    assert not any(c["status"] == "fail" for c in report["checks"]), report["checks"]
    assert done.returncode == 0


def test_up_ui_port_0_is_a_usage_error_before_anything_slow():
    started = time.monotonic()
    done = run_cli("up", "--ui-port", "0")
    assert done.returncode == 2 and done.stderr == "localv4: --ui-port must be a number from 1 to 65535 (got '0').\n"
    alone = run_cli("up", "--ui-port", "3001")
    assert alone.returncode == 2
    assert alone.stderr == "localv4: --ui-port goes with --ui: `localv4 up --ui --ui-port N` starts Open WebUI there.\n"
    assert time.monotonic() - started < 20  # no planning, no probing


def test_fix_lines_install_where_localv4_runs_not_with_a_bare_pip(monkeypatch):
    """Under the README's pipx, a bare `pip install X` changes another Python: every fix line that
    installs a package says `pipx inject localv4 X` there (localv4.fixes)."""
    import sys

    from localv4.serve.logs import failure_cause
    from localv4.tray.pystray_app import gtk_hint

    monkeypatch.setattr(sys, "prefix", "/home/ada/.local/share/pipx/venvs/localv4")
    assert "`pipx inject localv4 --pip-args=--upgrade mlx-lm mlx-vlm` for MLX" in failure_cause(
        ["unknown model architecture: 'deepseek4'"], 1)
    assert gtk_hint().startswith("the tray menu needs GTK for Python: `pipx inject localv4 PyGObject` (")


def test_the_readme_s_download_figures_are_the_catalog_s():
    """The README's download range, draft and demo size, held to the recipes they describe."""
    from localv4.recipes import load_catalog

    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    catalog = load_catalog()
    sizes = [v.size_bytes / 1e9 for v in catalog.recipe().variants]
    drafts = {round(v.draft.size_bytes / 1e9) for v in catalog.recipe().variants if v.draft}
    demo = min(v.size_bytes for v in catalog.demo.variants) / 1e6
    assert (f"an {min(sizes):.0f}-{max(sizes):.0f} GB download (plus about {max(drafts)} GB for the "
            "speculative draft") in readme
    assert f"serves a {demo:.0f} MB demo model" in readme

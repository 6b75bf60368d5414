"""The checked layer over other libraries' internals, and what the MLX launcher does through it."""

from __future__ import annotations

import importlib

import pytest

from localv4 import doctor
from localv4.internals import InternalsMoved, Target, check, get, installed_version, replace


def test_every_target_the_launchers_use_exists_in_the_installed_releases() -> None:
    targets = doctor.internals_targets()
    present = {package: t for package, t in targets.items() if installed_version(package)}
    assert "huggingface-hub" in present  # a core dependency: always checked
    assert check([t for group in present.values() for t in group]) == []
    shown = doctor.check_internals()
    assert shown.status == "ok" and all(f"{p} {installed_version(p)}" in shown.detail for p in present)


def test_a_moved_target_fails_loudly_naming_package_version_and_range() -> None:
    moved = Target("huggingface-hub", "huggingface_hub.utils._shared_blobs", "sweep_blobs_renamed")
    with pytest.raises(InternalsMoved) as caught:
        get(moved)
    message = str(caught.value)
    assert f"huggingface-hub {installed_version('huggingface-hub')} has no" in message
    assert "localv4 supports huggingface-hub >=2.4,<3" in message
    assert "pip install 'huggingface-hub>=2.4,<3'" in message
    with pytest.raises(InternalsMoved, match="no sweep_blobs_renamed"):
        replace(moved, lambda: None)  # a replacement never creates the name silently
    assert check([moved]) == [message]


def test_a_missing_module_or_mapping_entry_is_the_same_loud_error() -> None:
    assert "cannot import" in check([Target("mlx-vlm", "mlx_vlm.server.nowhere", "x")])[0]
    fields = Target("llama-cpp-python", "llama_cpp.server.types", "CreateChatCompletionRequest.model_fields",
                    "temperature_renamed")
    pytest.importorskip("llama_cpp.server.types")
    assert "no entry 'temperature_renamed'" in check([fields])[0]


def test_replace_swaps_the_real_attribute_and_returns_the_old_one() -> None:
    module = importlib.import_module("localv4.units")
    target = Target("huggingface-hub", "localv4.units", "format_gb")  # any real attribute will do
    original = get(target)
    try:
        assert replace(target, len) is original and module.format_gb is len
    finally:
        replace(target, original)


def test_the_plans_wired_limit_holds_against_later_calls(capfd: pytest.CaptureFixture[str]) -> None:
    """mlx-lm sets the whole recommended working set around each generation; the cap wins."""
    mx = pytest.importorskip("mlx.core")
    from localv4.serve.engines import mlx_launch

    original = mx.set_wired_limit
    try:
        mlx_launch.hold_wired_limit(64 * 2**30)
        mx.set_wired_limit(512 * 2**30)  # what a server asks later, through MLX's own module
        log = capfd.readouterr().err.splitlines()
    finally:
        mx.set_wired_limit = original
    assert log == [
        f"localv4: Metal wired limit in force: {64 * 2**30} bytes (asked {64 * 2**30}, plan's cap {64 * 2**30})",
        f"localv4: Metal wired limit in force: {64 * 2**30} bytes (asked {512 * 2**30}, plan's cap {64 * 2**30})",
    ]


def test_the_mlx_lm_key_check_is_constant_time_and_exact() -> None:
    from localv4.serve.engines.mlx_launch import key_matches

    assert key_matches("Bearer s3cret", "s3cret")
    assert not key_matches("Bearer s3cre", "s3cret") and not key_matches(None, "s3cret")
    assert not key_matches("Bearer s3cret ", "s3cret") and not key_matches("s3cret", "s3cret")

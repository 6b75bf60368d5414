"""Serving N users at once (`--parallel N`): the KV for N sequences, the speed each one and all of
them get, and the default number of slots on this machine.

The slots split the context, they do not share it: the engine runs with N times the plan's
context and unified KV off, so each request gets the plan's context and the KV cache holds N
sequences of it. For DeepSeek V4 that is what unified KV costs anyway: the pinned llama.cpp keeps
its compressed KV caches and compressor state per sequence even in unified mode
(llama-kv-cache-dsv4.cpp: "Keep DSV4 KV/state streams per sequence even when public KV mode is
unified"). So the planner budgets N times the per-sequence caches and state, and one compute
buffer at the plan's context.

Speed (an estimate): decode is bandwidth-bound, and one batched step serves every slot; it reads
the dense weights once, and the routed experts of N tokens, which grow with N until every expert
is read. Each user gets one token per step, so the total rises while the per-user speed falls.
"""

from __future__ import annotations

from dataclasses import replace

from localv4.hardware.profile import GB, Hardware
from localv4.planning.memory import bytes_per_token, dense_bytes, resident_bytes
from localv4.planning.values import PLACEMENTS, Plan, SpeedEstimate
from localv4.recipes import KvCacheCost, ModelSpec, Variant

TEAM_SLOTS = 4  # the default on a machine a team shares, where they cost one user nothing
TEAM_GPU_BYTES = 80 * GB  # a data-centre GPU (H100 80 GB and up), or more than one GPU


def for_slots(model: ModelSpec, slots: int) -> ModelSpec:
    """The model as the planner sees it with `slots` sequences: each KV cost's per-sequence part
    (caches and compressor state) counted once per slot; the compute buffer once."""
    if slots == 1:
        return model

    def scaled(cost: KvCacheCost) -> KvCacheCost:
        return replace(cost, fixed_bytes=cost.fixed_bytes * slots, per_token_bytes=cost.per_token_bytes * slots)

    return replace(model, runtime_overhead_bytes=model.runtime_overhead_bytes * slots,
                   kv_bytes_per_token=model.kv_bytes_per_token * slots,
                   quantized_kv=tuple(scaled(c) for c in model.quantized_kv))


def step_share(model: ModelSpec, variant: Variant, slots: int) -> float:
    """One stream's bytes per token over the bytes a batched step of `slots` tokens reads: the
    share of the single-stream speed each user keeps."""
    dense, routed = bytes_per_token(model, variant)
    experts = resident_bytes(model, variant) - dense_bytes(model, variant)
    return (dense + routed) / (dense + min(experts, routed * slots))


def per_user(speed: SpeedEstimate, model: ModelSpec, variant: Variant, slots: int) -> SpeedEstimate:
    """The speed each of `slots` users gets when all decode at once (the estimate's basis says so)."""
    if slots == 1:
        return speed
    share = step_share(model, variant, slots)
    return SpeedEstimate(speed.low * share, speed.high * share,
                         f"{speed.basis}; per user with {slots} decoding at once: one batched step reads "
                         f"the dense weights once and the routed experts of {slots} tokens ({share:.0%} of "
                         "one stream's speed each)")


def total(speed: SpeedEstimate, slots: int) -> SpeedEstimate:
    """All users together: `slots` times the per-user estimate."""
    return SpeedEstimate(speed.low * slots, speed.high * slots, f"{slots} users x the per-user estimate")


def team_machine(hw: Hardware) -> bool:
    """A machine a team shares: more than one discrete GPU, or one of data-centre size."""
    gpus = hw.discrete_gpus
    return len(gpus) > 1 or any(g.memory_total >= TEAM_GPU_BYTES for g in gpus)


def why_one_slot(single: Plan, team: Plan | None) -> str:
    """On a team's machine, the advice line that says why the default is one slot: TEAM_SLOTS
    would cost the variant, its placement, KV type or draft, or the context one user gets ("" where
    they cost none)."""
    kept = ("variant", "placement", "kv_type", "draft")
    if team is None or any(getattr(team, k) != getattr(single, k) for k in kept):
        return (f"1 slot by default, as memory is tight: {TEAM_SLOTS} slots would not keep {single.variant.id} "
                f"{PLACEMENTS[single.placement]} with this KV cache and draft; a second request waits for the first.")
    if team.context >= single.context:
        return ""
    assert team.total_speed is not None
    return (f"1 slot by default, as memory is tight for more at {single.context // 1024}K: `--parallel "
            f"{TEAM_SLOTS}` serves {TEAM_SLOTS} users at once with {team.context // 1024}K context each, "
            f"~{team.speed.span()} tok/s each, ~{team.total_speed.span()} tok/s in all (estimates).")


def team_note(team: Plan) -> str:
    """The advice line that says why the default is TEAM_SLOTS slots, and what they give."""
    assert team.total_speed is not None
    return (f"{team.parallel} slots by default (a machine a team shares, with room for {team.parallel} "
            f"{team.context // 1024}K contexts): ~{team.speed.span()} tok/s each, ~{team.total_speed.span()} "
            "tok/s in all (estimates); `--parallel 1` gives one user the whole speed and context.")

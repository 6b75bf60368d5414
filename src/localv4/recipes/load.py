"""Recipes from their TOML files: the built-in ones (shipped in the wheel, or the repository's
recipes/ in a source checkout) and the user's `<config dir>/recipes/`, which override them by
model id. A recipe may `extends` another: its model table over the parent's, and its series may
take a parent series' variants (`same_variants_as`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from localv4.errors import UsageError
from localv4.paths import user_recipes_dir
from localv4.recipes.reader import Reader, read_toml
from localv4.recipes.schema import (
    DEFAULT_DECODE_EFFICIENCY, DRAFT_KINDS, FORMATS, KV_TYPES, STATUSES, Draft, DraftSpeedup, KvCacheCost,
    ModelSpec, Recipe, Variant,
)

# Where the wheel puts the repository's recipes/ (pyproject.toml's force-include).
PACKAGED = Path(__file__).parent / "builtin"


def builtin_recipes_dir() -> Path:
    """Recipes shipped in the wheel, or the repository's recipes/ in a source checkout."""
    return PACKAGED if PACKAGED.is_dir() else Path(__file__).resolve().parents[3] / "recipes"


def _model_spec(r: Reader) -> ModelSpec:
    sampling, arch = r.sub("sampling"), r.sub("architecture")
    modes = tuple(r.get("reasoning_modes", list))
    return ModelSpec(
        id=r.get("id", str),
        name=r.get("name", str),
        served_name=r.get("served_name", str),
        hf_repo=r.get("hf_repo", str, ""),
        total_params=r.positive("total_params"),
        active_params=r.positive("active_params"),
        dense_params=r.positive("dense_params"),
        active_routed_params=r.get("active_routed_params", int, 0),
        dense_bits_per_weight=r.get("dense_bits_per_weight", float),
        layers=r.positive("layers"),
        max_context=r.positive("max_context"),
        min_context=r.positive("min_context"),
        preferred_min_context=r.positive("preferred_min_context"),
        kv_bytes_per_token=r.positive("kv_bytes_per_token"),
        kv_source=r.get("kv_source", str),
        runtime_overhead_bytes=r.get("runtime_overhead_bytes", int),
        reasoning_modes=modes,
        default_reasoning=r.choice("default_reasoning", modes) if modes else "off",
        think_max_min_context=r.get("think_max_min_context", int, 0),
        temperature=sampling.get("temperature", float),
        top_p=sampling.get("top_p", float),
        arch_llama_cpp=arch.get("llama_cpp", str),
        arch_mlx=arch.get("mlx", str),
        decode_efficiency=_efficiency(r.sub("decode_efficiency")) if "decode_efficiency" in r.table
        else DEFAULT_DECODE_EFFICIENCY,
        compute_buffer=_points(r, "compute_buffer"),
        quantized_kv=tuple(_kv_cost(Reader(r.source, t, f"{r.where}kv_cache[{i}]."))
                           for i, t in enumerate(r.get("kv_cache", list, []))),
        hash_layers=r.get("hash_layers", int, 0),
        mapped_params=r.get("mapped_params", int, 0),
        mapped_source=r.get("mapped_source", str, ""),
    )


def _kv_cost(r: Reader) -> KvCacheCost:
    return KvCacheCost(type=r.choice("type", KV_TYPES[1:]), fixed_bytes=r.positive("fixed_bytes"),
                       per_token_bytes=r.positive("per_token_bytes"), compute=_points(r, "compute_buffer"))


def _points(r: Reader, name: str) -> tuple[tuple[int, int], ...]:
    """[[context, bytes], ...] with contexts ascending."""
    raw = r.get(name, list, [])
    ok = all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, int) and x > 0 for x in p) for p in raw)
    if not ok or [p[0] for p in raw] != sorted({p[0] for p in raw}):
        raise r.fail(name, "must be [[context, bytes], ...] with positive integers, contexts ascending")
    return tuple((p[0], p[1]) for p in raw)


def _efficiency(r: Reader) -> dict[str, tuple[float, float]]:
    ranges = {}
    for placement in ("unified", "gpu", "hybrid", "cpu"):
        pair = r.get(placement, list)
        if len(pair) != 2 or not all(isinstance(x, (int, float)) and 0 < x <= 1 for x in pair):
            raise r.fail(placement, "must be [low, high], fractions between 0 and 1")
        ranges[placement] = (float(pair[0]), float(pair[1]))
    return ranges


def _needs(series: Reader, status: str) -> str:
    """A "needs-engine" series says which engine it needs (and where that stands); no other does."""
    needs = series.get("needs", str, "")
    if (status == "needs-engine") != bool(needs):
        raise series.fail("needs", 'must say which engine a status = "needs-engine" series needs, '
                                   "and only there")
    return needs


def _variant(r: Reader, series: Reader, recipe_id: str) -> Variant:
    fmt = series.choice("format", FORMATS)
    vid = r.get("id", str)
    status = series.choice("status", STATUSES, "confirmed")
    if fmt == "gguf":
        parts = r.positive("parts", 1)
        layout = series.get("layout", str)
        files = tuple(layout.format(quant=vid, part=i, parts=parts) for i in range(1, parts + 1))
        entry: str | None = files[0]
    else:
        files = tuple(series.get("include", list))
        entry = None
    return Variant(
        id=vid,
        recipe_id=recipe_id,
        format=fmt,
        repo=r.get("repo", str, None) or series.get("repo", str),
        revision=r.get("revision", str, None) or series.get("revision", str, "main"),
        size_bytes=r.positive("size_bytes"),
        bits_per_weight=r.get("bits_per_weight", float),
        quality=r.get("quality", int),
        status=status,
        needs=_needs(series, status),
        note=r.get("note", str, ""),
        files=files,
        entry=entry,
        draft=_draft(series.sub("draft"), series) if "draft" in series.table else None,
    )


def _draft(r: Reader, series: Reader) -> Draft:
    fmt = series.choice("format", FORMATS)
    if fmt == "mlx":
        include = r.get("include", list)
        if not include or not all(isinstance(p, str) and p for p in include):
            raise r.fail("include", "must list the draft folder's files (config, index, tokenizer)")
        tensors = r.get("tensors", str, None)
        if tensors is not None and "model.safetensors.index.json" not in include:
            raise r.fail("include", "must name model.safetensors.index.json: `tensors` picks shards from it")
        file, placed = "", {"include": tuple(include), "tensors": tensors}
    else:
        file, placed = r.get("file", str), {}
    return Draft(
        kind=r.choice("kind", DRAFT_KINDS),
        repo=r.get("repo", str, None) or series.get("repo", str),
        revision=r.get("revision", str, "main"),
        file=file,
        size_bytes=r.positive("size_bytes"),
        size_verified=r.get("size_verified", bool),
        layers=r.positive("layers"),
        source=r.get("source", str),
        format=fmt,
        speedup=_speedup(r.sub("speedup")) if "speedup" in r.table else None,
        **placed,
    )


def _speedup(r: Reader) -> DraftSpeedup:
    """[series.draft.speedup]: low <= high, each a factor over decoding without the draft."""
    low, high = r.get("low", (int, float)), r.get("high", (int, float))
    if not 1 <= low <= high:
        raise r.fail("low", "must be 1 or more, and at most 'high' (factors over decoding without the draft)")
    return DraftSpeedup(float(low), float(high), r.get("source", str))


def _merge_parent(raw: dict[str, Any], path: Path, parent: dict[str, Any]) -> dict[str, Any]:
    """Apply `extends`: the child's model table over the parent's; series by `same_variants_as`."""
    merged = dict(raw)
    merged["model"] = {**parent.get("model", {}), **raw.get("model", {})}
    parent_series = {s.get("id"): s for s in parent.get("series", [])}
    series = []
    for i, s in enumerate(raw.get("series", [])):
        source = s.get("same_variants_as")
        if source is not None:
            if source not in parent_series:
                raise UsageError(
                    f"recipe {path}: field 'series[{i}].same_variants_as' names unknown series "
                    f"'{source}'. Fix or remove the file."
                )
            s = {**s, "variants": parent_series[source].get("variants", [])}
        series.append(s)
    merged["series"] = series
    return merged


def parse_recipe(path: Path, raw: dict[str, Any]) -> Recipe:
    root = Reader(path, raw, "")
    model = _model_spec(root.sub("model"))
    variants: list[Variant] = []
    for i, series_raw in enumerate(root.get("series", list)):
        if not isinstance(series_raw, dict):
            raise root.fail(f"series[{i}]", "must be a table")
        series = Reader(path, series_raw, f"series[{i}].")
        for j, v in enumerate(series.get("variants", list)):
            if not isinstance(v, dict):
                raise series.fail(f"variants[{j}]", "must be a table")
            variants.append(_variant(Reader(path, v, f"series[{i}].variants[{j}]."), series, model.id))
    if not variants:
        raise root.fail("series", "lists no variants")
    return Recipe(model=model, variants=tuple(variants), source=path, demo=root.get("demo", bool, False))


def load_recipes(dirs: list[Path] | None = None) -> dict[str, Recipe]:
    """All recipes by model id; later directories (the user's) override earlier ones."""
    raws: dict[str, tuple[Path, dict[str, Any]]] = {}
    for directory in dirs if dirs is not None else [builtin_recipes_dir(), user_recipes_dir()]:
        for path in sorted(directory.glob("*.toml")) if directory.is_dir() else []:
            raw = read_toml(path)
            model_id = raw.get("model", {}).get("id") if isinstance(raw.get("model"), dict) else None
            if not isinstance(model_id, str):
                raise UsageError(f"recipe {path}: field 'model.id' is missing. Fix or remove the file.")
            raws[model_id] = (path, raw)
    recipes = {}
    for model_id, (path, raw) in raws.items():
        parent_id = raw.get("extends")
        if parent_id is not None:
            if parent_id not in raws:
                raise UsageError(
                    f"recipe {path}: field 'extends' names unknown recipe '{parent_id}'. "
                    "Fix or remove the file."
                )
            raw = _merge_parent(raw, path, raws[parent_id][1])
        recipes[model_id] = parse_recipe(path, raw)
    return recipes

"""Model recipes: the TOML files that describe a model and its published quantizations.

Recipes are data. The built-in ones ship in the package (recipes/ at the repository root); a
user adds or overrides one by dropping a TOML file into `<config dir>/recipes/`. A malformed
recipe is reported as one line naming the file and the field.
"""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from localv4.errors import UsageError
from localv4.paths import user_recipes_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_MODEL = "deepseek-v4-flash-0731"  # the official release; its memory is measured (docs/memory.md)
FORMATS = ("gguf", "mlx")
STATUSES = ("confirmed", "unconfirmed")
# For recipes without their own calibration: the share of the bandwidth bound engines typically
# reach, per placement (low, high). The V4-Flash recipe carries its own, from reported runs.
DEFAULT_DECODE_EFFICIENCY = {
    "unified": (0.3, 0.6), "gpu": (0.15, 0.35), "hybrid": (0.25, 0.6), "cpu": (0.1, 0.3),
}


DRAFT_KINDS = {"dspark": "draft-dspark", "mtp": "draft-mtp"}  # recipe kind -> llama-server --spec-type
MLX_DRAFT_KINDS = {"dspark": "dflash", "mtp": "mtp"}  # recipe kind -> mlx-vlm's --draft-kind


@dataclass(frozen=True)
class Draft:
    """The small model a variant decodes speculatively with (a DSpark draft or an MTP head GGUF).

    A GGUF series names one `file`. An MLX series names a folder: the `include` patterns (config,
    index, tokenizer) and, with `tensors`, the safetensors shards that hold the tensors named so
    (DeepSeek's own checkpoint, whose `mtp.*` stages mlx-vlm's DSpark drafter reads) as the
    repo's index maps them: `pull` reads the index first and fetches only those shards.

    `size_verified` False: the size is a planning figure, not read from the hub here; `pull`
    fetches the real files (exact size and sha256 from the hub) and the plan budgets this figure."""

    kind: str  # a key of DRAFT_KINDS
    repo: str
    revision: str
    file: str  # GGUF: exact name or a glob pattern, relative to the repo root; MLX: ""
    size_bytes: int
    size_verified: bool
    layers: int  # transformer blocks it runs: its KV cache is this share of the model's
    source: str  # where the repo, file and size come from
    format: str = "gguf"  # the series' format: "gguf" (one file) or "mlx" (a folder)
    include: tuple[str, ...] = ()  # MLX: the folder's files besides the shards, patterns
    tensors: str | None = None  # MLX: a tensor-name prefix ("mtp."): the shards holding them

    @property
    def spec_type(self) -> str:
        """How the engine names this kind: llama-server's --spec-type, or mlx-vlm's --draft-kind."""
        return (MLX_DRAFT_KINDS if self.format == "mlx" else DRAFT_KINDS)[self.kind]

    def as_variant(self, recipe_id: str) -> Variant:
        """The draft as a variant (one GGUF file, or an MLX folder with the shards that hold its
        tensors), so `pull` and `locate` treat it like any weights."""
        if self.format == "mlx":
            return Variant(id=f"draft-{self.kind}-mlx", recipe_id=recipe_id, format="mlx", repo=self.repo,
                           revision=self.revision, size_bytes=self.size_bytes, bits_per_weight=0.0,
                           quality=0, status="confirmed", note=self.source, files=self.include,
                           entry=None, shards_with=self.tensors)
        return Variant(id=f"draft-{self.kind}", recipe_id=recipe_id, format="gguf", repo=self.repo,
                       revision=self.revision, size_bytes=self.size_bytes, bits_per_weight=0.0,
                       quality=0, status="confirmed", note=self.source, files=(self.file,),
                       entry=self.file)


@dataclass(frozen=True)
class Variant:
    """One published quantization: what to fetch and what it costs in memory."""

    id: str
    recipe_id: str
    format: str  # "gguf" (llama.cpp) or "mlx"
    repo: str
    revision: str
    size_bytes: int
    bits_per_weight: float
    quality: int  # higher is closer to the original weights
    status: str  # "confirmed": known to load in a released engine; "unconfirmed": not yet
    note: str
    files: tuple[str, ...]  # exact file names or glob patterns, relative to the repo root
    entry: str | None  # GGUF: the (first) file the engine opens; MLX: None, the folder is the model
    draft: Draft | None = None  # what speculative decoding drafts with, where the series names one
    # MLX only: also the safetensors shards holding tensors whose names start with this, as the
    # repo's model.safetensors.index.json (one of `files`) maps them; None: `files` is all of it
    shards_with: str | None = None

    @property
    def qualified_id(self) -> str:
        return f"{self.recipe_id}:{self.id}"

    @property
    def engine_family(self) -> str:
        return "llama.cpp" if self.format == "gguf" else "mlx"


# KV cache types a plan may choose, as llama.cpp names them (-ctk/-ctv); f16 is the default.
KV_TYPES = ("f16", "q8_0", "q4_0")


@dataclass(frozen=True)
class KvCacheCost:
    """Runtime memory beyond the weights with one KV cache type, as the engine reported it:
    caches and compressor state grow by `per_token_bytes` over `fixed_bytes`; the compute buffer
    is the measured (context, bytes) points, interpolated between them (it is not a straight line:
    flat while the layer activations dominate, then growing with the indexer's scores)."""

    type: str
    fixed_bytes: int
    per_token_bytes: int
    compute: tuple[tuple[int, int], ...] = ()  # (context, bytes), contexts ascending

    def compute_bytes(self, context: int) -> int:
        points = self.compute
        if not points:
            return 0
        if context <= points[0][0]:
            return points[0][1]
        for (c0, b0), (c1, b1) in zip(points, points[1:]):
            if context <= c1 or (c1, b1) == points[-1]:
                return round(b0 + (b1 - b0) * (context - c0) / (c1 - c0))
        return points[-1][1]

    def runtime_bytes(self, context: int) -> int:
        return self.fixed_bytes + self.per_token_bytes * context + self.compute_bytes(context)


@dataclass(frozen=True)
class ModelSpec:
    """The model constants the planner and the engines need."""

    id: str
    name: str
    served_name: str
    hf_repo: str
    total_params: int
    active_params: int
    dense_params: int
    active_routed_params: int
    dense_bits_per_weight: float
    layers: int
    max_context: int
    min_context: int
    preferred_min_context: int
    kv_bytes_per_token: int
    kv_source: str
    runtime_overhead_bytes: int
    reasoning_modes: tuple[str, ...]
    default_reasoning: str
    think_max_min_context: int
    temperature: float
    top_p: float
    arch_llama_cpp: str
    arch_mlx: str
    decode_efficiency: dict[str, tuple[float, float]]  # placement -> (low, high) share of the bound
    compute_buffer: tuple[tuple[int, int], ...] = ()  # f16: measured (context, bytes)
    quantized_kv: tuple[KvCacheCost, ...] = ()  # measured costs of the other KV types the engine takes
    hash_layers: int = 0  # the first N MoE layers route experts by token id (config num_hash_layers)

    def kv_cost(self, kv_type: str = "f16") -> KvCacheCost:
        """f16 is kv_bytes_per_token, runtime_overhead_bytes and compute_buffer; the others are
        the recipe's [[model.kv_cache]] entries."""
        if kv_type == "f16":
            return KvCacheCost("f16", self.runtime_overhead_bytes, self.kv_bytes_per_token, self.compute_buffer)
        return next(c for c in self.quantized_kv if c.type == kv_type)

    @property
    def kv_types(self) -> tuple[str, ...]:
        return ("f16", *(c.type for c in self.quantized_kv))


@dataclass(frozen=True)
class Recipe:
    model: ModelSpec
    variants: tuple[Variant, ...]
    source: Path

    @property
    def id(self) -> str:
        return self.model.id

    def variant(self, variant_id: str) -> Variant:
        for v in self.variants:
            if v.id.lower() == variant_id.lower():
                return v
        hint = difflib.get_close_matches(variant_id, [v.id for v in self.variants], n=3)
        also = f" Did you mean {', '.join(hint)}?" if hint else ""
        raise UsageError(
            f"unknown variant '{variant_id}' for {self.id}.{also} "
            f"Run `localv4 plan` to list them."
        )


def builtin_recipes_dir() -> Path:
    """Recipes shipped in the wheel, or the repository's recipes/ in a source checkout."""
    packaged = Path(__file__).parent / "recipes"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "recipes"


class _Reader:
    """Typed access to a TOML table that names the file and field on any error."""

    def __init__(self, source: Path, table: dict[str, Any], where: str) -> None:
        self.source, self.table, self.where = source, table, where

    def fail(self, name: str, problem: str) -> UsageError:
        return UsageError(
            f"recipe {self.source}: field '{self.where}{name}' {problem}. Fix or remove the file."
        )

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if name not in self.table:
            if default is ...:
                raise self.fail(name, "is missing")
            return default
        value = self.table[name]
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, float))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(name, f"must be {expected}, not {type(value).__name__}")
        return value

    def positive(self, name: str, default: Any = ...) -> int:
        value = self.get(name, int, default)
        if value is not None and value <= 0:
            raise self.fail(name, "must be positive")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: Any = ...) -> str:
        value = self.get(name, str, default)
        if value not in choices:
            raise self.fail(name, f"must be one of {', '.join(choices)}")
        return value

    def sub(self, name: str, where: str | None = None) -> _Reader:
        return _Reader(self.source, self.get(name, dict), where or f"{self.where}{name}.")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"recipe {path}: not valid TOML ({err}). Fix or remove the file.") from None
    except OSError as err:
        raise UsageError(f"recipe {path}: cannot be read ({err.strerror}).") from None


def _model_spec(r: _Reader) -> ModelSpec:
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
        quantized_kv=tuple(_kv_cost(_Reader(r.source, t, f"{r.where}kv_cache[{i}]."))
                           for i, t in enumerate(r.get("kv_cache", list, []))),
        hash_layers=r.get("hash_layers", int, 0),
    )


def _kv_cost(r: _Reader) -> KvCacheCost:
    return KvCacheCost(type=r.choice("type", KV_TYPES[1:]), fixed_bytes=r.positive("fixed_bytes"),
                       per_token_bytes=r.positive("per_token_bytes"), compute=_points(r, "compute_buffer"))


def _points(r: _Reader, name: str) -> tuple[tuple[int, int], ...]:
    """[[context, bytes], ...] with contexts ascending."""
    raw = r.get(name, list, [])
    ok = all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, int) and x > 0 for x in p) for p in raw)
    if not ok or [p[0] for p in raw] != sorted({p[0] for p in raw}):
        raise r.fail(name, "must be [[context, bytes], ...] with positive integers, contexts ascending")
    return tuple((p[0], p[1]) for p in raw)


def _efficiency(r: _Reader) -> dict[str, tuple[float, float]]:
    ranges = {}
    for placement in ("unified", "gpu", "hybrid", "cpu"):
        pair = r.get(placement, list)
        if len(pair) != 2 or not all(isinstance(x, (int, float)) and 0 < x <= 1 for x in pair):
            raise r.fail(placement, "must be [low, high], fractions between 0 and 1")
        ranges[placement] = (float(pair[0]), float(pair[1]))
    return ranges


def _variant(r: _Reader, series: _Reader, recipe_id: str) -> Variant:
    fmt = series.choice("format", FORMATS)
    vid = r.get("id", str)
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
        status=series.choice("status", STATUSES, "confirmed"),
        note=r.get("note", str, ""),
        files=files,
        entry=entry,
        draft=_draft(series.sub("draft"), series) if "draft" in series.table else None,
    )


def _draft(r: _Reader, series: _Reader) -> Draft:
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
        kind=r.choice("kind", tuple(DRAFT_KINDS)),
        repo=r.get("repo", str, None) or series.get("repo", str),
        revision=r.get("revision", str, "main"),
        file=file,
        size_bytes=r.positive("size_bytes"),
        size_verified=r.get("size_verified", bool),
        layers=r.positive("layers"),
        source=r.get("source", str),
        format=fmt,
        **placed,
    )


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
    root = _Reader(path, raw, "")
    model = _model_spec(root.sub("model"))
    variants: list[Variant] = []
    for i, series_raw in enumerate(root.get("series", list)):
        if not isinstance(series_raw, dict):
            raise root.fail(f"series[{i}]", "must be a table")
        series = _Reader(path, series_raw, f"series[{i}].")
        for j, v in enumerate(series.get("variants", list)):
            if not isinstance(v, dict):
                raise series.fail(f"variants[{j}]", "must be a table")
            variants.append(_variant(_Reader(path, v, f"series[{i}].variants[{j}]."), series, model.id))
    if not variants:
        raise root.fail("series", "lists no variants")
    return Recipe(model=model, variants=tuple(variants), source=path)


def load_recipes(dirs: list[Path] | None = None) -> dict[str, Recipe]:
    """All recipes by model id; later directories (the user's) override earlier ones."""
    raws: dict[str, tuple[Path, dict[str, Any]]] = {}
    for directory in dirs if dirs is not None else [builtin_recipes_dir(), user_recipes_dir()]:
        for path in sorted(directory.glob("*.toml")) if directory.is_dir() else []:
            raw = _read_toml(path)
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


@dataclass(frozen=True)
class Catalog:
    """The loaded recipes, and name lookups the commands share."""

    recipes: dict[str, Recipe]

    def recipe(self, model: str | None = None) -> Recipe:
        model = model or DEFAULT_MODEL
        if model in self.recipes:
            return self.recipes[model]
        raise UsageError(
            f"unknown model '{model}'. Known: {', '.join(sorted(self.recipes))}."
        )

    def variant(self, name: str, model: str | None = None) -> Variant:
        """`UD-Q4_K_XL` (in the given or default model) or `deepseek-v4-flash-0731:UD-Q4_K_XL`."""
        if ":" in name:
            model, name = name.split(":", 1)
        return self.recipe(model).variant(name)

    @cached_property
    def all_variants(self) -> tuple[Variant, ...]:
        return tuple(v for r in self.recipes.values() for v in r.variants)

    def on_disk_variant(self, name: str, model: str | None = None) -> Variant:
        """What `rm` takes: a variant, or a draft by the id `models` lists it under
        (`deepseek-v4-flash-0731:draft-dspark`), which no plan or `up --variant` takes."""
        recipe_id, _, draft_id = name.rpartition(":")
        recipe = self.recipe(recipe_id or model)
        for draft in self.draft_variants:
            if draft.recipe_id == recipe.id and draft.id.lower() == draft_id.lower():
                return draft
        return recipe.variant(draft_id)

    @cached_property
    def draft_variants(self) -> tuple[Variant, ...]:
        """Each series' draft as the one-file variant `pull` fetches (once, however many variants share it)."""
        return tuple(dict.fromkeys(v.draft.as_variant(v.recipe_id) for v in self.all_variants if v.draft))


def load_catalog() -> Catalog:
    return Catalog(load_recipes())

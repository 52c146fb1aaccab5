"""Training configuration: one dataclass tree, its JSON schema, YAML recipes and ``--set`` overrides.

A recipe is YAML with the sections below (``extends: NAME`` merges it over another recipe).
``trl:`` holds keyword arguments for TRL's ``GRPOConfig`` (checked by name against the installed
TRL, so every GRPO/TrainingArguments option is available, including ``report_to``); timer1 sets
``output_dir`` and ``reward_weights`` itself. The schema is derived from the dataclasses, so the
two cannot drift (``config_schema()``; ``timer1 train --print-schema`` shows it).
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tvgbench.errors import Timer1Error
from tvgbench.video.config import SamplingConfig as _SAMPLING

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"


@dataclass
class ModelSection:
    path: str | None = None  # local folder or Hub id; "tiny" builds timer1's tiny random Qwen2.5-VL
    dtype: str = "bfloat16"  # float32 | bfloat16 | float16 | auto
    attn_implementation: str | None = None  # e.g. flash_attention_2 on GPU
    freeze_vision: bool = True  # Time-R1 --fix_vit: vision encoder frozen...
    train_merger: bool = True  # ...except its patch merger
    tiny_hidden_size: int = 64
    tiny_num_heads: int = 4


@dataclass
class LoraSection:
    enabled: bool = False
    r: int = 64
    alpha: int = 128
    dropout: float = 0.05
    target_regex: str | None = None  # default: the language model's attention and MLP projections


@dataclass
class SyntheticSection:
    n_videos: int = 2
    seed: int = 0
    max_duration: float = 30.0


@dataclass
class DataSection:
    split_dir: str | None = None  # a canonical split folder (timer1 data build/ingest/synth)
    split: str | None = None  # split name inside it (default: the only one)
    video_root: str | None = None  # default: split_dir
    prompt: str = "r1"  # tvgbench.prompts preset or file
    layout: str = "timer1-train"  # tvgbench.prompts layout
    limit: int | None = None  # first N records only (smoke runs)
    synthetic: SyntheticSection | None = None  # render a synthetic split into OUTPUT/synthetic instead


@dataclass
class VideoSection:
    # defaults come from the one sampling definition, so training and evaluation see the same frames
    fps: float = _SAMPLING.fps
    min_frames: int = _SAMPLING.min_frames
    max_frames: int = _SAMPLING.max_frames
    min_pixels: int = _SAMPLING.min_pixels
    total_pixels: int = _SAMPLING.total_pixels
    max_pixels: int = _SAMPLING.max_pixels
    decoder: str = _SAMPLING.decoder
    cache_dir: str | None = None  # frame cache shared with eval/preprocess (tvgbench.video)


@dataclass
class SampleFilterSection:
    """TimeRFT per-epoch sample filtering (spec §8.4)."""

    enabled: bool = False
    rounds: int = 5  # one epoch per round; keep 0 < IoU <= 0.7 (timerft.selection.keep_0_07)
    reset_optimizer: bool = True  # Time-R1 restarts optimizer and LR schedule every round
    reset_reference: bool = True  # Time-R1 re-anchors the KL reference to each round's start
    backend: str = "hf"  # harness backend for the scoring pass (vllm on GPU)
    prompt: str = "r1"  # Time-R1 scores with the r1 thinking prompt...
    max_new_tokens: int = 1024  # ...greedy, 1024 new tokens
    batch_size: int = 4


@dataclass
class TrainConfig:
    name: str = "custom"
    description: str = ""
    model: ModelSection = field(default_factory=ModelSection)
    lora: LoraSection = field(default_factory=LoraSection)
    data: DataSection = field(default_factory=DataSection)
    video: VideoSection = field(default_factory=VideoSection)
    rewards: dict[str, float] = field(default_factory=lambda: {"iou_v2": 1.0, "format": 1.0})
    sample_filter: SampleFilterSection = field(default_factory=SampleFilterSection)
    trl: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# -- schema ----------------------------------------------------------------------------------------
def _type_schema(tp) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [_type_schema(a) for a in typing.get_args(tp) if a is not type(None)]
        nullable = type(None) in typing.get_args(tp)
        schema = options[0] if len(options) == 1 else {"anyOf": options}
        return {"anyOf": [schema, {"type": "null"}]} if nullable else schema
    if dataclasses.is_dataclass(tp):
        return _dataclass_schema(tp)
    if origin is dict or tp is dict:
        args = typing.get_args(tp)
        value = _type_schema(args[1]) if args and args[1] is not Any else {}
        return {"type": "object", "additionalProperties": value}
    simple = {str: "string", bool: "boolean", int: "integer", float: "number"}
    if tp in simple:
        return {"type": simple[tp]}
    return {}


def _dataclass_schema(cls) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    props = {f.name: _type_schema(hints[f.name]) for f in dataclasses.fields(cls)}
    return {"type": "object", "properties": props, "additionalProperties": False}


def config_schema() -> dict[str, Any]:
    """JSON schema of a recipe (derived from :class:`TrainConfig`)."""
    schema = _dataclass_schema(TrainConfig)
    schema["properties"]["extends"] = {"type": "string"}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "timer1 training recipe"
    return schema


# -- loading ---------------------------------------------------------------------------------------
def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise Timer1Error(f"cannot read recipe {path}: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise Timer1Error(f"recipe {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise Timer1Error(f"recipe {path} must be a YAML mapping")
    return data


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "rewards" else v
    return out


def recipe_path(name_or_file: str) -> Path:
    p = Path(name_or_file)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise Timer1Error(f"recipe file not found: {p}")
        return p
    builtin = RECIPES_DIR / f"{name_or_file}.yaml"
    if not builtin.is_file():
        raise Timer1Error(f"unknown recipe {name_or_file!r}; built-in recipes: {', '.join(recipe_names())}")
    return builtin


def load_recipe_dict(name_or_file: str, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """The recipe as a plain dict with ``extends`` resolved."""
    path = recipe_path(name_or_file)
    if str(path) in _seen:
        raise Timer1Error(f"recipe {path} extends itself (cycle: {' -> '.join(_seen)})")
    data = _read_yaml(path)
    parent = data.pop("extends", None)
    if parent is not None:
        parent_path = Path(parent) if Path(parent).suffix else None
        if parent_path is not None and not parent_path.is_absolute():
            parent = str(path.parent / parent_path)
        data = deep_merge(load_recipe_dict(parent, _seen + (str(path),)), data)
    return data


def parse_set(assignments: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["trl.max_steps=5", "rewards.format=0.5"]`` → a nested dict (values parsed as YAML scalars)."""
    import yaml

    out: dict[str, Any] = {}
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise Timer1Error(f"--set expects key=value (dotted keys for sections), got {item!r}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise Timer1Error(f"--set {key}: {part} is not a section")
        node[parts[-1]] = value
    return out


def validate_dict(data: dict[str, Any]) -> None:
    """Schema check with one readable line per problem (the first is raised)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(config_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        raise Timer1Error(f"invalid training config at {where}: {err.message}")
    trl_keys = set(data.get("trl") or {})
    if trl_keys:
        unknown = sorted(trl_keys - grpo_config_fields())
        if unknown:
            raise Timer1Error(f"unknown trl option(s) {', '.join(unknown)} (not GRPOConfig fields in this TRL)")
        reserved = sorted(trl_keys & {"output_dir", "reward_weights"})
        if reserved:
            raise Timer1Error(f"trl.{reserved[0]} is set by timer1 (use --output-dir / the rewards section)")


def grpo_config_fields() -> set[str]:
    from trl import GRPOConfig

    return {f.name for f in dataclasses.fields(GRPOConfig)}


def _build(cls, data: dict[str, Any]):
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        tp = hints[f.name]
        inner = [a for a in typing.get_args(tp) if dataclasses.is_dataclass(a)]
        target = tp if dataclasses.is_dataclass(tp) else (inner[0] if inner else None)
        if target is not None and isinstance(value, dict):
            value = _build(target, value)
        elif tp is float and isinstance(value, int):
            value = float(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def from_dict(data: dict[str, Any]) -> TrainConfig:
    data = dict(data)
    data.pop("extends", None)
    validate_dict(data)
    cfg = _build(TrainConfig, data)
    check_semantics(cfg)
    return cfg


def load_config(recipe: str, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Recipe (built-in name or YAML file) + ``--set`` overrides → a validated :class:`TrainConfig`."""
    data = deep_merge(load_recipe_dict(recipe), parse_set(overrides))
    return from_dict(data)


def check_semantics(cfg: TrainConfig) -> None:
    """What the schema cannot say."""
    from trainer.rewards import REWARDS

    bad = [n for n in cfg.rewards if n not in REWARDS]
    if bad:
        raise Timer1Error(f"unknown reward(s) {', '.join(bad)}; choose from {', '.join(REWARDS)}")
    sf = cfg.sample_filter
    if sf.rounds < 1:
        raise Timer1Error("sample_filter.rounds must be at least 1")
    if cfg.model.dtype not in ("float32", "bfloat16", "float16", "auto"):
        raise Timer1Error(f"model.dtype must be float32, bfloat16, float16 or auto, got {cfg.model.dtype!r}")
    if cfg.trl.get("use_vllm"):
        raise Timer1Error("trl.use_vllm: TRL 1.16's vLLM rollouts carry images only, not video; use transformers rollouts")


REPORTERS = {"tensorboard": "tensorboard", "wandb": "wandb", "trackio": "trackio", "mlflow": "mlflow",
             "comet_ml": "comet_ml", "clearml": "clearml"}


def require_runnable(cfg: TrainConfig) -> None:
    """Checks that only matter when actually training (recipes may leave paths for the user)."""
    import importlib.util

    report_to = cfg.trl.get("report_to") or []
    for name in [report_to] if isinstance(report_to, str) else report_to:
        module = REPORTERS.get(name)
        if module and importlib.util.find_spec(module) is None:
            raise Timer1Error(f"trl.report_to={name} needs the {module} package (pip install {module}), "
                              "or pass --set trl.report_to=none")
    if not cfg.model.path:
        raise Timer1Error("model.path is not set: pass --set model.path=DIR_OR_HUB_ID")
    if cfg.data.synthetic is None and not cfg.data.split_dir:
        raise Timer1Error("data.split_dir is not set: pass --set data.split_dir=SPLIT_FOLDER")

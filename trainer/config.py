"""Training configuration: one dataclass tree, YAML recipes (``extends``) and dotted ``--set`` overrides.

OmegaConf merges the recipes and overrides onto the dataclasses below and checks them against their
field types (the dataclasses are the schema: ``config_schema()``, ``timer1 train --print-schema``).
``extends: NAME`` merges a recipe over another; a ``rewards`` mapping replaces the one beneath it
(a recipe that names its rewards wants exactly those), while ``--set rewards.NAME=W`` changes one
weight. ``trl:`` holds keyword arguments for TRL's ``GRPOConfig``, each checked against the installed
TRL's field of that name and its type, so every GRPO/TrainingArguments option is available,
including ``report_to``; timer1 sets ``output_dir`` and ``reward_weights`` itself.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import typing
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import ConfigDict, TypeAdapter, ValidationError

from trainer.model import check_model_source
from trainer.rewards import REWARDS
from tvgbench.core.errors import Timer1Error
from tvgbench.video.config import SamplingConfig

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"


MODEL_DTYPES = ("float32", "bfloat16", "float16", "auto")  # torch dtype names, or the checkpoint's ("auto")


@dataclass
class ModelSection:
    path: str | None = None  # local folder or Hub id; "tiny" builds timer1's tiny random Qwen2.5-VL
    dtype: str = "bfloat16"  # one of MODEL_DTYPES
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
    prompt: str = "r1"  # tvgbench.models.prompts preset or file
    layout: str = "timer1-train"  # tvgbench.models.prompts layout
    limit: int | None = None  # first N records only (smoke runs)
    synthetic: SyntheticSection | None = None  # render a synthetic split into OUTPUT/synthetic instead


# The video section is SamplingConfig's fields (names, types, defaults), so training and evaluation
# sample the same frames; what `timer1 eval run` does not offer either stays at SamplingConfig's value:
# the frame and patch factors (the model's geometry) and the decode-determinism check.
FIXED_SAMPLING_FIELDS = ("frame_factor", "image_factor", "check_determinism")
VideoSection = dataclasses.make_dataclass(
    "VideoSection",
    [(f.name, f.type, field(default=f.default, metadata=f.metadata))
     for f in dataclasses.fields(SamplingConfig) if f.name not in FIXED_SAMPLING_FIELDS]
    + [("cache_dir", "str | None", field(default=None))],  # frame cache shared with eval/preprocess (tvgbench.video)
    namespace={"__module__": __name__, "__doc__": "SamplingConfig's settings, plus the frame cache folder."},
)


@dataclass
class SampleFilterSection:
    """TimeRFT per-epoch sample filtering: each round trains one epoch, then keeps what the new policy finds hard."""

    enabled: bool = False
    rounds: int = 5  # one epoch per round; keep 0 < IoU <= 0.7 (timerft.selection.keep_0_07)
    reset_optimizer: bool = True  # Time-R1 restarts optimizer and LR schedule every round
    reset_reference: bool = True  # Time-R1 re-anchors the KL reference to each round's start
    backend: str = "hf"  # harness backend for the scoring pass (vllm on GPU)
    prompt: str = "r1"  # Time-R1 scores with the r1 thinking prompt...
    max_new_tokens: int = 1024  # ...greedy, 1024 new tokens
    batch_size: int = 4


PARADIGMS = ("grpo", "sft")  # GRPO with the rewards (video_grpo.py); supervised fine-tuning on the true spans (video_sft.py)


@dataclass
class SFTSection:
    """What supervised fine-tuning trains on: each record's completion, written from its true span."""

    # the answer tokens after the prompt (the r1 prompt's format; a prompt whose assistant prefix already
    # holds the <think> block, e.g. nothink, wants only the <answer> part); {start}/{end}: the span in seconds
    completion: str = "<think></think><answer>{start:.2f} to {end:.2f}</answer>"


@dataclass
class TrainConfig:
    name: str = "custom"
    description: str = ""
    paradigm: str = "grpo"  # one of PARADIGMS; the trl section holds that trainer's config fields
    model: ModelSection = field(default_factory=ModelSection)
    lora: LoraSection = field(default_factory=LoraSection)
    data: DataSection = field(default_factory=DataSection)
    video: VideoSection = field(default_factory=VideoSection)
    rewards: dict[str, float] = field(default_factory=lambda: {"iou_v2": 1.0, "format": 1.0})
    sample_filter: SampleFilterSection = field(default_factory=SampleFilterSection)
    sft: SFTSection = field(default_factory=SFTSection)
    trl: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def sampling_config(cfg: TrainConfig) -> SamplingConfig:
    """The video section as the decoder's :class:`SamplingConfig` (training and the SF scoring pass)."""
    settings = dataclasses.asdict(cfg.video)
    del settings["cache_dir"]
    return SamplingConfig(**settings)


# -- schema ----------------------------------------------------------------------------------------
def config_schema() -> dict[str, Any]:
    """JSON schema of a recipe (pydantic's, of :class:`TrainConfig`)."""
    schema = TypeAdapter(TrainConfig).json_schema()
    for section in (schema, *schema.get("$defs", {}).values()):
        section["additionalProperties"] = False  # as OmegaConf, which refuses unknown keys
    schema["properties"]["extends"] = {"type": "string"}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "timer1 training recipe"
    return schema


# -- loading ---------------------------------------------------------------------------------------
REPLACED_WHOLE = ("rewards",)  # sections a recipe or --set KEY=MAPPING replaces instead of merging into


def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


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


def _read_yaml(path: Path) -> DictConfig:
    try:
        data = OmegaConf.load(path)
    except OSError as e:
        raise Timer1Error(f"cannot read recipe {path}: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise Timer1Error(f"recipe {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, DictConfig):
        raise Timer1Error(f"recipe {path} must be a YAML mapping")
    return data


def merge_over(base: DictConfig, over: DictConfig) -> DictConfig:
    """``over`` merged into ``base``, except that ``over``'s :data:`REPLACED_WHOLE` sections replace base's."""
    merged = OmegaConf.merge(base, over)
    for key in REPLACED_WHOLE:
        if key in over:
            OmegaConf.update(merged, key, over[key], merge=False)
    return merged


def _load_recipe(name_or_file: str, seen: tuple[str, ...] = ()) -> DictConfig:
    path = recipe_path(name_or_file)
    if str(path) in seen:
        raise Timer1Error(f"recipe {path} extends itself (cycle: {' -> '.join(seen)})")
    data = _read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if Path(parent).suffix and not Path(parent).is_absolute():
        parent = str(path.parent / parent)  # a parent file is found beside its child
    return merge_over(_load_recipe(parent, seen + (str(path),)), data)


def load_recipe_dict(name_or_file: str) -> dict[str, Any]:
    """The recipe as a plain dict with ``extends`` resolved."""
    return OmegaConf.to_container(_load_recipe(name_or_file))


def parse_override(item: str) -> tuple[str, DictConfig]:
    """``"trl.max_steps=5"`` → ``("trl.max_steps", {trl: {max_steps: 5}})``; values parse as YAML."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise Timer1Error(f"--set expects key=value (dotted keys for sections), got {item!r}")
    try:
        return key, OmegaConf.from_dotlist([f"{key}={raw}"])
    except yaml.YAMLError:  # not YAML: the text as it is
        over = OmegaConf.create()
        OmegaConf.update(over, key, raw)
        return key, over


@contextmanager
def _one_line_errors():
    """OmegaConf's multi-line errors as timer1's one-line ``error:`` (the key and the first line)."""
    try:
        yield
    except OmegaConfBaseException as e:
        where = f" at {e.full_key}" if e.full_key else ""
        raise Timer1Error(f"invalid training config{where}: {str(e.msg or e).splitlines()[0]}") from None


def from_dict(data: dict[str, Any] | DictConfig, overrides: list[str] | tuple[str, ...] = (),
              runnable: bool = False) -> TrainConfig:
    """A recipe mapping (``extends`` already resolved) + ``--set`` overrides → a checked :class:`TrainConfig`;
    ``runnable`` adds :func:`require_runnable`, before the trl checks load TRL (and torch)."""
    with _one_line_errors():
        typed = merge_over(OmegaConf.structured(TrainConfig), OmegaConf.create(data))
        for item in overrides:
            key, over = parse_override(item)
            typed = merge_over(typed, over) if key in REPLACED_WHOLE else OmegaConf.merge(typed, over)
        cfg = OmegaConf.to_object(typed)
    check_semantics(cfg)
    if runnable:
        require_runnable(cfg)
    check_trl(cfg.trl, cfg.paradigm)
    return cfg


def load_config(recipe: str, overrides: list[str] | tuple[str, ...] = (), runnable: bool = False) -> TrainConfig:
    """Recipe (built-in name or YAML file) + ``--set`` overrides → a checked :class:`TrainConfig`."""
    return from_dict(_load_recipe(recipe), overrides, runnable=runnable)


# -- checks ----------------------------------------------------------------------------------------
def grpo_config_types(paradigm: str = "grpo") -> dict[str, Any]:
    """The paradigm's TRL config fields (GRPOConfig, SFTConfig) in the installed TRL and their annotations."""
    import trl

    config_cls = trl.SFTConfig if paradigm == "sft" else trl.GRPOConfig
    hints = typing.get_type_hints(config_cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_cls)}


def _type_name(tp) -> str:
    return tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")


SFT_RESERVED = ("output_dir", "remove_unused_columns", "dataset_kwargs")  # the video collator needs them as set


def check_trl(trl: dict[str, Any], paradigm: str = "grpo") -> None:
    """Each ``trl`` key names a field of the paradigm's TRL config (GRPOConfig, SFTConfig) and holds a value
    of its type (strictly: no "5" for an int, no 1 for a bool; an int is a float), so a wrong value stops
    here, not inside TRL."""
    if not trl:
        return

    types = grpo_config_types(paradigm)
    unknown = sorted(set(trl) - set(types))
    if unknown:
        owner = "SFTConfig" if paradigm == "sft" else "GRPOConfig"
        raise Timer1Error(f"unknown trl option(s) {', '.join(unknown)} (not {owner} fields in this TRL)")
    reserved = sorted(set(trl) & (set(SFT_RESERVED) if paradigm == "sft" else {"output_dir", "reward_weights"}))
    if reserved:
        raise Timer1Error(f"trl.{reserved[0]} is set by timer1 (use --output-dir / the rewards section)")
    for key, value in trl.items():
        adapter = TypeAdapter(types[key], config=ConfigDict(arbitrary_types_allowed=True))
        try:
            adapter.validate_python(value, strict=True)
        except ValidationError:
            raise Timer1Error(f"trl.{key} must be {_type_name(types[key])}, got {value!r}") from None


def check_semantics(cfg: TrainConfig) -> None:
    """What the field types cannot say."""
    if cfg.paradigm not in PARADIGMS:
        raise Timer1Error(f"paradigm must be one of {', '.join(PARADIGMS)}, got {cfg.paradigm!r}")
    if cfg.paradigm == "sft":
        check_sft(cfg)
    bad = [n for n in cfg.rewards if n not in REWARDS]
    if bad:
        raise Timer1Error(f"unknown reward(s) {', '.join(bad)}; choose from {', '.join(REWARDS)}")
    sf = cfg.sample_filter
    if sf.rounds < 1:
        raise Timer1Error("sample_filter.rounds must be at least 1")
    if cfg.model.dtype not in MODEL_DTYPES:
        raise Timer1Error(f"model.dtype must be one of {', '.join(MODEL_DTYPES)}, got {cfg.model.dtype!r}")
    try:
        sampling_config(cfg)
    except Timer1Error as e:
        raise Timer1Error(f"video.{e}") from None
    if cfg.trl.get("use_vllm") and cfg.trl.get("vllm_mode", "colocate") != "colocate":  # video: colocate only
        raise Timer1Error(f"trl.vllm_mode={cfg.trl['vllm_mode']}: TRL 1.16's vLLM server rollouts carry images only; "
                          "timer1 adds video to vllm_mode: colocate")


def check_sft(cfg: TrainConfig) -> None:
    if cfg.sample_filter.enabled:
        raise Timer1Error("sample_filter needs the GRPO policy's scores; it does not run with paradigm: sft")
    try:
        cfg.sft.completion.format(start=1.0, end=2.0)
    except (KeyError, IndexError, ValueError) as e:
        raise Timer1Error(f"sft.completion must be a format string of {{start}} and {{end}}: {e!r}") from None


# report_to names whose Python package has the same name
REPORTER_PACKAGES = ("tensorboard", "wandb", "trackio", "mlflow", "comet_ml", "clearml")


def require_runnable(cfg: TrainConfig) -> None:
    """Checks that only matter when actually training (recipes may leave paths for the user)."""
    report_to = cfg.trl.get("report_to") or []
    for name in [report_to] if isinstance(report_to, str) else report_to:
        if name in REPORTER_PACKAGES and importlib.util.find_spec(name) is None:
            raise Timer1Error(f"trl.report_to={name} needs the {name} package (pip install {name}), "
                              "or pass --set trl.report_to=none")
    if cfg.trl.get("use_vllm") and importlib.util.find_spec("vllm") is None:
        raise Timer1Error("trl.use_vllm needs vLLM (pip install -c constraints.txt -e '.[vllm]' on a GPU machine)")
    if not cfg.model.path:
        raise Timer1Error("model.path is not set: pass --set model.path=DIR_OR_HUB_ID")
    if cfg.data.synthetic is None and not cfg.data.split_dir:
        raise Timer1Error("data.split_dir is not set: pass --set data.split_dir=SPLIT_FOLDER")
    if cfg.model.path != "tiny":  # "tiny" is built into the output folder
        check_model_source(cfg.model.path)

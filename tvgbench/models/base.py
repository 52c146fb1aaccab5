"""What timer1 needs to know about a video-LLM family, behind one small interface.

A family differs in four ways that matter for grounding, and each is one part of :class:`ModelAdapter`:

* frames: the sizes its vision tower accepts (``sampling_factors``: frames in multiples of the temporal
  patch, sides in multiples of patch × merge);
* time: how the model learns when a frame happened. Qwen2.5-VL puts absolute time in its M-RoPE
  positions (``second_per_grid_ts``), Qwen3-VL writes ``<{t:.1f} seconds>`` before each temporal patch,
  InternVL3.5 sees frames as images and gets ``Frame i at t s:`` as interleaved text. So time lives in
  the model inputs *and* the prompt: ``video_inputs`` builds both the pixels and what ``expand_prompt``
  (text) / ``expand_prompt_ids`` (token ids) put where the chat template left its one video placeholder;
* the loaded model: ``model_class`` and ``adapt_model`` (instance-level fixes, never global ones);
* the GPU and training stacks: ``vllm_request`` and ``video_kwargs`` (the per-pass tensors the hf
  backend's ``generate`` and the trainer's every forward pass receive, one function for both).

An adapter is built from the checkpoint's config (:func:`adapter_for`); families register by
config.json's ``model_type``. Heavy libraries are imported inside methods, so looking one up is free.
"""

from __future__ import annotations

import importlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from tvgbench.core.errors import Timer1Error
from tvgbench.models.hub import resolve_model


@dataclass(frozen=True)
class ChatTokens:
    """The family's special tokens as the chat template writes them."""

    video_pad: str  # the one placeholder per video the template renders (expanded per video token)
    image_pad: str
    vision_start: str
    vision_end: str
    stop: tuple[str, ...]  # generation ends at any of these

    @property
    def pads(self) -> tuple[str, ...]:
        """Tokens a rollout must never sample (a sampled pad breaks the token/feature count)."""
        return (self.video_pad, self.image_pad)


class ModelAdapter(ABC):
    """One family's frames, time encoding, prompt layout, model inputs, vLLM request and tiny model."""

    model_type: ClassVar[str]  # config.json's model_type
    family: ClassVar[str]  # the name people use, for messages and run records
    tokens: ClassVar[ChatTokens]
    video_keys: ClassVar[tuple[str, ...]]  # per-video tensors of ``video_inputs`` that every forward pass needs
    video_token_id: int  # the id of ``tokens.video_pad``, from the config (set by the family's __init__)
    # what `timer1 model families` (and the README's family table) says about the family; run.json records
    # time_encoding. The defaults are the least a new family offers until it says more.
    time_encoding: ClassVar[str] = "unspecified"  # how the model learns when a frame happened
    backends: ClassVar[tuple[str, ...]] = ("hf",)  # harness backends that serve it (hf, vllm, openai)
    trainer: ClassVar[tuple[str, ...]] = ()  # timer1 train paradigms that run it (grpo, ...)

    def __init__(self, config):
        """``config``: the checkpoint's transformers config (or anything with the same attributes)."""
        self.config = config

    # -- frames --------------------------------------------------------------------------------------
    @abstractmethod
    def sampling_factors(self) -> dict[str, int]:
        """``SamplingConfig`` fields (``frame_factor``, ``image_factor``) the frames must be multiples of."""

    # -- the loaded model ------------------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def model_class(cls):
        """The transformers class that loads this family's checkpoints (needs no config)."""

    def adapt_model(self, model):
        """Instance-level fixes for a loaded model (and its wrappers); returns the model."""
        return model

    @abstractmethod
    def vision_parts(self, model) -> tuple[Any, Any]:
        """(vision encoder, its projector into the language model) of a loaded model."""

    def settings(self) -> dict:
        """What run.json records about how this family sees time (and any fix applied)."""
        return {}

    # -- model inputs (timer1's own pipeline: no processor, no torchvision) ------------------------
    @abstractmethod
    def video_inputs(self, sampled) -> dict:
        """Model tensors for one :class:`tvgbench.video.SampledVideo`, plus ``num_video_tokens``."""

    @abstractmethod
    def num_video_tokens(self, num_frames: int, height: int, width: int) -> int:
        """Video tokens of a clip, computed from its shape alone (no pixels)."""

    @abstractmethod
    def expand_prompt(self, text: str, video: dict) -> str:
        """A rendered chat prompt with its one video placeholder replaced by what the model reads."""

    @abstractmethod
    def expand_prompt_ids(self, ids: list[int], video: dict, tokenizer) -> list[int]:
        """:meth:`expand_prompt` on token ids (the trainer tokenises each distinct prompt once).

        ``tokenizer`` is for what the expansion writes as text (e.g. Qwen3-VL's timestamps)."""

    def frame_time_texts(self, sampled) -> list[str] | None:
        """The text the model reads before each sampled frame, one entry per frame ("" where none), by the
        formula :meth:`expand_prompt` writes: what a backend sending frames as images (openai) puts beside
        them. None: the family's time is not text (Qwen2.5-VL: its M-RoPE positions)."""
        return None

    @classmethod
    def served(cls) -> ModelAdapter:
        """The adapter of a model behind an API, whose config.json timer1 cannot read: no config, the
        class's defaults stand in for it; only :meth:`frame_time_texts` and class attributes are used on it."""
        adapter = cls.__new__(cls)
        adapter.config = None
        return adapter

    @abstractmethod
    def video_kwargs(self, videos: list[dict], input_ids, dtype=None) -> dict:
        """Forward/generate kwargs for a batch, one video per row of ``input_ids`` (on its device)."""

    @abstractmethod
    def rollout_fields(self, videos: list[dict], prompt_ids: list[list[int]]) -> dict:
        """The multimodal fields TRL's rollout takes beside unpadded prompt ids (``_tokenize_prompts``)."""

    # -- vLLM ----------------------------------------------------------------------------------------
    vllm_mm_limits: ClassVar[dict[str, int]] = {"video": 1, "image": 0}  # per prompt (frames-as-images: images)

    @abstractmethod
    def vllm_request(self, prompt_token_ids: list[int], sampled) -> dict:
        """One vLLM prompt dict: token ids with the unexpanded placeholder, plus timer1's frames."""

    # -- tiny model ----------------------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def build_tiny(cls, out_dir, seed: int = 0, hidden_size: int = 64, num_heads: int = 4) -> Path:
        """Build and save a tiny random checkpoint of this family that loads offline."""


# model_type -> (family, the module whose import registers its adapter). Families load on first use,
# so naming them (the CLI's help, an error) costs no import of their inputs or model code.
FAMILIES: dict[str, tuple[str, str]] = {
    "qwen2_5_vl": ("Qwen2.5-VL", "tvgbench.models.qwen2_5_vl.adapter"),
    "qwen3_vl": ("Qwen3-VL", "tvgbench.models.qwen3_vl.adapter"),
    "qwen3_5": ("Qwen3.5", "tvgbench.models.qwen3_vl.adapter"),
    "internvl": ("InternVL3/3.5", "tvgbench.models.internvl.adapter"),
}
_REGISTRY: dict[str, type[ModelAdapter]] = {}


def register(cls: type[ModelAdapter]) -> type[ModelAdapter]:
    """Class decorator: make a family's adapter findable by its ``model_type``."""
    _REGISTRY[cls.model_type] = cls
    return cls


def model_types() -> tuple[str, ...]:
    return tuple(FAMILIES)


TABLE_BACKENDS = ("hf", "vllm", "openai")  # the harness's backends (tvgbench.harness.backends.BACKENDS)


def family_rows() -> list[dict]:
    """One row per family, from its adapter's class attributes (model types of one family share a row)."""
    rows: dict[str, dict] = {}
    for model_type, (family, _) in FAMILIES.items():
        cls = adapter_class(model_type)
        row = rows.setdefault(family, {"family": family, "model_types": [], "time_encoding": cls.time_encoding,
                                       "backends": list(cls.backends), "trainer": list(cls.trainer)})
        row["model_types"].append(model_type)
    return list(rows.values())


def family_table(rows: list[dict]) -> str:
    """:func:`family_rows` as the markdown table ``timer1 model families`` prints and the README holds."""
    head = ["family", "model types", "time encoding", *TABLE_BACKENDS, "trainer"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["family"], ", ".join(f"`{t}`" for t in r["model_types"]), r["time_encoding"],
                 *("yes" if b in r["backends"] else "no" for b in TABLE_BACKENDS), ", ".join(r["trainer"]) or "no"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def adapter_class(model_type: str | None, what: str = "") -> type[ModelAdapter]:
    """The registered adapter class; ``what`` names the checkpoint in the error (e.g. its folder)."""
    if model_type in FAMILIES and model_type not in _REGISTRY:
        importlib.import_module(FAMILIES[model_type][1])
    cls = _REGISTRY.get(model_type or "")
    if cls is None:
        supported = ", ".join(f"{family} ({t})" for t, (family, _) in FAMILIES.items())
        raise Timer1Error(f"{what or 'the model'} is a {model_type!r} model; timer1 supports {supported}")
    return cls


PEFT_ADAPTER_CONFIG = "adapter_config.json"  # a PEFT (LoRA) adapter folder: weights to add to a base model


def peft_base(model_dir) -> str | None:
    """The base model (folder or Hub id) a PEFT adapter folder was trained on; None for a full checkpoint."""
    path = Path(model_dir) / PEFT_ADAPTER_CONFIG
    if not path.is_file():
        return None
    try:
        base = json.loads(path.read_text()).get("base_model_name_or_path")
    except (OSError, ValueError):
        raise Timer1Error(f"{path} is not readable JSON") from None
    if not base:
        raise Timer1Error(f"{path} names no base_model_name_or_path: which model does the adapter go on?")
    return base


def read_model_type(model_dir) -> str | None:
    """config.json's ``model_type`` of a local checkpoint folder (an adapter folder: its base model's)."""
    base = peft_base(model_dir) if not (Path(model_dir) / "config.json").is_file() else None
    if base is not None:
        return read_model_type(resolve_model(base, what=f"the base model of {model_dir}").path)
    try:
        return json.loads((Path(model_dir) / "config.json").read_text()).get("model_type")
    except (OSError, ValueError):
        raise Timer1Error(f"{model_dir} has no readable config.json") from None


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")  # a checkpoint folder holds at least one


def check_checkpoint(model, backend: str = "hf") -> str:
    """The ``model_type`` of a local checkpoint folder or a Hub id (``ORG/NAME[@REVISION]``, resolved through
    the Hugging Face cache: :func:`tvgbench.models.hub.resolve_model`), found without loading anything (no
    torch, no weights).

    Runs first, so a wrong ``--model`` costs no decoding; each failure is one line saying what was looked for.
    """
    folder = Path(resolve_model(model).path)
    if not folder.is_dir():
        raise Timer1Error(f"model folder not found: {folder.absolute()} (looked for {folder.absolute() / 'config.json'}; "
                          f"the {backend} backend loads a local checkpoint folder or a Hub id ORG/NAME[@REVISION])")
    model_type = read_model_type(folder)
    adapter_class(model_type, str(model))  # an unsupported family is refused here too
    if not any(p.name.endswith(WEIGHT_SUFFIXES) for p in folder.iterdir()):
        raise Timer1Error(f"{folder} has a config.json but no weights (looked for "
                          f"{', '.join('*' + s for s in WEIGHT_SUFFIXES)} files); was the download complete?")
    return model_type


def adapter_for(config, what: str = "") -> ModelAdapter:
    """The adapter for a loaded model's (or checkpoint's) transformers config."""
    return adapter_class(getattr(config, "model_type", None), what)(config)

"""The settings of a run as frozen dataclasses, and how run.json records them.

:class:`ModelConfig` is how a model is asked (backend, prompt, layout, parser, frame sampling,
generation); :class:`EvalConfig` adds what every run over many queries is told (batching, workers,
the run folder); :class:`RunConfig` is one TVG evaluation (``timer1 eval run``), :class:`QARunConfig`
one video-QA evaluation (``timer1 eval qa``) and :class:`PredictConfig` one ``timer1 predict``.
Each field's default and help text is the command-line option's (:mod:`tvgbench.cli.harness`).

``RunConfig.settings(split)`` / ``QARunConfig.settings()`` are run.json's ``"settings"``: the
resolved config (workers counted, shard parsed, prompt read) plus what the split says about itself.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import KW_ONLY, asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from tvgbench.core.errors import Timer1Error
from tvgbench.core.parsing import VARIANTS
from tvgbench.harness.backends.base import GenParams
from tvgbench.harness.provenance import redact
from tvgbench.models.base import FAMILIES
from tvgbench.models.prompts import LAYOUTS, PROMPT_HELP, Prompt, get_prompt, prompt_settings
from tvgbench.video.config import SamplingConfig

# settings that may differ between a run and its resumption without changing any number
NOT_FINGERPRINTED = ("workers", "prefetch", "progress", "out_dir", "cache_dir", "backend_options")


def default_workers(cpu_count: int | None = None) -> int:
    """Decode workers when none are asked for: the cores left after the model's thread, 1 to 4.

    On a 2-core machine that is 1: a second worker only slows generation down (bench/bench_harness.py).
    """
    cores = cpu_count if cpu_count is not None else (os.cpu_count() or 2)
    return max(1, min(4, cores - 1))


def resolve_workers(workers: int | None) -> int:
    if workers is None:
        return default_workers()
    if workers < 0:
        raise Timer1Error(f"--workers must be 0 or more, got {workers}")
    return int(workers)


def parse_shard(text: str | tuple[int, int] | list[int] | None) -> tuple[int, int]:
    """``"i/n"`` → (i, n) with 0 ≤ i < n."""
    if text is None:
        return 0, 1
    if isinstance(text, (tuple, list)):
        i, n = text
    else:
        try:
            i, n = (int(x) for x in str(text).split("/"))
        except ValueError:
            raise Timer1Error(f"--shard must look like i/n (e.g. 0/4), got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise Timer1Error(f"--shard {i}/{n}: need 0 <= i < n")
    return i, n


def shard_slice(n_items: int, shard: tuple[int, int]) -> slice:
    """Time-R1's sharding: contiguous chunks of ceil(N / n)."""
    i, n = shard
    chunk = math.ceil(n_items / n) if n_items else 0
    return slice(min(i * chunk, n_items), min((i + 1) * chunk, n_items))


def as_sampling(sampling: SamplingConfig | dict | None) -> SamplingConfig:
    if sampling is None:
        return SamplingConfig()
    return SamplingConfig(**sampling) if isinstance(sampling, dict) else sampling


def as_gen_params(gen: GenParams | dict | None) -> GenParams:
    if gen is None:
        return GenParams()
    return GenParams(**gen) if isinstance(gen, dict) else gen


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def fingerprint(settings: dict) -> dict:
    """The part of the settings that must match for a resume (everything that changes a number), flattened."""
    return _flatten({k: v for k, v in settings.items() if k not in NOT_FINGERPRINTED})


# sampling fields added after runs were first recorded: left out of run.json at their defaults, so
# earlier runs stay byte-identical and resumable (a non-default value is recorded, and must match)
_RECORDED_UNLESS_DEFAULT = ("max_source_pixels",)


def sampling_record(sampling: SamplingConfig) -> dict[str, Any]:
    """run.json's ``sampling``: every field, except later ones still at their defaults."""
    record, default = asdict(sampling), asdict(SamplingConfig())
    return {k: v for k, v in record.items() if k not in _RECORDED_UNLESS_DEFAULT or v != default.get(k)}


def parse_engine_args(pairs) -> dict:
    """``["gpu_memory_utilization=0.5", "enforce_eager=true"]`` -> ``{"gpu_memory_utilization": 0.5, ...}``:
    each VALUE read as JSON when it parses (numbers, true/false, objects), else kept as text; the last of a key wins."""
    out: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, text = str(pair).partition("=")
        key = key.strip()
        if not sep or not key:
            raise Timer1Error(f"--engine-arg must look like KEY=VALUE (e.g. max_model_len=8192), got {pair!r}")
        try:
            out[key] = json.loads(text)
        except ValueError:
            out[key] = text
    return out


def _set(config, name: str, value) -> None:
    object.__setattr__(config, name, value)  # normalising a frozen dataclass in __post_init__


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """How the model is asked: which engine, prompt, message layout, parser, frames and generation."""

    PARSERS: ClassVar[tuple[str, ...]] = VARIANTS
    PROMPT_TASK: ClassVar[str] = "tg"

    model: str | Path = field(metadata={"help": "Model folder or Hub id ORG/NAME[@REVISION] (hf, vllm), or served "
                                                "model name (openai)."})
    backend: str = field(default="hf", metadata={"help": "Inference engine."})
    prompt: str | Prompt = field(default="r1", metadata={"help": PROMPT_HELP})
    layout: str = field(default="default", metadata={"help": "Chat message layout (see tvgbench.models.prompts)."})
    parser: str = field(default="canonical", metadata={"help": "How raw text becomes the line's span."})
    sampling: SamplingConfig = field(default_factory=SamplingConfig)  # a dict is read as SamplingConfig(**dict)
    gen: GenParams = field(default_factory=GenParams)  # a dict is read as GenParams(**dict)
    # the backend's own keyword options: hf device/dtype/threads, vllm dtype, openai api_base/api_key_env
    backend_options: dict = field(default_factory=dict)
    family: str | None = field(default=None, metadata={
        "help": "openai backend: the served model's family (its config.json model_type, see `timer1 model "
                "families`), so each frame's time goes as that family's text [default: none, '12.5s' per frame]. "
                "hf and vllm read it from the checkpoint."})
    engine_args: dict | None = field(default=None, metadata={
        "help": "vllm backend: an argument for vllm.LLM as KEY=VALUE, VALUE read as JSON when it parses "
                "(gpu_memory_utilization=0.5, max_model_len=8192, enforce_eager=true, tensor_parallel_size=2, "
                "limit_mm_per_prompt='{\"video\":1}'); repeatable."})

    def __post_init__(self) -> None:
        _set(self, "sampling", as_sampling(self.sampling))
        _set(self, "gen", as_gen_params(self.gen))
        _set(self, "backend_options", dict(self.backend_options or {}))
        if self.layout not in LAYOUTS:
            raise Timer1Error(f"unknown layout {self.layout!r}; choose one of {', '.join(LAYOUTS)}")
        if self.parser not in self.PARSERS:
            raise Timer1Error(f"unknown parser {self.parser!r}; choose one of {', '.join(self.PARSERS)}")
        if self.family is not None:
            self._check_family()
            # the openai backend is built from backend_options (runner, predict, eval qa alike)
            _set(self, "backend_options", {**self.backend_options, "family": self.family})
        if self.engine_args:
            if self.backend != "vllm":
                raise Timer1Error(f"--engine-arg is for the vllm backend, not {self.backend}")
            _set(self, "engine_args", dict(self.engine_args))
            _set(self, "backend_options", {**self.backend_options, "engine_args": self.engine_args})
        else:
            _set(self, "engine_args", None)

    def _check_family(self) -> None:
        if self.family not in FAMILIES:
            raise Timer1Error(f"unknown --family {self.family!r}; choose one of {', '.join(FAMILIES)}")
        if self.backend != "openai":
            raise Timer1Error(f"--family is for the openai backend; the {self.backend} backend reads the family "
                              f"from the checkpoint's config.json")

    def prompt_preset(self) -> Prompt:
        return get_prompt(self.prompt, task=self.PROMPT_TASK)

    def model_settings(self) -> dict[str, Any]:
        """run.json's record of how the model was asked (the middle of ``settings``)."""
        return {
            "model": str(self.model),
            "backend": self.backend,
            **({"family": self.family} if self.family else {}),  # only when given: earlier run.json unchanged
            **({"engine_args": self.engine_args} if self.engine_args else {}),  # the same; fingerprinted
            "prompt": prompt_settings(self.prompt_preset(), self.layout),
            "parser": self.parser,
            "sampling": sampling_record(self.sampling),
            "sampling_key": self.sampling.output_key(),
            "generation": self.gen.to_dict(),
        }


@dataclass(frozen=True, kw_only=True)
class PredictConfig(ModelConfig):
    """``timer1 predict``: one query, asked as ``eval run`` asks it."""


@dataclass(frozen=True, kw_only=True)
class EvalConfig(ModelConfig):
    """What every run over many queries is told besides the model's settings."""

    batch_size: int = field(default=4, metadata={"help": "Queries per generate call (fixed batches: resumes recompute the same ones)."})
    limit: int | None = field(default=None, metadata={"help": "Only the first K queries (of the shard, when sharded)."})
    workers: int | None = field(default=None, metadata={
        "help": "Decode threads running ahead of the model (0 = decode inline)  [default: cores - 1, 1 to 4]"})
    prefetch: int | None = None  # items prepared ahead of the model [default: 2 batches or 2 per worker]
    cache_dir: str | Path | None = field(default=None, metadata={"help": "Reuse/keep sampled frames here."})
    out_dir: str | Path = "timer1-run"
    resume: bool = field(default=False, metadata={"help": "Continue a killed run in --out (same settings required)."})
    overwrite: bool = field(default=False, metadata={"help": "Replace an existing run in --out."})
    progress: bool = True

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise Timer1Error("--batch-size must be at least 1")
        if self.limit is not None and self.limit < 1:
            raise Timer1Error("--limit must be at least 1")
        super().__post_init__()

    def resolved(self):
        """The same run with the worker count decided and the prompt read (what ``settings`` records)."""
        workers = resolve_workers(self.workers)
        return replace(self, workers=workers, prompt=self.prompt_preset())


# the leading arguments of the older ``run_eval(split_dir, video_root, model, **fields)`` call
TVG_POSITIONAL = ("split_dir", "video_root", "model")
# the video-QA benchmarks whose public layouts tvgbench.harness.qa reads
QA_DATASETS = ("mvbench", "tempcompass", "videomme", "egoschema")
QA_POSITIONAL = ("dataset", "root", "model")


@dataclass(frozen=True)
class RunConfig(EvalConfig):
    """One TVG evaluation (``timer1 eval run``): a split, where its videos are, and a model."""

    split_dir: str | Path = field(metadata={"help": "Split folder (timer1 / HF layout)."})
    video_root: str | Path | None = field(default=None, metadata={
        "help": "Folder the records' video paths are relative to [default: the split folder]."})
    _: KW_ONLY
    split_name: str | None = field(default=None, metadata={"help": "Which split in the folder, when it holds several."})
    shard: str | tuple[int, int] | None = field(default=None, metadata={
        "help": "Evaluate shard i of n (i/n, contiguous chunks); join with `eval merge`."})
    score: bool = True  # write scores.json when the run covers the whole split
    bootstrap: int = field(default=1000, metadata={"help": "Bootstrap resamples for the 95% intervals."})
    # processes of a torchrun / accelerate / Slurm launch (tvgbench.harness.distributed): over N > 1 each shard
    # is of the first ``limit`` queries, as one process would take them, and run.json records it
    world_size: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.video_root is None:
            _set(self, "video_root", self.split_dir)
        _set(self, "shard", parse_shard(self.shard))

    def settings(self, split) -> dict[str, Any]:
        """run.json's ``settings`` for this (resolved) config on the loaded ``split``."""
        return {
            "task": "tvg",
            "split": str(Path(self.split_dir).resolve()),
            "split_name": split.name,
            "video_root": str(Path(self.video_root).resolve()),
            **self.model_settings(),
            "batch_size": self.batch_size,
            "shard": list(self.shard),
            **({"world_size": self.world_size} if self.world_size > 1 else {}),  # 1: earlier run.json unchanged
            "limit": self.limit,
            "workers": self.workers,
            "prefetch": self.prefetch,
            "split_content_hash": split.content_hash,
            "window_mode": split.window_mode,
            "backend_options": redact(self.backend_options),
        }


@dataclass(frozen=True)
class QARunConfig(EvalConfig):
    """One multiple-choice video-QA evaluation (``timer1 eval qa``); answers are option letters."""

    PARSERS: ClassVar[tuple[str, ...]] = ("option-letter",)
    PROMPT_TASK: ClassVar[str] = "mcq"

    dataset: str = field(metadata={"help": "Which benchmark's public layout --root holds."})
    root: str | Path = field(metadata={"help": "The dataset folder in its public layout (see tvgbench.harness.qa)."})
    _: KW_ONLY
    subset: str | None = field(default=None, metadata={
        "help": "videomme: short|medium|long; egoschema: MC|Subset; tempcompass: multi-choice."})
    prompt: str | Prompt = "mcq_r1"
    parser: str = "option-letter"
    out_dir: str | Path = "timer1-qa"

    def settings(self) -> dict[str, Any]:
        """run.json's ``settings`` for this (resolved) config."""
        return {
            "task": "qa",
            "dataset": self.dataset,
            "root": str(Path(self.root).resolve()),
            "subset": self.subset,
            **self.model_settings(),
            "batch_size": self.batch_size,
            "limit": self.limit,
            "workers": self.workers,
            "backend_options": redact(self.backend_options),
        }


def config_from_call(cls, positional: tuple[str, ...], args: tuple, fields: dict):
    """``args[0]`` when it already is a ``cls``; else the older keyword call ``f(a, b, model, **fields)``."""
    if args and isinstance(args[0], cls):
        if len(args) > 1 or fields:
            raise TypeError(f"pass a {cls.__name__} or its fields, not both")
        return args[0]
    if len(args) > len(positional):
        raise TypeError(f"at most {len(positional)} positional arguments ({', '.join(positional)}), got {len(args)}")
    return cls(**dict(zip(positional, args)), **fields)

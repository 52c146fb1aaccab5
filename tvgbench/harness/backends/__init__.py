"""Inference backends behind one small interface (see :mod:`.base`); each imported only when chosen."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tvgbench.core.errors import Timer1Error
from tvgbench.harness.backends.base import Backend, Generation, GenParams
from tvgbench.models.base import check_checkpoint
from tvgbench.models.hub import resolve_model

BACKENDS = ("hf", "vllm", "openai")
LOCAL_CHECKPOINT = ("hf", "vllm")  # backends that load a local model folder


def check_backend(name: str, model, options: dict) -> None:
    """What can be checked before anything is imported, decoded or contacted: the backend's name, its model
    folder (hf, vllm) or its endpoint (openai). Each failure is one line saying what was looked for."""
    if name not in BACKENDS:
        raise Timer1Error(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name in LOCAL_CHECKPOINT:
        check_checkpoint(model, name)
    elif name == "openai":
        from tvgbench.harness.backends.openai import DEFAULT_API_BASE, split_api_base  # light: not the SDK

        split_api_base(options.get("api_base") or DEFAULT_API_BASE)


def family_sampling(sampling, name: str, model, backend_obj=None):
    """``sampling`` with the frame sizes the model's family accepts (``ModelAdapter.sampling_factors``:
    Qwen2.5-VL's are the defaults, Qwen3-VL's sides are multiples of 32). Unchanged for a served model
    (openai), whose family timer1 does not read. Call it after :func:`check_backend` (a Hub id is resolved)."""
    adapter = getattr(backend_obj, "adapter", None)
    if adapter is None:
        folder = Path(resolve_model(str(model)).path) if name in LOCAL_CHECKPOINT else None
        if folder is None or not folder.is_dir():
            return sampling
        from transformers import AutoConfig

        from tvgbench.models import adapter_for
        from tvgbench.models.base import peft_base

        base = peft_base(folder) if not (folder / "config.json").is_file() else None  # a LoRA adapter: its base's
        config_folder = resolve_model(base).path if base else folder
        adapter = adapter_for(AutoConfig.from_pretrained(config_folder), str(model))
    return replace(sampling, **adapter.sampling_factors())


def make_backend(name: str, model: str, params: GenParams, **options) -> Backend:
    """Load the named backend for ``model`` (a folder, or the served model name for ``openai``)."""
    if name == "hf":
        from tvgbench.harness.backends.hf import HFBackend

        return HFBackend(model, params, **options)
    if name == "vllm":
        from tvgbench.harness.backends.vllm import VLLMBackend

        return VLLMBackend(model, params, **options)
    if name == "openai":
        from tvgbench.harness.backends.openai import OpenAIBackend

        return OpenAIBackend(model, params, **options)
    raise Timer1Error(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "Backend", "GenParams", "Generation", "check_backend", "family_sampling", "make_backend"]

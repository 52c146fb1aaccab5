"""Inference backends behind one small interface (see :mod:`.base`); each imported only when chosen."""

from __future__ import annotations

from tvgbench.core.errors import Timer1Error
from tvgbench.harness.backends.base import Backend, Generation, GenParams
from tvgbench.models.base import check_checkpoint

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


__all__ = ["BACKENDS", "Backend", "GenParams", "Generation", "check_backend", "make_backend"]

"""Inference backends behind one small interface (see :mod:`.base`); each imported only when chosen."""

from __future__ import annotations

from tvgbench.core.errors import Timer1Error
from tvgbench.harness.backends.base import Backend, Generation, GenParams

BACKENDS = ("hf", "vllm", "openai")


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


__all__ = ["BACKENDS", "Backend", "GenParams", "Generation", "make_backend"]

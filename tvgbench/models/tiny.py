"""A tiny random model of a supported family that builds and loads offline (``timer1 model tiny``).

Used by the tests, the quick start and the trainer's CPU recipe. Each family builds its own
(:meth:`tvgbench.models.ModelAdapter.build_tiny`; Qwen2.5-VL's is :mod:`tvgbench.models.qwen2_5_vl.tiny`).
"""

from __future__ import annotations

from pathlib import Path

from tvgbench.models import adapter_class

DEFAULT_MODEL_TYPE = "qwen2_5_vl"


def build_tiny_model(out_dir, seed: int = 0, hidden_size: int = 64, num_heads: int = 4,
                     model_type: str = DEFAULT_MODEL_TYPE) -> Path:
    """Build, save and return a tiny random model folder of ``model_type`` (replaces ``out_dir`` atomically)."""
    return adapter_class(model_type).build_tiny(out_dir, seed=seed, hidden_size=hidden_size, num_heads=num_heads)

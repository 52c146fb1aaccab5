"""``timer1 model tiny``: a tiny random model of a supported family that builds and loads offline.

Used by the tests, the quick start and the trainer's CPU recipe. Each family builds its own
(:meth:`tvgbench.models.ModelAdapter.build_tiny`; Qwen2.5-VL's is :mod:`tvgbench.models.qwen2_5_vl.tiny`).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from .errors import Timer1Error
from .models import adapter_class

DEFAULT_MODEL_TYPE = "qwen2_5_vl"


def build_tiny_model(out_dir, seed: int = 0, hidden_size: int = 64, num_heads: int = 4,
                     model_type: str = DEFAULT_MODEL_TYPE) -> Path:
    """Build, save and return a tiny random model folder of ``model_type`` (replaces ``out_dir`` atomically)."""
    return adapter_class(model_type).build_tiny(out_dir, seed=seed, hidden_size=hidden_size, num_heads=num_heads)


@click.command("tiny")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder to write (replaced if it exists).")
@click.option("--seed", default=0, show_default=True, help="Seed for the tokenizer corpus and the weights.")
@click.option("--hidden-size", default=64, show_default=True, help="Text hidden size.")
@click.option("--num-heads", default=4, show_default=True, help="Attention heads (vLLM needs hidden_size/num_heads >= 32).")
def tiny_cmd(out_dir, seed, hidden_size, num_heads):
    """Build a tiny random Qwen2.5-VL (tokenizer, config, weights) that loads offline.

    \b
    Example:
      timer1 model tiny -o tiny-qwen
      python -c "from transformers import Qwen2_5_VLForConditionalGeneration as M; M.from_pretrained('tiny-qwen')"
    """
    try:
        path = build_tiny_model(out_dir, seed=seed, hidden_size=hidden_size, num_heads=num_heads)
    except ValueError as e:
        raise Timer1Error(str(e)) from None
    except OSError as e:
        raise Timer1Error(f"cannot write {out_dir}: {e.strerror or e}") from None
    info = json.loads((path / "timer1_tiny.json").read_text())
    size_kb = sum(f.stat().st_size for f in path.iterdir()) / 1024
    family = adapter_class(DEFAULT_MODEL_TYPE).family
    click.echo(f"tiny {family}: {info['parameters']:,} parameters, {size_kb:.0f} KB -> {path}")

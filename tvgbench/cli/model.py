"""``timer1 model``: model utilities (the tiny offline Qwen2.5-VL)."""

from __future__ import annotations

import json

import click

from tvgbench.cli.main import LazyGroup
from tvgbench.core.errors import Timer1Error


@click.group("model", cls=LazyGroup, entry_point_group="timer1.model")
def model():
    """Model utilities (build the tiny offline Qwen2.5-VL used by tests and CPU recipes)."""


@click.command("tiny")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write: new, empty or an earlier tiny model (replaced).")
@click.option("--overwrite", is_flag=True, help="Write beside files timer1 did not write (those are never touched).")
@click.option("--seed", default=0, show_default=True, help="Seed for the tokenizer corpus and the weights.")
@click.option("--hidden-size", default=64, show_default=True, help="Text hidden size.")
@click.option("--num-heads", default=4, show_default=True, help="Attention heads (vLLM needs hidden_size/num_heads >= 32).")
def tiny_cmd(out_dir, seed, hidden_size, num_heads, overwrite):
    """Build a tiny random Qwen2.5-VL (tokenizer, config, weights) that loads offline.

    \b
    Example:
      timer1 model tiny -o tiny-qwen
      python -c "from transformers import Qwen2_5_VLForConditionalGeneration as M; M.from_pretrained('tiny-qwen')"
    """
    import os
    from pathlib import Path

    from tvgbench.core.outdir import check_output_dir
    from tvgbench.models import adapter_class
    from tvgbench.models.qwen2_5_vl.tiny import tiny_ownership
    from tvgbench.models.tiny import DEFAULT_MODEL_TYPE, build_tiny_model

    target = Path(os.path.abspath(out_dir))
    # refuse before torch is imported; the build itself never touches files it did not write
    check_output_dir(target, out_dir, tiny_ownership(target), overwrite=overwrite, command="timer1 model tiny")
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

"""``timer1 model``: model utilities (the supported families, a tiny offline model of each)."""

from __future__ import annotations

import json

import click

from tvgbench.cli.main import LazyGroup
from tvgbench.core.errors import Timer1Error
from tvgbench.models.base import FAMILIES


@click.group("model", cls=LazyGroup, entry_point_group="timer1.model")
def model():
    """Model utilities: the supported families, and a tiny offline model of each (tests, CPU recipes)."""


@model.command("families")  # registered here, not as an entry point: it lives beside the group
@click.option("--json", "as_json", is_flag=True, help="One JSON object per family instead of the table.")
def families_cmd(as_json):
    """The supported model families: config.json model types, how each learns time, backends, training.

    \b
    Example:
      timer1 model families
      timer1 model families --json
    """
    from tvgbench.models.base import family_rows, family_table

    rows = family_rows()
    click.echo(json.dumps(rows, indent=2) if as_json else family_table(rows))


@click.command("tiny")
@click.option("--family", "model_type", default="qwen2_5_vl", show_default=True, type=click.Choice(list(FAMILIES)),
              help="The family's config.json model_type (see `timer1 model families`).")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write: new, empty or an earlier tiny model (replaced).")
@click.option("--overwrite", is_flag=True, help="Write beside files timer1 did not write (those are never touched).")
@click.option("--seed", default=0, show_default=True, help="Seed for the tokenizer corpus and the weights.")
@click.option("--hidden-size", default=64, show_default=True, help="Text hidden size.")
@click.option("--num-heads", default=4, show_default=True, help="Attention heads (vLLM needs hidden_size/num_heads >= 32).")
def tiny_cmd(out_dir, model_type, seed, hidden_size, num_heads, overwrite):
    """Build a tiny random model of a family (tokenizer, config, weights) that loads offline.

    \b
    Example:
      timer1 model tiny -o tiny-qwen
      timer1 model tiny --family qwen2_5_vl -o tiny-qwen
      python -c "from transformers import Qwen2_5_VLForConditionalGeneration as M; M.from_pretrained('tiny-qwen')"
    """
    import os
    from pathlib import Path

    from tvgbench.core.outdir import check_output_dir
    from tvgbench.models import adapter_class
    from tvgbench.models.qwen2_5_vl.tiny import tiny_ownership
    from tvgbench.models.tiny import build_tiny_model

    target = Path(os.path.abspath(out_dir))
    # refuse before torch is imported; the build itself never touches files it did not write
    # a family whose tiny model writes other files than Qwen2.5-VL's says which (its adapter's tiny_ownership)
    ownership = getattr(adapter_class(model_type), "tiny_ownership", tiny_ownership)
    check_output_dir(target, out_dir, ownership(target), overwrite=overwrite, command="timer1 model tiny")
    try:
        path = build_tiny_model(out_dir, seed=seed, hidden_size=hidden_size, num_heads=num_heads, model_type=model_type)
    except ValueError as e:
        raise Timer1Error(str(e)) from None
    except OSError as e:
        raise Timer1Error(f"cannot write {out_dir}: {e.strerror or e}") from None
    info = json.loads((path / "timer1_tiny.json").read_text())
    size_kb = sum(f.stat().st_size for f in path.iterdir()) / 1024
    family = adapter_class(model_type).family
    click.echo(f"tiny {family}: {info['parameters']:,} parameters, {size_kb:.0f} KB -> {path}")

"""``timer1 eval baseline``: blind-baseline predictions, a floor for every model."""

from __future__ import annotations

import click

from tvgbench.core.outdir import check_output_file
from tvgbench.harness.baselines import KINDS, write_baseline


@click.command("baseline")
@click.option("--split", "split_dir", required=True, type=click.Path(), help="Split folder to predict for.")
@click.option("--split-name", default=None, help="Which split in the folder, when it holds several.")
@click.option("--kind", type=click.Choice(KINDS), default="middle", show_default=True, help="Which blind baseline.")
@click.option("--prior-split", type=click.Path(), default=None,
              help="For --kind prior: the split whose mean GT span is used (default: the split itself).")
@click.option("-o", "--out", "out_path", required=True, type=click.Path(dir_okay=False), help="Predictions JSONL to write.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
def baseline_cmd(split_dir, split_name, kind, prior_split, out_path, overwrite):
    """Write blind-baseline predictions (no video) for every query: a floor for every model."""
    check_output_file(out_path, overwrite=overwrite)
    path = write_baseline(split_dir, out_path, kind, split=split_name, prior_split=prior_split)
    click.echo(f"{kind} baseline -> {path}")

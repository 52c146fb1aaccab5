"""``timer1 eval``: scoring (and, from the harness, running models)."""

from __future__ import annotations

import json

import click

from tvgbench.cli.main import LazyGroup


@click.group("eval", cls=LazyGroup, entry_point_group="timer1.eval")
def eval_group():
    """Score predictions and evaluate models on TVG splits."""


@click.command("score")
@click.argument("predictions", type=click.Path(dir_okay=False))
@click.option("--split", "split_dir", required=True, type=click.Path(), help="Split folder (HF layout) or parquet file.")
@click.option("--split-name", default=None, help="Which split in the folder, when it holds several.")
@click.option("--compat", type=click.Choice(["timer1"]), default=None,
              help="Reproduce Time-R1's eval_all.py exactly (IoU > θ, loaded-lines denominator, last duplicate wins).")
@click.option("--bootstrap", default=1000, show_default=True, help="Bootstrap resamples (over videos) for 95% intervals; 0 turns them off.")
@click.option("--seed", default=0, show_default=True, help="Bootstrap seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (schema: tvgbench/core/scores.schema.json).")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Also write the JSON result to this file.")
@click.option("--allow-unknown", is_flag=True,
              help="Score even when most predictions name qids the split does not hold (else exit 2: a wrong --split?).")
def score_cmd(predictions, split_dir, split_name, compat, bootstrap, seed, as_json, out, allow_unknown):
    """Score PREDICTIONS (JSONL) against a split: R1@0.3/0.5/0.7, mIoU, breakdowns, 95% CIs.

    \b
    Lines: {"qid", "pred": [s, e]} | {"qid", "text": raw output} | Time-R1 evaluate.py lines
           | {"qid", "windows": [[s, e, score], ...]} (adds R5@θ).
    """
    from tvgbench.core.scoring import score, unknown_predictions, unknown_warning
    from tvgbench.core.report import print_score_table, write_json_atomic

    result = score(predictions, split_dir, mode=compat or "canonical", split_name=split_name,
                   bootstrap=bootstrap, seed=seed)
    warning = unknown_warning(*unknown_predictions(result), result["split"]["name"], split_dir, allow=allow_unknown)
    if warning:
        click.echo(warning, err=True)
    if out:
        write_json_atomic(out, result)
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print_score_table(result)

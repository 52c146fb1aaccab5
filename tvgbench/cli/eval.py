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
@click.option("--compat", type=click.Choice(["timer1", "timelens", "lmms-eval", "moment-detr"]), default=None,
              help="Reproduce a peer's scorer exactly: timer1 = Time-R1's eval_all.py (IoU > θ, loaded-lines "
                   "denominator, last duplicate wins); timelens = TimeLens's compute_metrics.py, lmms-eval = its "
                   "temporal_grounding_charades (IoU >= θ, entries in the file, the peer's parser); moment-detr = "
                   "moment_detr's standalone_eval (QVHighlights: R1 vs the best true window, mAP, highlights).")
@click.option("--bootstrap", default=1000, show_default=True, help="Bootstrap resamples (over videos) for 95% intervals; 0 turns them off.")
@click.option("--seed", default=0, show_default=True, help="Bootstrap seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (schema: tvgbench/core/scores.schema.json).")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Also write the JSON result to this file.")
@click.option("--allow-unknown", is_flag=True,
              help="Score even when most predictions name qids the split does not hold (else exit 2: a wrong --split?).")
@click.option("--timer1-videos", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Time-R1 lines from a run that skipped missing videos (its ids shift): the videos that run had, "
                   "one per line, to number its ids as its loader did (without it, shifted ids are matched on "
                   "each line's target).")
def score_cmd(predictions, split_dir, split_name, compat, bootstrap, seed, as_json, out, allow_unknown,
              timer1_videos):
    """Score PREDICTIONS (JSONL) against a split: R1@0.3/0.5/0.7, mIoU, breakdowns, 95% CIs.

    \b
    Lines: {"qid", "pred": [s, e]} | {"qid", "text": raw output} | Time-R1 evaluate.py lines
           | {"qid", "windows": [[s, e, score], ...]} (adds R5@θ)
           | moment_detr lines {"qid", "pred_relevant_windows": [[s, e, score], ...], "pred_saliency_scores"}.
    Peers' files too: TimeLens / lmms-eval result dicts {"video>>>query>>>span": text | {"timestamps",
    "answers"}} (JSON or JSONL) and lmms-eval --log_samples JSONL, matched to the split by video and query.

    \b
    Example:
      timer1 eval score PRED --split SPLIT --compat timelens
    """
    from tvgbench.core.scoring import score, unknown_predictions, unknown_warning
    from tvgbench.core.report import print_score_table, write_json_atomic

    result = score(predictions, split_dir, mode=compat or "canonical", split_name=split_name,
                   bootstrap=bootstrap, seed=seed, timer1_videos=timer1_videos)
    if result.get("timer1_ids", {}).get("shifted"):
        ids = result["timer1_ids"]
        click.echo(f"note: {ids['shifted']} Time-R1 ids were shifted by a run that skipped videos; matched to "
                   f"their queries by the {ids['realigned_by']}", err=True)
    warning = unknown_warning(*unknown_predictions(result), result["split"]["name"], split_dir, allow=allow_unknown)
    if warning:
        click.echo(warning, err=True)
    peer = result.get("peer_file")
    if peer and (peer["unmatched"] or peer["span_disagreements"]):
        click.echo(f"warning: {peer['format']} file: {peer['unmatched']} entries match no query of the split, "
                   f"{peer['span_disagreements']} carry a span that differs from the split's "
                   f"(first: {(peer['examples'].get('span_disagreements') or peer['examples'].get('unmatched'))[0]})",
                   err=True)
    if out:
        write_json_atomic(out, result)
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print_score_table(result)


@click.command("compare")
@click.argument("predictions", type=click.Path(dir_okay=False))
@click.option("--split", "split_dir", required=True, type=click.Path(), help="Split folder (HF layout) or parquet file.")
@click.option("--split-name", default=None, help="Which split in the folder, when it holds several.")
@click.option("--timer1-videos", type=click.Path(dir_okay=False, exists=True), default=None,
              help="The videos a Time-R1 run had, for its shifted ids (see eval score).")
@click.option("--json", "as_json", is_flag=True, help="Print the table and the reasons as JSON.")
def compare_cmd(predictions, split_dir, split_name, timer1_videos, as_json):
    """The same PREDICTIONS under every applicable convention, with the reasons they differ.

    canonical, timer1 (Time-R1), timelens, lmms-eval (and moment-detr on a multi-window split), each
    as `eval score --compat` gives it; then parse failures per parser, queries on a threshold (>= vs >)
    and what each denominator counts.

    \b
    Example:
      timer1 eval compare PRED --split SPLIT
    """
    from rich.console import Console
    from rich.table import Table

    from tvgbench.core.compare import HEADLINE, compare, reason_lines

    result = compare(predictions, split_dir, split_name, timer1_videos)
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
        return
    table = Table(title=f"{predictions} on {split_dir}")
    for col in ("convention", *HEADLINE, "hit rule", "denominator", "units", "unparseable"):
        table.add_column(col, justify="left" if col in ("convention", "hit rule", "denominator") else "right")
    for mode, row in result["modes"].items():
        if "error" in row:
            table.add_row(mode, *["-"] * len(HEADLINE), "refused", row["error"][:60], "-", "-")
            continue
        table.add_row(mode, *(f"{row['metrics'][m]:.2f}" for m in HEADLINE), row["hit_rule"], row["denominator"],
                      str(row["units"]), str(row["unparseable"]))
    console = Console(width=max(Console().width, 150))  # nine columns: never squeezed into 80
    console.print(table)
    for line in reason_lines(result):
        console.print(line)


eval_group.add_command(compare_cmd)


@click.command("convert")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--to", "to", required=True, type=click.Choice(["timelens", "lmms-eval", "moment-detr", "timer1"]),
              help="The peer's format: TimeLens / lmms-eval result dicts, moment_detr submission JSONL, Time-R1 "
                   "evaluate.py lines.")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="The file to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
def convert_cmd(run_dir, to, out, overwrite):
    """Write a run's predictions in a peer's own format, for the peer's scorer.

    `eval score --compat PEER` of the written file gives the run's scores in that convention.

    \b
    Example:
      timer1 eval convert RUN --to timelens -o timelens_results.json
    """
    from tvgbench.harness.convert import convert_run

    done = convert_run(run_dir, to, out, overwrite=overwrite)
    click.echo(f"{done['format']}: {done['queries']} queries ({done['with_prediction']} with a prediction) -> {out}")


eval_group.add_command(convert_cmd)

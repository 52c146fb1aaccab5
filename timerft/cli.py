"""``timer1 data difficulty`` and ``timer1 data build timerft``."""

from __future__ import annotations

import json
import shlex

import click

from tvgbench.core.errors import Timer1Error


@click.command("difficulty")
@click.argument("predictions", type=click.Path())
@click.option("--split", "split_dir", required=True, type=click.Path(), help="Split folder the predictions answer.")
@click.option("--split-name", default=None, help="Split inside --split (default: the only one).")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output split folder: the scored samples with `difficulty` and `pred` set (a TimeRFT pool).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--overwrite", is_flag=True,
              help="Replace the split if OUT already holds it, or write beside files timer1 did not write "
                   "(those are never touched).")
@click.option("--allow-unknown", is_flag=True,
              help="Write the pool even when most predictions name qids the split does not hold "
                   "(else exit 2: a wrong --split?).")
def difficulty(predictions, split_dir, split_name, out_dir, as_json, overwrite, allow_unknown):
    """Difficulty = 100 x IoU of a model's prediction per sample (higher = easier, as Time-R1).

    PREDICTIONS is a JSONL file with `qid` and `pred` (or raw `text`, parsed with Time-R1's
    difficulty-pass parser: the first two numbers). Samples without a line are left out.
    """
    from tvgbench.core.outdir import staged_output
    from tvgbench.core.splits import load_split, split_ownership, write_split
    from tvgbench.data.cards import write_build_card

    from tvgbench.core.scoring import unknown_warning

    from .difficulty import DIFFICULTY_PARSER, score_difficulty, unknown_predictions

    split = load_split(split_dir, split_name)
    result = score_difficulty(predictions, split.samples)
    warning = unknown_warning(*unknown_predictions(result.stats), split.name, split_dir, allow=allow_unknown)
    if warning:
        click.echo(warning, err=True)
    build = {"command": "timer1 data difficulty " + " ".join(shlex.quote(str(a)) for a in (
                 predictions, "--split", split_dir, *(["--split-name", split_name] if split_name else []),
                 "-o", out_dir)),
             "predictions": str(predictions), "split": str(split_dir), "split_content_hash": split.content_hash,
             "parser": DIFFICULTY_PARSER, "difficulty": "100 x IoU (tvgbench.core.metrics.temporal_iou_array)"}
    with staged_output(out_dir, overwrite=overwrite, command="timer1 data difficulty",
                       owned=lambda d: split_ownership(d, split.name)) as staging:
        info = write_split(result.samples, staging, split.name, window_mode=split.window_mode, build=build,
                           report={"difficulty": result.stats})
        write_build_card(staging, kind="generic", plots=False, pretty_name="timer1 difficulty-scored pool")
    if as_json:
        click.echo(json.dumps({"out": str(out_dir), "content_hash": info.content_hash, **result.stats}, indent=2))
        return
    st = result.stats
    click.echo(f"scored {st['scored']} of {st['split_samples']} samples ({st['missing']} without a prediction, "
               f"{st['unknown_qids']} unknown qids, {st['parsed_from_text']} parsed from text, "
               f"{st['unparsed']} unparsable -> difficulty 0)")
    click.echo(f"R@0.3 {st['R@0.3']}  R@0.5 {st['R@0.5']}  R@0.7 {st['R@0.7']}  mean difficulty {st['mean_difficulty']}")
    click.echo(f"wrote {out_dir} (split '{split.name}'), content hash {info.content_hash}")


@click.command("timerft")
@click.option("--pool", "pool_dir", required=True, type=click.Path(), help="Split folder with `difficulty` values.")
@click.option("--pool-split", default=None, help="Split inside --pool (default: the only one).")
@click.option("--k", "k", default=2500, show_default=True, type=int, help="How many samples to select.")
@click.option("--rule", type=click.Choice(["gaussian", "keep-0-0.7"]), default="gaussian", show_default=True,
              help="gaussian: weighted draw over IoU > 0; keep-0-0.7: the sample-filter rule.")
@click.option("--center", default=0.3, show_default=True, type=float, help="Gaussian centre (IoU).")
@click.option("--sigma", default=0.2, show_default=True, type=float, help="Gaussian standard deviation (IoU).")
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed of the Gaussian draw.")
@click.option("--all", "keep_all", is_flag=True, help="keep-0-0.7 only: keep every qualifying sample, ignore --k.")
@click.option("--split", "split", default="train", show_default=True, help="Split name to write.")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output split folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the selection summary as JSON.")
@click.option("--overwrite", is_flag=True,
              help="Replace the split if OUT already holds it, or write beside files timer1 did not write "
                   "(those are never touched).")
def build_timerft(pool_dir, pool_split, k, rule, center, sigma, seed, keep_all, split, out_dir, as_json, overwrite):
    """Select a TimeRFT-style training set from a difficulty-scored pool.

    \b
    Gaussian (Time-R1's gaussian_03, seeded): k samples without replacement among IoU > 0, weight
    exp(-(IoU - center)^2 / (2 sigma^2)).
    keep-0-0.7 (the per-epoch sample filter): keep 0 < IoU <= 0.7; more than k: k evenly spaced by difficulty.

    \b
    Example:
      timer1 data difficulty preds.jsonl --split pool -o pool-scored
      timer1 data build timerft --pool pool-scored --k 2500 --seed 0 -o timerft-2k5
    """
    import numpy as np

    from tvgbench.core.outdir import staged_output
    from tvgbench.core.splits import load_split, split_ownership, write_split
    from tvgbench.data.cards import write_build_card

    from .selection import gaussian_select, iou_of, keep_0_07

    ctx = click.get_current_context()
    explicit = {name for name in ("center", "sigma", "seed", "keep_all")
                if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
    if rule == "gaussian" and "keep_all" in explicit:
        raise Timer1Error("--all applies to --rule keep-0-0.7 only")
    if rule != "gaussian" and explicit & {"center", "sigma", "seed"}:
        raise Timer1Error("--center, --sigma and --seed apply to the gaussian rule only (keep-0-0.7 is deterministic)")
    pool = load_split(pool_dir, pool_split)
    if not pool.samples:
        raise Timer1Error(f"empty pool: {pool_dir} holds no samples")
    diff = [s.difficulty for s in pool.samples]
    if all(d is None for d in diff):
        raise Timer1Error(f"the pool {pool_dir} has no difficulty values; run `timer1 data difficulty` first")
    if rule == "gaussian":
        chosen = gaussian_select(diff, k, center=center, sigma=sigma, seed=seed)
    else:
        chosen = keep_0_07(diff, None if keep_all else k)
    samples = [pool.samples[i] for i in chosen]
    iou = iou_of([s.difficulty for s in samples])
    selection = {
        "rule": rule, "k": None if (rule != "gaussian" and keep_all) else k, "seed": seed if rule == "gaussian" else None,
        "center": center if rule == "gaussian" else None, "sigma": sigma if rule == "gaussian" else None,
        "pool": len(pool.samples), "eligible": int(np.sum(np.isfinite(iou_of(diff)) & (iou_of(diff) > 0))),
        "selected": len(samples), "iou_mean": float(np.mean(iou)), "iou_median": float(np.median(iou)),
        "difficulty_histogram": np.histogram(100 * iou, bins=10, range=(0, 100))[0].tolist(),
    }
    command = ["timer1 data build timerft --pool", shlex.quote(str(pool_dir)),
               *(["--pool-split", pool_split] if pool_split else []), "--rule", rule]
    command += ["--k", str(k), "--center", str(center), "--sigma", str(sigma), "--seed", str(seed)] \
        if rule == "gaussian" else (["--all"] if keep_all else ["--k", str(k)])
    command += ["--split", shlex.quote(split), "-o", shlex.quote(str(out_dir))]
    build = {"command": " ".join(command), "seed": seed if rule == "gaussian" else None,
             "pool": str(pool_dir), "pool_content_hash": pool.content_hash}
    with staged_output(out_dir, overwrite=overwrite, command="timer1 data build timerft",
                       owned=lambda d: split_ownership(d, split)) as staging:
        info = write_split(samples, staging, split, window_mode=pool.window_mode, build=build,
                           report={"selection": selection})
        write_build_card(staging, kind="timerft")
    if as_json:
        click.echo(json.dumps({"out": str(out_dir), "content_hash": info.content_hash, **selection}, indent=2))
        return
    click.echo(f"selected {selection['selected']} of {selection['pool']} ({selection['eligible']} with IoU > 0) "
               f"by {rule}; IoU mean {selection['iou_mean']:.3f}, median {selection['iou_median']:.3f}")
    click.echo("difficulty histogram (0-10 ... 90-100): " + " ".join(map(str, selection["difficulty_histogram"])))
    click.echo(f"wrote {out_dir} (split '{split}'), content hash {info.content_hash}")

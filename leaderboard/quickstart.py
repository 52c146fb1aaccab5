"""``timer1 quickstart``: the whole pipeline on the embedded synthetic benchmark, offline, on CPU.

synth split (rendered videos, exact spans) → a tiny random model (Qwen2.5-VL unless ``--family``) →
``eval run`` (hf backend) and a blind baseline → canonical scores → leaderboard (SQLite in the output folder) → static site.
It lives in ``leaderboard`` because that is the one package allowed to use all the others it needs.
"""

from __future__ import annotations

import re
from pathlib import Path

import click

from tvgbench.models.base import FAMILIES


@click.command("quickstart")
@click.option("-o", "--out", "out_dir", default="timer1-quickstart", show_default=True,
              type=click.Path(file_okay=False), help="Folder for everything the pipeline writes.")
@click.option("--videos", default=4, show_default=True, type=click.IntRange(min=1), help="Synthetic videos to render.")
@click.option("--seed", default=0, show_default=True, help="Seed for the videos and the tiny model.")
@click.option("--family", "model_type", default="qwen2_5_vl", show_default=True, type=click.Choice(list(FAMILIES)),
              help="The tiny model's family, by config.json model_type (see `timer1 model families`).")
@click.option("--max-new-tokens", default=48, show_default=True, type=click.IntRange(min=1),
              help="Generation length for the tiny model (its output is random text).")
@click.pass_context
def quickstart(ctx, out_dir, videos, seed, model_type, max_new_tokens):
    """Run synth → tiny model → eval run → score → leaderboard → static site, in minutes on a CPU."""
    from tvgbench.harness.baselines import write_baseline
    from tvgbench.harness.runner import run_eval
    from tvgbench.harness.config import RunConfig
    from tvgbench.data.synth import make_synthetic
    from tvgbench.models import adapter_class
    from tvgbench.models.tiny import build_tiny_model

    from .cli import export_cmd, show_cmd
    from .service import submit_file
    from .store import open_store

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    split = out / "synth"
    click.echo(f"[1/5] synthetic benchmark ({videos} videos, seed {seed}) -> {split}")
    make_synthetic(split, n_videos=videos, seed=seed)
    model = out / "tiny-model"
    family = adapter_class(model_type).family
    run_name = "tiny-" + re.sub(r"[^a-z0-9.]+", "-", family.lower())  # tiny-qwen2.5-vl, tiny-internvl3-3.5
    click.echo(f"[2/5] tiny random {family} -> {model}")
    build_tiny_model(model, seed=seed, model_type=model_type)
    click.echo("[3/5] predictions: the tiny model (hf backend, r1 prompt, 2 fps) and a blind baseline")
    # one query per generate call: on a CPU the tiny model runs a batch of four no faster, and the batch's
    # padded prefill (video tokens x video tokens attention, four at once) was ~0.6 GB of the quickstart's peak
    summary = run_eval(RunConfig(split, model=model, backend="hf", prompt="r1", out_dir=out / "runs" / run_name,
                                 overwrite=True, gen={"max_new_tokens": max_new_tokens}, batch_size=1))
    baseline = write_baseline(split, out / "runs" / "baseline-middle" / "predictions.jsonl", "middle")
    db = out / "leaderboard.sqlite"
    click.echo(f"[4/5] leaderboard submissions -> {db}")
    with open_store(db) as store:
        for name, path, meta in (
            (f"{run_name} (random init)", out / "runs" / run_name / "predictions.jsonl",
             ["backend=hf", "prompt=r1", f"max_new_tokens={max_new_tokens}"]),
            ("baseline: middle half", baseline, ["blind=yes"]),
        ):
            submit_file(store, path, split, model_name=name, meta=meta)
    ctx.invoke(show_cmd, split_name=None, sort="R1@0.5", db=str(db), as_json=False)
    site = out / "site"
    click.echo(f"[5/5] static leaderboard site -> {site}/index.html")
    ctx.invoke(export_cmd, out_dir=str(site), split_name=None, sort="R1@0.5", db=str(db))
    click.echo(f"done: tiny model status {summary.get('status')}; run report: timer1 eval report "
               f"{out / 'runs' / run_name}")

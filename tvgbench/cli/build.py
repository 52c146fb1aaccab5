"""``timer1 data build``: balanced benchmark splits (``tvgbench``) and training splits (``timerft``, in timerft/)."""

from __future__ import annotations

import json
import os
import shlex
import time
from pathlib import Path

import click

from tvgbench.cli.main import LazyGroup
from tvgbench.core.errors import Timer1Error


@click.group("build", cls=LazyGroup, entry_point_group="timer1.data.build")
def build():
    """Build balanced benchmark and training splits from candidate queries."""


@click.command("tvgbench")
@click.option("--source", "sources", multiple=True, required=True, metavar="[NAME=]PATH[:FORMAT]",
              help="Candidate queries (repeatable). NAME renames the source (default: each record's own); "
                   "FORMAT is an ingest format or 'split' for a timer1 split folder (default: inferred).")
@click.option("--size", default=800, show_default=True, type=click.IntRange(min=1), help="Queries to select.")
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed (same seed and inputs, same files).")
@click.option("--min-per-type", default=20, show_default=True, type=click.IntRange(min=0),
              help="Minimum queries per query type, where supply and the duration balance allow.")
@click.option("--split", "split", default="test", show_default=True, help="Split name to write.")
@click.option("--keep-flagged", is_flag=True,
              help="Keep zero-length spans and spans that end past the video (dropped by default).")
@click.option("--keep-ambiguous", is_flag=True,
              help="Keep queries repeated on the same clip with different spans (dropped by default).")
@click.option("--no-redistribute", is_flag=True,
              help="When a duration bin lacks supply, write fewer than --size queries instead of spreading the "
                   "shortfall over the other bins (every stocked bin stays at the uniform target).")
@click.option("--reclassify", is_flag=True, help="Predict query types even where a source releases them.")
@click.option("--license", "license_", default="other", show_default=True, help="Card license (Hub identifier).")
@click.option("--no-plots", is_flag=True, help="Do not draw the balance plots.")
@click.option("--json", "as_json", is_flag=True, help="Print the balance report as JSON.")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output split folder.")
@click.option("--overwrite", is_flag=True,
              help="Replace the split if OUT already holds it, or write beside files timer1 did not write "
                   "(those are never touched).")
def build_tvgbench(sources, size, seed, min_per_type, split, keep_flagged, keep_ambiguous, no_redistribute,
                   reclassify, license_,
                   no_plots, as_json, out_dir, overwrite):
    """Select a TVGBench-style balanced benchmark from candidate queries.

    Uniform over the nine 20-second duration bins (videos of 180 s or more excluded), spread across
    sources within each bin and over query-centre deciles, with a minimum per query type. Writes
    OUT/data/<split>-*.parquet, OUT/README.md (card with provenance and balance plots) and
    OUT/timer1.json (build command, seed, content hash, balance report).

    \b
    Example:
      timer1 data build tvgbench --source charades=charades-sta/test.json \\
          --source activitynet=activitynet/val_2.json --size 800 --seed 0 -o tvgbench-ca
    """
    from tqdm import tqdm

    from tvgbench.core.outdir import check_output_dir, staged_output
    from tvgbench.core.splits import split_ownership, write_split
    from tvgbench.data.build import BuildConfig, build_balanced, format_balance, load_source, parse_source_spec

    started = time.perf_counter()
    target = Path(os.path.abspath(out_dir))
    # refuse before the build; the swap checks again what it would replace
    check_output_dir(target, out_dir, split_ownership(target, split), overwrite=overwrite,
                     command="timer1 data build tvgbench")
    specs = [parse_source_spec(s) for s in sources]
    loaded = [load_source(spec) for spec in tqdm(specs, desc="reading sources", unit="source",
                                                 disable=len(specs) < 2, leave=False)]
    modes = {ls.window_mode for ls in loaded}
    if len(modes) > 1:
        raise Timer1Error("sources disagree on window handling (crop vs pretrimmed); build them separately")
    candidates = [s for ls in loaded for s in ls.samples]
    config = BuildConfig(size=size, seed=seed, min_per_type=min_per_type,
                         drop_flags=() if keep_flagged else BuildConfig().drop_flags,
                         drop_ambiguous=not keep_ambiguous, redistribute=not no_redistribute)
    result = build_balanced(candidates, config, reclassify=reclassify, progress=True)
    from tvgbench.data.qtype import MODEL_VERSION

    build_info = {
        "command": "timer1 data build tvgbench " + " ".join(
            [*(f"--source {shlex.quote(s)}" for s in sources), f"--size {size}", f"--seed {seed}",
             f"--min-per-type {min_per_type}", f"--split {shlex.quote(split)}",
             *(["--keep-flagged"] if keep_flagged else []), *(["--keep-ambiguous"] if keep_ambiguous else []),
             *(["--no-redistribute"] if no_redistribute else []),
             *(["--reclassify"] if reclassify else []), "-o", shlex.quote(str(out_dir))]),
        "builder": "tvgbench.build", "seed": seed,  # the builder's recorded name, stable across code moves
        "size": size, "min_per_type": min_per_type,
        "drop_flags": list(config.drop_flags), "drop_ambiguous": config.drop_ambiguous,
        "redistribute": config.redistribute,
        "qtype_model": MODEL_VERSION,
        "sources": [{"name": ls.spec.name, "path": ls.spec.path, "format": ls.fmt, "sha256": ls.sha256,
                     "records": len(ls.samples), "ingest": ls.report} for ls in loaded],
    }
    from tvgbench.data.cards import write_build_card

    with staged_output(out_dir, overwrite=overwrite, command="timer1 data build tvgbench",
                       owned=lambda d: split_ownership(d, split)) as staging:
        info = write_split(result.samples, staging, split, window_mode=modes.pop(), build=build_info,
                           report={"balance": result.report})
        write_build_card(staging, kind="tvgbench", license=license_, plots=not no_plots)
    elapsed = time.perf_counter() - started
    if as_json:
        click.echo(json.dumps({"out": str(out_dir), "split": split, "content_hash": info.content_hash,
                               "seconds": round(elapsed, 3), "balance": result.report}, indent=2))
        return
    for line in format_balance(result.report):
        click.echo(line)
    click.echo(f"wrote {info.n} queries to {out_dir} (split '{split}') in {elapsed:.2f} s; "
               f"content hash {info.content_hash}")


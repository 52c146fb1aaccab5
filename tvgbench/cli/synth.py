"""``timer1 data synth``: render the synthetic diagnostic benchmark."""

from __future__ import annotations

import shutil

import click

from tvgbench.core.errors import Timer1Error
from tvgbench.core.outdir import staged_output
from tvgbench.data.synth import MAX_DURATION_S, MIN_DURATION_S, make_synthetic, synth_ownership


@click.command("synth")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder (split files plus videos/).")
@click.option("--videos", "n_videos", default=8, show_default=True, type=click.IntRange(min=1),
              help="How many videos to render (11 queries each).")
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed (same seed, same files).")
@click.option("--split", "split", default="test", show_default=True, help="Split name to write.")
@click.option("--max-duration", default=MAX_DURATION_S, show_default=True, type=float,
              help=f"Longest video in seconds (at least {MIN_DURATION_S:g}).")
@click.option("--overwrite", is_flag=True,
              help="Replace the split if OUT already holds it, or write beside files timer1 did not write "
                   "(those are never touched).")
def synth_cmd(out_dir, n_videos, seed, split, max_duration, overwrite):
    """Render a synthetic grounding benchmark whose events happen at exactly known times.

    Writes OUT/data/<split>-*.parquet, OUT/README.md and OUT/videos/*.mp4; the records' `video` is
    relative to OUT, so pass OUT as --video-root.
    """
    if shutil.which("ffmpeg") is None:
        raise Timer1Error("ffmpeg is not on PATH (install it, e.g. apt-get install ffmpeg)")
    with staged_output(out_dir, overwrite=overwrite, command="timer1 data synth",
                       owned=lambda d: synth_ownership(d, split)) as staging:
        res = make_synthetic(staging, n_videos, seed, split=split, max_duration=max_duration, progress=True)
    counts: dict[str, int] = {}
    for s in res.samples:
        counts[s.qtype] = counts.get(s.qtype, 0) + 1
    click.echo(f"synth: {len(res.samples)} queries over {res.n_videos} videos -> {out_dir} "
               f"(split '{res.split}', {res.seconds:.1f} s)")
    for name, n in sorted(counts.items()):
        click.echo(f"  {name}: {n}")
    click.echo(f"  content hash {res.content_hash}")

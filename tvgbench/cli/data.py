"""``timer1 data``: ingest raw annotations into canonical splits (builders add more commands)."""

from __future__ import annotations

import json

import click

from tvgbench.cli.main import LazyGroup


@click.group("data", cls=LazyGroup, entry_point_group="timer1.data")
def data():
    """Ingest, synth, build, preprocess, publish and download TVG splits (and score their difficulty)."""


# tvgbench.data.sources.FORMATS plus auto (spelled out here: importing the sources loads pyarrow; a test keeps them equal)
INGEST_FORMATS = ("timer1-tvgbench", "timer1-timerft", "charades-sta", "activitynet", "charades-sta-txt",
                  "charades-cd", "timelens", "ego4d-nlq", "qvhighlights", "auto")


@click.command("ingest")
@click.argument("src", type=click.Path())
@click.option("--format", "fmt", required=True, type=click.Choice(INGEST_FORMATS),
              help="Format of SRC; auto detects it from the file's keys and names the one it found.")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output split folder.")
@click.option("--split", "split", default=None, help="Split name (default: test, or train for training files).")
@click.option("--end-tolerance", default=5.0, show_default=True,
              help="Seconds a span end may pass the duration and still be kept (flagged).")
@click.option("--durations", type=click.Path(dir_okay=False), default=None,
              help="charades-sta-txt only: the Charades_v1_*.csv with video lengths.")
@click.option("--ego4d-videos", type=click.Choice(["full", "clips"]), default="full", show_default=True,
              help="ego4d-nlq only: full videos <video_uid>.mp4 (the clip is the window) or clip files <clip_uid>.mp4.")
@click.option("--json", "as_json", is_flag=True, help="Print the ingestion summary as JSON.")
@click.option("--overwrite", is_flag=True,
              help="Replace the split if OUT already holds it, or write beside files timer1 did not write "
                   "(those are never touched).")
def ingest_cmd(src, fmt, out_dir, split, end_tolerance, durations, ego4d_videos, as_json, overwrite):
    """Validate SRC and write it as a canonical split (parquet + data card) under OUT.

    OUT may already hold other splits (they are kept); a split of the same name needs --overwrite.

    \b
    Example:
      timer1 data ingest --format auto charades-sta/test.json -o charades-test
    """
    from tvgbench.core.outdir import staged_output
    from tvgbench.core.splits import split_ownership, write_split
    from tvgbench.data.sources import FORMATS, ingest, resolve_format
    from tvgbench.data.sources.detect import format_hint

    asked = fmt
    fmt = resolve_format(fmt, src)
    if asked == "auto" and not as_json:
        click.echo(f"detected format: {fmt}")
    kwargs = {"durations": durations} if fmt == "charades-sta-txt" else {}
    clips = fmt == "ego4d-nlq" and ego4d_videos == "clips"
    if clips:
        kwargs = {"videos": "clips"}
    result = ingest(fmt, src, end_tolerance=end_tolerance, **kwargs)
    if not result.samples:
        from tvgbench.core.errors import Timer1Error

        raise Timer1Error(f"no valid records in {src} ({result.report.top_rejections()}){format_hint(fmt, src, result.report, FORMATS)}")
    name = split or result.default_split
    report = result.report.to_dict()
    with staged_output(out_dir, overwrite=overwrite, command="timer1 data ingest",
                       owned=lambda d: split_ownership(d, name)) as staging:
        info = write_split(
            result.samples, staging, name, window_mode=result.window_mode,
            build={"command": "ingest", "format": fmt, "source_file": str(src), "end_tolerance": end_tolerance,
                   **({"ego4d_videos": "clips"} if clips else {})},
            report={**report, **({"bin_differences": result.extra["bin_differences"]} if "bin_differences" in result.extra else {})},
            benchmark={k: result.extra[k] for k in ("pretty_name", "convention") if k in result.extra} or None,
        )
    if as_json:
        detected = {"format": fmt} if asked == "auto" else {}
        click.echo(json.dumps({"split": name, "out": out_dir, "content_hash": info.content_hash, **detected, **report},
                              indent=2))
        return
    click.echo(f"{fmt}: {src} -> {out_dir} (split '{name}')")
    click.echo(f"  kept {report['kept']} (of which {report['kept_with_flags']} flagged), rejected {report['rejected']}")
    for k, v in report["flags"].items():
        click.echo(f"  flag     {k}: {v}")
    for k, v in report["rejections"].items():
        click.echo(f"  rejected {k}: {v}  e.g. {report['examples'][k][0]}")
    if report["rejected"] >= report["kept"]:  # many rejected: the commonest reasons first, with counts
        click.echo(f"  most rejections: {result.report.top_rejections()}")
    for note in report["notes"][:20]:
        click.echo(f"  note: {note}")
    if len(report["notes"]) > 20:
        click.echo(f"  ... {len(report['notes']) - 20} more notes in {out_dir}/timer1.json")
    click.echo(f"  content hash {info.content_hash}")

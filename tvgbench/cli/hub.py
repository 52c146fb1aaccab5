"""``timer1 data publish`` and ``timer1 data download``: the Hub commands over :mod:`tvgbench.data.hub`."""

from __future__ import annotations

import click

from tvgbench.data.hub import download, publish
from tvgbench.data.hub.plan import SHARD_INDEX, human_size, parse_size


@click.command("publish")
@click.argument("split_dir", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--repo-id", required=True, help="Hub dataset repo, ORG/NAME (created when missing).")
@click.option("--private", is_flag=True, help="Create the repo as private.")
@click.option("--revision", default=None, help="Branch to commit to (created when missing; default main).")
@click.option("--dry-run", is_flag=True, help="Print the file plan and sizes; upload nothing.")
@click.option("--with-videos", "video_root", default=None, type=click.Path(file_okay=False),
              help="Also upload the referenced videos, read from this folder, as tar shards.")
@click.option("--shard-size", default="2GB", show_default=True, help="Largest video shard (e.g. 500MB, 2GB).")
@click.option("--stage-dir", default=None, type=click.Path(file_okay=False),
              help="Where to stage files before upload (default: the timer1 user cache).")
@click.option("-m", "--message", default=None, help="Commit message of the final commit.")
def publish_cmd(split_dir, repo_id, private, revision, dry_run, video_root, shard_size, stage_dir, message):
    """Publish split folder DIR to the Hugging Face Hub in one atomic annotations commit.

    Videos (--with-videos) go first, one resumable commit per shard: shards the Hub already holds are
    skipped, so re-running after an interruption continues. The token comes from `hf auth login` or HF_TOKEN.
    """
    res = publish(split_dir, repo_id, private=private, revision=revision, video_root=video_root,
                  dry_run=dry_run, stage_dir=stage_dir, shard_bytes=parse_size(shard_size),
                  commit_message=message, log=click.echo)
    total = sum(f.size for f in res.files)
    if dry_run:
        click.echo(f"dry run: would publish {split_dir} to {repo_id}"
                   f"{' (private)' if private else ''} at {revision or 'main'}: {len(res.files)} files, "
                   f"{'~' if video_root else ''}{human_size(total)}")
        for f in res.files:
            extra = f"  ({len(f.members)} video{'s' if len(f.members) != 1 else ''})" if f.members else ""
            size = "(written at publish)" if f.path_in_repo == SHARD_INDEX else human_size(f.size)
            click.echo(f"  {f.commit:<11} {f.path_in_repo:<48} {size:>12}{extra}")
        n_shards = sum(f.commit == "shard" for f in res.files)
        click.echo(f"commits: {n_shards} shard commit(s), then 1 atomic annotations commit")
        return
    click.echo(f"published {split_dir} to {repo_id} ({len(res.uploaded)} uploaded, {len(res.skipped)} already there, "
               f"{len(res.deleted)} stale removed): {res.commit_url or 'ok'}")


@click.command("download")
@click.argument("target", metavar="tvgbench|timerft|ORG/NAME")
@click.option("-o", "--out", default=None, type=click.Path(file_okay=False),
              help="Canonical split folder to write (default: ./tvgbench, ./timerft or ./NAME).")
@click.option("--local-dir", default=None, type=click.Path(file_okay=False),
              help="Where to put the raw snapshot (default: the Hugging Face cache).")
@click.option("--videos/--no-videos", default=True, show_default=True, help="Also fetch and unpack the videos.")
@click.option("--revision", default=None, help="Branch, tag or commit to download.")
@click.option("--from-dir", default=None, type=click.Path(file_okay=False),
              help="Ingest an already-downloaded folder instead (works offline).")
@click.option("--annotations", default=None, type=click.Path(dir_okay=False),
              help="The Time-R1 annotation JSON when the snapshot lacks it (tvgbench.json / train_2k5.json).")
def download_cmd(target, out, local_dir, videos, revision, from_dir, annotations):
    """Download TVGBench, TimeRFT (official Time-R1 release) or a timer1-published repo as canonical splits."""
    res = download(target, out=out, local_dir=local_dir, videos=videos, revision=revision, from_dir=from_dir,
                   annotations=annotations)
    parts = ", ".join(f"{k}: {v} records" for k, v in sorted(res.splits.items()))
    click.echo(f"{target} ({res.source}) -> {res.out}  [{parts}]")
    if videos:
        if res.video_root is not None:
            click.echo(f"  videos: {res.videos_found} found, {res.videos_missing} missing; "
                       f"use --video-root {res.video_root}")
        else:
            click.echo("  videos: none found in the download")

"""``timer1 data preprocess``: fill the frame cache (and optional proxies) for a split."""

from __future__ import annotations

import json
import sys

import click

from tvgbench.video.config import SamplingConfig, field_default, field_help


def _sampling_option(flag: str, name: str, **kw):
    """An option for SamplingConfig field ``name``: its default and (unless given) help are the field's."""
    kw.setdefault("help", field_help(SamplingConfig, name))
    return click.option(flag, default=field_default(SamplingConfig, name), show_default=True, **kw)


@click.command("preprocess")
@click.argument("split_dir", type=click.Path(file_okay=False))
@click.option("--video-root", required=True, type=click.Path(file_okay=False), help="Folder the records' video paths are relative to.")
@click.option("--cache", "cache_dir", required=True, type=click.Path(file_okay=False), help="Frame cache folder (created; resumable).")
@click.option("--split-name", default=None, help="Split to use when SPLIT_DIR holds several.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 256), help="Parallel decoding processes.")
@click.option("--decoder", default="auto", show_default=True, type=click.Choice(["auto", "decord", "pyav"]),
              help="auto: decord's frame count, fps and frames, read by PyAV's sequential decode (faster; "
                   "shares cache entries with decord). pyav: PyAV's own count and fps.")
@_sampling_option("--resize", "resize", type=click.Choice(["fast", "torch"]),
                  help="fast: torch uint8 kernel (≤1.0 mean abs of the reference); torch: the reference float resize.")
@_sampling_option("--fps", "fps", type=click.FloatRange(min=0.01))
@_sampling_option("--max-frames", "max_frames", type=click.IntRange(2))
@_sampling_option("--total-pixels", "total_pixels", type=click.IntRange(784))
@_sampling_option("--min-pixels", "min_pixels", type=click.IntRange(784))
@_sampling_option("--max-pixels", "max_pixels", type=click.IntRange(784))
@click.option("--proxy-dir", default=None, type=click.Path(file_okay=False),
              help="Also make small h264 proxies here and decode from them (counts, sizes and times stay the source's).")
@click.option("--proxy-height", default=360, show_default=True, type=click.IntRange(28), help="Proxy short side at most.")
@click.option("--proxy-fps", default=4.0, show_default=True, type=click.FloatRange(min=0.5), help="Proxy fps at most.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def preprocess(split_dir, video_root, cache_dir, split_name, workers, decoder, resize, fps, max_frames, total_pixels,
               min_pixels, max_pixels, proxy_dir, proxy_height, proxy_fps, as_json, quiet):
    """Decode, sample and resize every (video, window) of SPLIT_DIR once into a compact uint8 cache.

    \b
    Finished entries are skipped, so an interrupted run resumes where it stopped. Videos that are
    missing, empty, truncated or undecodable are listed with the reason in
    CACHE/preprocess_report.json and the run goes on; the exit code is then 3 (partial), as
    `eval run`'s. The harness and the trainer read the cache through
    tvgbench.video.sample_for_record(..., cache_dir=CACHE); they hit it when they use the same
    sampling settings (fps, frames, pixels, decoder, resize).

    \b
    Under torchrun or srun each process takes its rank's share of the videos (as `eval run` does;
    report CACHE/preprocess_report.rank-K-of-N.json):
      torchrun --nproc_per_node 4 --no-python timer1 data preprocess SPLIT --video-root DIR --cache DIR
    """
    from tvgbench.harness.distributed import launch_from_env
    from tvgbench.video.preprocess import preprocess as run_preprocess

    launch = launch_from_env()  # RANK/WORLD_SIZE (torchrun, accelerate) or SLURM_PROCID/SLURM_NTASKS

    config = SamplingConfig(fps=fps, max_frames=max_frames, total_pixels=total_pixels, min_pixels=min_pixels,
                            max_pixels=max_pixels, decoder=decoder, resize=resize)
    report = run_preprocess(split_dir, video_root, cache_dir, split=split_name, workers=workers, config=config,
                            proxy_dir=proxy_dir, proxy_limits=(proxy_height, proxy_fps), progress=not quiet,
                            shard=(launch.rank, launch.world_size) if launch else (0, 1))
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        _echo_report(report, cache_dir)
    if report["failed_entries"]:
        from tvgbench.cli.harness import EXIT_PARTIAL

        sys.exit(EXIT_PARTIAL)  # as `eval run`: finished, but some records have no frames (the report says why)


def _echo_report(report: dict, cache_dir) -> None:
    from tvgbench.video.preprocess import report_name

    click.echo(f"{report['records']} records -> {report['entries']} cache entries in {cache_dir}: "
               f"{report['cached_now']} new, {report['already_cached']} already cached, {report['failed_entries']} failed")
    if report["float32_bytes_equivalent"]:
        ratio = report["bytes_written"] / report["float32_bytes_equivalent"]
        click.echo(f"  wrote {report['bytes_written'] / 1e6:.1f} MB ({ratio:.1%} of a float32 cache)")
    for f in report["failures"][:20]:
        click.echo(f"  FAILED {f['reason']:<11} {f['video']} ({f['n_qids']} records){': ' + f['detail'] if f['detail'] else ''}")
    if len(report["failures"]) > 20:
        click.echo(f"  ... {len(report['failures']) - 20} more in {cache_dir}/{report_name(tuple(report.get('shard', (0, 1))))}")

"""``timer1 eval run|merge|report|qa`` and ``timer1 predict`` (click only at import time)."""

from __future__ import annotations

import json
import sys

import click

EXIT_PARTIAL = 3  # the run finished but some queries failed (bad videos): their lines say why


def _model_options(f):
    opts = [
        click.option("--model", required=True, help="Model folder (hf, vllm) or served model name (openai)."),
        click.option("--backend", type=click.Choice(["hf", "vllm", "openai"]), default="hf", show_default=True,
                     help="Inference engine."),
        click.option("--prompt", default=None,
                     help="Preset (r1, default, nothink, r1_nocot, v2, v3, timezero, demo; mcq_* for QA) or a prompt FILE."),
        click.option("--layout", type=click.Choice(["default", "timer1-eval", "timer1-train"]), default="default",
                     show_default=True, help="Chat message layout (see tvgbench.prompts)."),
        click.option("--max-new-tokens", default=1024, show_default=True, type=click.IntRange(min=1)),
        click.option("--temperature", default=0.0, show_default=True, type=float, help="0 = greedy."),
        click.option("--top-p", default=1.0, show_default=True, type=float),
        click.option("--top-k", default=-1, show_default=True, type=int, help="-1 = off."),
        click.option("--seed", default=0, show_default=True, type=int, help="Sampling seed (ignored when greedy)."),
        click.option("--fps", default=2.0, show_default=True, type=float, help="Frames per second to sample."),
        click.option("--max-frames", default=768, show_default=True, type=int),
        click.option("--min-pixels", default=16 * 28 * 28, show_default=True, type=int, help="Per-frame pixel floor."),
        click.option("--max-pixels", default=768 * 28 * 28, show_default=True, type=int, help="Per-frame pixel cap."),
        click.option("--total-pixels", default=3584 * 28 * 28, show_default=True, type=int,
                     help="Pixel budget over all frames (Time-R1: 3584*28*28)."),
        click.option("--decoder", type=click.Choice(["decord", "pyav"]), default="decord", show_default=True),
        click.option("--resize", type=click.Choice(["fast", "torch"]), default="fast", show_default=True,
                     help="fast: the decoder scales; torch: full frames + torch bicubic antialias (Time-R1 exact)."),
        click.option("--device", default="auto", show_default=True, help="hf backend: cpu, cuda, cuda:1 or auto."),
        click.option("--threads", default=None, type=click.IntRange(min=1),
                     help="hf backend on CPU: torch intra-op threads [default: torch's choice]."),
        click.option("--dtype", default="auto", show_default=True, help="hf/vllm: auto, float32, bfloat16, float16."),
        click.option("--api-base", default="http://127.0.0.1:8000/v1", show_default=True,
                     help="openai backend: the endpoint (a vLLM server, or an API)."),
        click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True,
                     help="openai backend: environment variable holding the key (never passed on the command line)."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _sampling(kw):
    from ..video import SamplingConfig

    return SamplingConfig(fps=kw["fps"], max_frames=kw["max_frames"], min_pixels=kw["min_pixels"],
                          max_pixels=kw["max_pixels"], total_pixels=kw["total_pixels"], decoder=kw["decoder"],
                          resize=kw["resize"])


def _gen(kw):
    from .backends.base import GenParams

    return GenParams(max_new_tokens=kw["max_new_tokens"], temperature=kw["temperature"], top_p=kw["top_p"],
                     top_k=kw["top_k"], seed=kw["seed"])


def _backend_options(kw) -> dict:
    if kw["backend"] == "openai":
        return {"api_base": kw["api_base"], "api_key_env": kw["api_key_env"]}
    if kw["backend"] == "vllm":
        return {"dtype": kw["dtype"]}
    return {"device": kw["device"], "dtype": kw["dtype"], "threads": kw["threads"]}


def _echo_summary(summary: dict) -> None:
    c = summary["counts"]
    click.echo(f"{summary['status']}: {c['lines']} predictions in {summary['out_dir']} "
               f"({c['errors']} errors{' ' + json.dumps(c['errors_by_reason']) if c['errors'] else ''}, {c['unparsed']} unparsed)")
    sess = summary.get("last_session") or {}
    if sess.get("queries_per_s"):
        click.echo(f"this session: {sess['written']} queries in {sess['seconds']:.1f} s ({sess['queries_per_s']:.2f}/s)")
    if summary.get("scores"):
        m = summary["scores"]["metrics"]
        click.echo("  ".join(f"{k} {v:.2f}" for k, v in m.items()))


@click.command("run")
@click.option("--split", "split_dir", required=True, type=click.Path(), help="Split folder (timer1 / HF layout).")
@click.option("--split-name", default=None, help="Which split in the folder, when it holds several.")
@click.option("--video-root", default=None, type=click.Path(), help="Folder the records' video paths are relative to [default: the split folder].")
@_model_options
@click.option("--parser", type=click.Choice(["canonical", "timer1-eval", "timer1-train", "timer1-force"]),
              default="canonical", show_default=True, help="How raw text becomes the line's span.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Run folder to write.")
@click.option("--resume", is_flag=True, help="Continue a killed run in --out (same settings required).")
@click.option("--overwrite", is_flag=True, help="Replace an existing run in --out.")
@click.option("--shard", default=None, help="Evaluate shard i of n (i/n, contiguous chunks); join with `eval merge`.")
@click.option("--batch-size", default=4, show_default=True, type=click.IntRange(min=1))
@click.option("--limit", default=None, type=click.IntRange(min=1), help="Only the first K queries (of the shard).")
@click.option("--workers", default=None, type=click.IntRange(min=0),
              help="Decode threads running ahead of the model (0 = decode inline)  [default: cores - 1, 1 to 4]")
@click.option("--cache-dir", default=None, type=click.Path(file_okay=False), help="Reuse/keep sampled frames here.")
@click.option("--bootstrap", default=1000, show_default=True, help="Bootstrap resamples for the 95% intervals.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def run(split_dir, split_name, video_root, parser, out_dir, resume, overwrite, shard, batch_size, limit, workers,
        cache_dir, bootstrap, quiet, **kw):
    """Evaluate a model on a TVG split: predictions.jsonl, run.json and scores.json in --out.

    \b
    Exit status: 0 clean; 3 finished with per-query errors (bad videos, counted as misses);
    2 bad input. Kill it any time and rerun with --resume: the result equals an uninterrupted run.
    \b
    Example (CPU, offline):
      timer1 data synth -o synth && timer1 model tiny -o tiny
      timer1 eval run --split synth --model tiny --out runs/tiny --max-new-tokens 64
    \b
    Time-R1's own evaluation (scripts/test.sh), setting for setting:
      --prompt nothink --layout timer1-eval --parser timer1-eval --resize torch
      then: timer1 eval score RUN/predictions.jsonl --split SPLIT --compat timer1
    """
    from .runner import run_eval

    summary = run_eval(
        split_dir, video_root or split_dir, kw["model"], backend=kw["backend"], prompt=kw["prompt"] or "r1",
        out_dir=out_dir, resume=resume, overwrite=overwrite, batch_size=batch_size, limit=limit, shard=shard,
        layout=kw["layout"], parser=parser, sampling=_sampling(kw), gen=_gen(kw), workers=workers,
        split_name=split_name, cache_dir=cache_dir, backend_options=_backend_options(kw), progress=not quiet,
        bootstrap=bootstrap,
    )
    _echo_summary(summary)
    if summary["status"] != "clean":
        sys.exit(EXIT_PARTIAL)


@click.command("merge")
@click.argument("shard_dirs", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Merged run folder.")
@click.option("--allow-missing", is_flag=True, help="Merge even when some shards or queries are absent.")
@click.option("--bootstrap", default=1000, show_default=True)
def merge(shard_dirs, out_dir, allow_missing, bootstrap):
    """Join the shard runs of one evaluation (`eval run --shard i/n`) and score the whole split."""
    from .merge import merge_runs

    summary = merge_runs(shard_dirs, out_dir, allow_missing=allow_missing, bootstrap=bootstrap)
    _echo_summary(summary)
    if summary["status"] != "clean":
        sys.exit(EXIT_PARTIAL)


@click.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.option("-o", "--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Where to write report.md and the PNGs [default: RUN_DIR/report].")
@click.option("--vs", "other", default=None, type=click.Path(file_okay=False, exists=True),
              help="A second run to compare side by side (paired on shared queries).")
@click.option("--bootstrap", default=1000, show_default=True)
def report(run_dir, out_dir, other, bootstrap):
    """Markdown + PNG report of a run: per-query-type bars with 95% CIs, IoU histogram, centre/length scatter, parse failures."""
    from .report import write_report

    path = write_report(run_dir, out_dir, other=other, bootstrap=bootstrap)
    click.echo(f"report: {path}")


@click.command("qa")
@click.option("--dataset", required=True, type=click.Choice(["mvbench", "tempcompass", "videomme", "egoschema"]))
@click.option("--root", required=True, type=click.Path(file_okay=False, exists=True),
              help="The dataset folder in its public layout (see tvgbench.harness.qa).")
@click.option("--subset", default=None, help="videomme: short|medium|long; egoschema: MC|Subset; tempcompass: multi-choice.")
@_model_options
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--resume", is_flag=True)
@click.option("--overwrite", is_flag=True)
@click.option("--batch-size", default=4, show_default=True, type=click.IntRange(min=1))
@click.option("--limit", default=None, type=click.IntRange(min=1))
@click.option("--workers", default=None, type=click.IntRange(min=0),
              help="Decode threads running ahead of the model (0 = decode inline)  [default: cores - 1, 1 to 4]")
@click.option("--quiet", is_flag=True)
def qa(dataset, root, subset, out_dir, resume, overwrite, batch_size, limit, workers, quiet, **kw):
    """Multiple-choice video QA (MVBench, TempCompass, VideoMME, EgoSchema): accuracy with breakdowns.

    EgoSchema without answers writes the official submission file; nothing is sent anywhere.
    """
    from .qa import run_qa

    summary = run_qa(dataset, root, kw["model"], backend=kw["backend"], prompt=kw["prompt"] or "mcq_r1",
                     out_dir=out_dir, subset=subset, resume=resume, overwrite=overwrite, batch_size=batch_size,
                     limit=limit, layout=kw["layout"], sampling=_sampling(kw), gen=_gen(kw), workers=workers,
                     backend_options=_backend_options(kw), progress=not quiet)
    acc = summary["scores"]
    click.echo(f"{summary['status']}: {summary['counts']['lines']} answers in {summary['out_dir']}")
    if acc.get("accuracy") is not None:
        click.echo(f"accuracy {acc['accuracy']:.2f} ({acc['correct']}/{acc['scored']})")
    if acc.get("submission"):
        click.echo(f"submission file: {acc['submission']}")
    if summary["status"] != "clean":
        sys.exit(EXIT_PARTIAL)


@click.command("predict")
@_model_options
@click.option("--video", required=True, type=click.Path(dir_okay=False), help="The video file.")
@click.option("--query", required=True, help="The sentence to ground.")
@click.option("--window", nargs=2, type=float, default=None, help="Only look at [S, E] seconds of the video.")
@click.option("--gt", nargs=2, type=float, default=None, help="The true span [S, E] (seconds, clip time) to compare with.")
@click.option("--parser", type=click.Choice(["canonical", "timer1-eval", "timer1-train", "timer1-force"]),
              default="canonical", show_default=True)
@click.option("--plot", default=None, type=click.Path(dir_okay=False), help="Write a timeline PNG here.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def predict(video, query, window, gt, parser, plot, as_json, **kw):
    """Ground one query in one video: prints the reasoning, the parsed span and the settings used.

    \b
    Example:
      timer1 predict --model tiny --video synth/videos/synth_0_000.mp4 --query "a red square appears" --plot t.png
    """
    from .predict import predict_one

    result = predict_one(kw["model"], video, query, backend=kw["backend"], prompt=kw["prompt"] or "r1",
                         layout=kw["layout"], parser=parser, window=tuple(window) if window else None,
                         gt=tuple(gt) if gt else None, sampling=_sampling(kw), gen=_gen(kw),
                         backend_options=_backend_options(kw), plot=plot)
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
        return
    click.echo("── model output " + "─" * 40)
    click.echo(result["text"])
    click.echo("── result " + "─" * 46)
    span = result["pred"]
    click.echo(f"parsed span: {'none (unparseable)' if span is None else f'{span[0]:.2f} to {span[1]:.2f} s'}"
               + (f"   flags: {', '.join(result['parse_flags'])}" if result["parse_flags"] else ""))
    if result.get("gt") is not None:
        click.echo(f"true span:   {result['gt'][0]:.2f} to {result['gt'][1]:.2f} s   IoU {result['iou']:.3f}")
    v = result["video"]
    click.echo(f"video: {v['n_frames']} frames at {v['sample_fps']:.3f} fps, {v['frame_size'][0]}x{v['frame_size'][1]} px, "
               f"clip {result['duration']:.2f} s")
    s = result["settings"]
    click.echo(f"settings: backend {s['backend']}, prompt {s['prompt']['name']} ({s['prompt']['sha256'][:12]}), "
               f"layout {s['prompt']['layout']}, parser {parser}, "
               f"{'greedy' if s['generation']['greedy'] else 'T=' + str(s['generation']['temperature'])}, "
               f"max_new_tokens {s['generation']['max_new_tokens']}")
    if plot:
        click.echo(f"plot: {plot}")

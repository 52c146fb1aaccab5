"""``timer1 eval run|merge|report|qa`` and ``timer1 predict`` (click only at import time)."""

from __future__ import annotations

import json
import sys

import click

from tvgbench.core.parsing import VARIANTS
from tvgbench.harness.backends.base import GenParams
from tvgbench.harness.config import (EvalConfig, ModelConfig, PredictConfig, QARunConfig, QA_DATASETS, RunConfig,
                                     parse_engine_args)
from tvgbench.models.base import FAMILIES
from tvgbench.models.prompts import LAYOUTS, PROMPT_HELP
from tvgbench.video.config import RESIZE_MODES, SamplingConfig, field_default, field_help

EXIT_PARTIAL = 3  # the run finished but some queries failed (bad videos): their lines say why


def _field_option(flag: str, cls, name: str, **kw):
    """A click option whose default (and, unless given, help) is dataclass ``cls``'s field ``name``'s."""
    default = field_default(cls, name)
    kw.setdefault("help", field_help(cls, name))
    return click.option(flag, default=default, show_default=default is not None, **kw)


def _flag(flag: str, cls, name: str):
    return click.option(flag, is_flag=True, help=field_help(cls, name))


def _model_options(f):
    opts = [
        click.option("--model", required=True, help=field_help(ModelConfig, "model")),
        _field_option("--backend", ModelConfig, "backend", type=click.Choice(["hf", "vllm", "openai"])),
        # no default here: eval run / predict ask with "r1", eval qa with "mcq_r1" (the configs' defaults)
        click.option("--prompt", default=None, help=PROMPT_HELP),
        _field_option("--layout", ModelConfig, "layout", type=click.Choice(LAYOUTS)),
        _field_option("--max-new-tokens", GenParams, "max_new_tokens", type=click.IntRange(min=1)),
        _field_option("--temperature", GenParams, "temperature", type=float, help="0 = greedy."),
        _field_option("--top-p", GenParams, "top_p", type=float),
        _field_option("--top-k", GenParams, "top_k", type=int, help="-1 = off."),
        _field_option("--seed", GenParams, "seed", type=int, help="Sampling seed (ignored when greedy)."),
        _field_option("--fps", SamplingConfig, "fps", type=float),
        _field_option("--max-frames", SamplingConfig, "max_frames", type=int),
        _field_option("--min-pixels", SamplingConfig, "min_pixels", type=int),
        _field_option("--max-pixels", SamplingConfig, "max_pixels", type=int),
        _field_option("--total-pixels", SamplingConfig, "total_pixels", type=int),
        _field_option("--decoder", SamplingConfig, "decoder", type=click.Choice(["decord", "pyav"])),
        _field_option("--resize", SamplingConfig, "resize", type=click.Choice(RESIZE_MODES)),
        # backend options: their defaults are the backends' own (tests/test_harness_config.py checks)
        click.option("--device", default="auto", show_default=True, help="hf backend: cpu, cuda, cuda:1 or auto."),
        click.option("--threads", default=None, type=click.IntRange(min=1),
                     help="hf backend on CPU: torch intra-op threads [default: torch's choice]."),
        click.option("--dtype", default="auto", show_default=True, help="hf/vllm: auto, float32, bfloat16, float16."),
        click.option("--api-base", default="http://127.0.0.1:8000/v1", show_default=True,
                     help="openai backend: the endpoint (a vLLM server, or an API)."),
        click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True,
                     help="openai backend: environment variable holding the key (never passed on the command line)."),
        click.option("--family", default=None, type=click.Choice(list(FAMILIES)), help=field_help(ModelConfig, "family")),
        click.option("--engine-arg", "engine_args", multiple=True, metavar="KEY=VALUE",
                     help=field_help(ModelConfig, "engine_args")),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _run_options(f):
    """The options every run over many queries (eval run, eval qa) takes after the model's."""
    opts = [
        click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Run folder to write."),
        _flag("--resume", EvalConfig, "resume"),
        _flag("--overwrite", EvalConfig, "overwrite"),
        _field_option("--batch-size", EvalConfig, "batch_size", type=click.IntRange(min=1)),
        _field_option("--limit", EvalConfig, "limit", type=click.IntRange(min=1)),
        _field_option("--workers", EvalConfig, "workers", type=click.IntRange(min=0)),
        click.option("--quiet", is_flag=True, help="No progress bar."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _model_fields(kw: dict) -> dict:
    """The :class:`ModelConfig` fields the model options give (``--prompt`` only when given)."""
    sampling = SamplingConfig(fps=kw["fps"], max_frames=kw["max_frames"], min_pixels=kw["min_pixels"],
                              max_pixels=kw["max_pixels"], total_pixels=kw["total_pixels"], decoder=kw["decoder"],
                              resize=kw["resize"])
    gen = GenParams(max_new_tokens=kw["max_new_tokens"], temperature=kw["temperature"], top_p=kw["top_p"],
                    top_k=kw["top_k"], seed=kw["seed"])
    fields = {"model": kw["model"], "backend": kw["backend"], "layout": kw["layout"], "sampling": sampling, "gen": gen,
              "backend_options": _backend_options(kw)}
    if kw["prompt"]:
        fields["prompt"] = kw["prompt"]
    if kw["family"]:  # only when given: run.json's settings record it then
        fields["family"] = kw["family"]
    if kw["engine_args"]:  # the same
        fields["engine_args"] = parse_engine_args(kw["engine_args"])
    return fields


def _run_fields(kw: dict) -> dict:
    """The :class:`EvalConfig` fields of a run command: the model's plus the run options'."""
    return {**_model_fields(kw), "out_dir": kw["out_dir"], "resume": kw["resume"], "overwrite": kw["overwrite"],
            "batch_size": kw["batch_size"], "limit": kw["limit"], "workers": kw["workers"], "progress": not kw["quiet"]}


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
@click.option("--split", "split_dir", required=True, type=click.Path(), help=field_help(RunConfig, "split_dir"))
@_field_option("--split-name", RunConfig, "split_name")
@_field_option("--video-root", RunConfig, "video_root", type=click.Path())
@_model_options
@_field_option("--parser", ModelConfig, "parser", type=click.Choice(VARIANTS))
@_field_option("--shard", RunConfig, "shard")
@_field_option("--cache-dir", RunConfig, "cache_dir", type=click.Path(file_okay=False))
@_field_option("--bootstrap", RunConfig, "bootstrap", type=int)
@_run_options
def run(split_dir, split_name, video_root, parser, shard, cache_dir, bootstrap, **kw):
    """Evaluate a model on a TVG split: predictions.jsonl, run.json and scores.json in --out.

    \b
    Exit status: 0 clean; 3 finished with per-query errors (bad videos, counted as misses);
    2 bad input. Kill it any time and rerun with --resume: the result equals an uninterrupted run.
    \b
    Example (CPU, offline):
      timer1 data synth -o synth && timer1 model tiny -o tiny
      timer1 eval run --split synth --model tiny --out runs/tiny --max-new-tokens 64
    \b
    Example, Time-R1's own evaluation (scripts/test.sh), setting for setting:
      timer1 eval run --split SPLIT --model PATH --out RUN \\
          --prompt nothink --layout timer1-eval --parser timer1-eval --resize torch
      timer1 eval score RUN/predictions.jsonl --split SPLIT --compat timer1
    \b
    Under torchrun, accelerate launch or srun each process evaluates its rank's shard into
    RUN/shards/rank-K-of-N and the last to finish merges RUN (equal to a 1-process run):
      torchrun --nproc_per_node 2 --no-python timer1 eval run --split SPLIT --model PATH --out RUN
    """
    from tvgbench.harness.distributed import launch_from_env, refuse_explicit_shard
    from tvgbench.harness.runner import run_eval

    launch = launch_from_env()  # RANK/WORLD_SIZE (torchrun, accelerate) or SLURM_PROCID/SLURM_NTASKS
    if launch is not None:
        refuse_explicit_shard(shard, launch)
    config = RunConfig(split_dir, video_root, split_name=split_name, parser=parser, shard=shard,
                       cache_dir=cache_dir, bootstrap=bootstrap, **_run_fields(kw))
    if launch is not None:
        return _run_rank(config, launch)
    summary = run_eval(config)
    _echo_summary(summary)
    if summary["status"] != "clean":
        sys.exit(EXIT_PARTIAL)


def _run_rank(config: RunConfig, launch) -> None:
    """One rank of a distributed ``eval run``: its shard, then (the last rank to finish) the merged run."""
    from tvgbench.harness.distributed import run_rank

    result = run_rank(config, launch)
    who, shard = f"rank {launch.rank}/{launch.world_size}", result["shard"]
    if result["merged"] is not None:
        click.echo(f"{who}: all {launch.world_size} shards finished; merged into {config.out_dir}")
        _echo_summary(result["merged"])
    else:
        waiting = result["waiting_for"]
        later = (f"ranks {waiting} have not finished: the last to finish merges (after a failure, rerun the launch "
                 f"with --resume)" if waiting else f"another rank merged {config.out_dir}")
        click.echo(f"{who}: shard finished, {shard['counts']['lines']} predictions in {shard['out_dir']}; {later}")
    if (result["merged"] or shard)["status"] != "clean":
        sys.exit(EXIT_PARTIAL)


@click.command("merge")
@click.argument("shard_dirs", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Merged run folder.")
@click.option("--allow-missing", is_flag=True, help="Merge even when some shards or queries are absent.")
@click.option("--bootstrap", default=1000, show_default=True)
def merge(shard_dirs, out_dir, allow_missing, bootstrap):
    """Join the shard runs of one evaluation (`eval run --shard i/n`) and score the whole split."""
    from tvgbench.harness.merge import merge_runs

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
@click.option("--overwrite", is_flag=True,
              help="Write into an -o folder that holds other files (they are left untouched).")
@click.option("--vs-published", "vs_published", default=None, metavar="BENCHMARK",
              help="Put the run beside the published results of BENCHMARK (tvgbench/data/published.yaml: tvgbench, "
                   "charades-sta, activitynet, charades-timelens, ...), scored in each row's convention.")
def report(run_dir, out_dir, other, bootstrap, overwrite, vs_published):
    """Markdown + PNG report of a run: per-query-type bars with 95% CIs, IoU histogram, centre/length scatter, parse failures.

    \b
    Example:
      timer1 eval report RUN --vs-published tvgbench
    """
    from tvgbench.harness.report import write_report

    path = write_report(run_dir, out_dir, other=other, bootstrap=bootstrap, overwrite=overwrite,
                        vs_published=vs_published)
    click.echo(f"report: {path}")


@click.command("qa")
@click.option("--dataset", required=True, type=click.Choice(QA_DATASETS), help=field_help(QARunConfig, "dataset"))
@click.option("--root", required=True, type=click.Path(file_okay=False, exists=True), help=field_help(QARunConfig, "root"))
@_field_option("--subset", QARunConfig, "subset")
@_model_options
@_run_options
def qa(dataset, root, subset, **kw):
    """Multiple-choice video QA (MVBench, TempCompass, VideoMME, EgoSchema): accuracy with breakdowns.

    EgoSchema without answers writes the official submission file; nothing is sent anywhere.
    """
    from tvgbench.harness.distributed import refuse_launch
    from tvgbench.harness.qa import run_qa

    refuse_launch("eval qa")  # its ranks would all run the whole benchmark into one folder
    summary = run_qa(QARunConfig(dataset, root, subset=subset, **_run_fields(kw)))
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
@_field_option("--parser", ModelConfig, "parser", type=click.Choice(VARIANTS))
@click.option("--plot", default=None, type=click.Path(dir_okay=False), help="Write a timeline PNG here.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --plot file.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def predict(video, query, window, gt, parser, plot, overwrite, as_json, **kw):
    """Ground one query in one video: prints the reasoning, the parsed span and the settings used.

    \b
    Example:
      timer1 predict --model tiny --video synth/videos/synth_0_000.mp4 --query "a red square appears" --plot t.png
    """
    from tvgbench.core.outdir import check_output_file
    from tvgbench.harness.predict import predict_one

    if plot:  # before the model runs: a refusal costs nothing
        check_output_file(plot, overwrite=overwrite)
    result = predict_one(PredictConfig(parser=parser, **_model_fields(kw)), video, query,
                         window=tuple(window) if window else None, gt=tuple(gt) if gt else None, plot=plot)
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

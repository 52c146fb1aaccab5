"""Running a recipe: data and video → VideoGRPOTrainer → checkpoints, logs, optional sample filtering.

Output folder layout::

    OUTPUT/config.yaml          the resolved, validated config (what actually ran)
    OUTPUT/run.json             versions, timings, final metrics, per-round counts
    OUTPUT/train_log.jsonl      TRL's log history (loss, kl, rewards/<name>/mean, step_time, ...)
    OUTPUT/checkpoint-N/        resumable checkpoints (model, optimizer, scheduler, RNG, trainer state)
    OUTPUT/final/               the trained model (+ tokenizer), loadable by the eval harness
    OUTPUT/round-K/...          the same per round when sample filtering is on, plus filter/ and split/
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import sys
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import yaml

from tvgbench.core.errors import Timer1Error
from tvgbench.core.report import write_json_atomic, write_text_atomic
from tvgbench.core.splits import load_split
from tvgbench.models import adapter_for
from tvgbench.models.base import peft_base
from tvgbench.models.hub import resolve_model
from tvgbench.models.prompts import build_messages, get_prompt, render_prompt
from tvgbench.models.tiny import build_tiny_model
from tvgbench.video import sample_for_record

from .config import TrainConfig, require_runnable, sampling_config
from .distributed import check_launch, is_writer, process_args, refuse_unsupported, world_record, writer_first
from .model import freeze_vision, load_policy, lora_config, merge_adapter, projector_names
from .model_card import write_model_card
from .rewards import resolve_rewards
from .sample_filter import run_rounds

PROCESSOR_FILES = ("preprocessor_config.json", "video_preprocessor_config.json", "chat_template.jinja")


# -- inputs ----------------------------------------------------------------------------------------
class VideoInputs:
    """``row -> the family adapter's video inputs`` for the trainer: decode once per record, keep the last few.

    A prompt's G rollouts (and its old/ref/loss passes) share one decoded tensor; ``sampled(row)`` is the
    decoded frames themselves (what a vLLM rollout request carries).
    """

    def __init__(self, samples, video_root, window_mode: str, config, cache_dir=None, keep: int = 32, *, adapter):
        self.samples = {s.qid: s for s in samples}
        self.adapter = adapter
        self.video_root, self.window_mode, self.config, self.cache_dir = video_root, window_mode, config, cache_dir
        self.keep = keep
        self._memo: OrderedDict[str, tuple[dict, Any]] = OrderedDict()  # qid -> (inputs, sampled)

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        return self._decoded(row)[0]

    def sampled(self, row: dict[str, Any]):
        return self._decoded(row)[1]

    def _decoded(self, row: dict[str, Any]) -> tuple[dict, Any]:
        qid = row["qid"]
        if qid in self._memo:
            self._memo.move_to_end(qid)
            return self._memo[qid]
        sampled = sample_for_record(self.samples[qid], self.video_root, window_mode=self.window_mode,
                                    config=self.config, cache_dir=self.cache_dir)
        self._memo[qid] = (self.adapter.video_inputs(sampled), sampled)
        while len(self._memo) > self.keep:
            self._memo.popitem(last=False)
        return self._memo[qid]


def present_samples(samples, video_root) -> tuple[list, int]:
    """Records whose video file exists (Time-R1 drops the others silently; timer1 counts them)."""
    root = Path(video_root)
    kept = [s for s in samples if (root / s.video).is_file()]
    return kept, len(samples) - len(kept)


def build_rows(samples, tokenizer, prompt: str, layout: str) -> list[dict[str, Any]]:
    """Dataset rows: the rendered chat prompt (one video pad) plus what the rewards read."""
    preset = get_prompt(prompt, task="tg")
    rows = []
    for s in samples:
        text = render_prompt(tokenizer, build_messages(s.query, preset, layout), preset.assistant_prefix)
        rows.append({"prompt": text, "qid": s.qid, "span": list(s.span), "duration": float(s.duration)})
    return rows


def resolve_model_path(cfg: TrainConfig, out: Path) -> str:
    if cfg.model.path != "tiny" and peft_base(cfg.model.path) is not None:
        return start_from_adapter(cfg.model.path, out)
    if cfg.model.path != "tiny":
        return cfg.model.path

    target = out / "tiny-model"
    if not (target / "config.json").exists():
        build_tiny_model(target, seed=int(cfg.trl.get("seed", 0)), hidden_size=cfg.model.tiny_hidden_size,
                         num_heads=cfg.model.tiny_num_heads)
    return str(target)


def start_from_adapter(adapter_dir: str, out: Path) -> str:
    """A LoRA adapter folder (an SFT-LoRA final/) as a starting point: merged once into OUTPUT/start-model, so
    the policy and GRPO's KL reference (TRL loads it from the policy's path) both start from the SFT weights."""
    target = out / "start-model"
    if not (target / "config.json").exists():
        staging = out / ".start-model.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        merge_adapter(adapter_dir, staging)
        copy_processor_files(adapter_dir, staging)
        os.replace(staging, target)
    return str(target)


def pin_adapter_base(adapter_dir: Path, model_path: str) -> None:
    """adapter_config.json names its base as an absolute folder (or the Hub id): eval loads it from anywhere."""
    path = adapter_dir / "adapter_config.json"
    settings = json.loads(path.read_text())
    local = Path(model_path).expanduser()
    settings["base_model_name_or_path"] = str(local.resolve()) if local.exists() else model_path
    write_text_atomic(path, json.dumps(settings, indent=2, sort_keys=True) + "\n")


def finish_adapter(final: Path, model_path: str) -> None:
    """A LoRA run's final/ is the adapter (its base pinned); final/merged/ the plain checkpoint (vLLM, eval)."""
    pin_adapter_base(final, model_path)
    merge_adapter(final, final / "merged")
    copy_processor_files(model_path, final / "merged")


def default_trainer(cfg: TrainConfig):
    """The trainer class of the recipe's paradigm (imports TRL)."""
    if cfg.paradigm == "sft":
        from .video_sft import VideoSFTTrainer

        return VideoSFTTrainer
    from .video_grpo import VideoGRPOTrainer

    return VideoGRPOTrainer


def resolve_split(cfg: TrainConfig, out: Path) -> tuple[Path, str | None, Path]:
    """(split_dir, split name, video_root); renders the synthetic split when the recipe asks for one."""
    if cfg.data.synthetic is not None and not cfg.data.split_dir:
        from tvgbench.core.splits import list_splits
        from tvgbench.data.synth import make_synthetic

        target = out / "synthetic"
        if not (target.exists() and "train" in list_splits(target)):
            syn = cfg.data.synthetic
            make_synthetic(target, n_videos=syn.n_videos, seed=syn.seed, max_duration=syn.max_duration, split="train")
        return target, "train", Path(cfg.data.video_root or target)
    split_dir = Path(cfg.data.split_dir)
    return split_dir, cfg.data.split, Path(cfg.data.video_root or split_dir)


# -- one training round ----------------------------------------------------------------------------
def grpo_args(cfg: TrainConfig, out: Path, weights: list[float], **overrides):
    from trl import GRPOConfig

    kwargs = {**cfg.trl, **overrides, "output_dir": str(out), "reward_weights": weights}
    try:
        return GRPOConfig(**kwargs)
    except (ValueError, TypeError) as e:
        first = str(e).splitlines()[0]
        if "bf16" in first and not kwargs.get("use_cpu"):  # the GPU recipes, run on a CPU
            first += " On a CPU: --set trl.bf16=false --set trl.use_cpu=true"
        raise Timer1Error(f"invalid trl settings: {first}") from None


def copy_processor_files(model_path: str, dest: Path) -> None:
    """Carry the pixel settings beside the weights so GPU stacks (vLLM) can rebuild the processor."""
    src = Path(resolve_model(model_path, what="model.path").path)  # a Hub id: its snapshot in the HF cache
    if not src.is_dir():
        return
    for name in PROCESSOR_FILES:
        if (src / name).exists() and not (dest / name).exists():
            shutil.copy2(src / name, dest / name)


def train_round(cfg: TrainConfig, *, model_path: str, ref_path: str | None, samples, split_info: dict,
                video_root: Path, out: Path, resume: bool | str | None, optimizer_state: Path | None = None,
                make_trainer=None) -> dict[str, Any]:
    """Train on ``samples`` from ``model_path``; the KL reference loads from ``ref_path`` (default: the same).

    ``make_trainer`` builds the trainer from VideoGRPOTrainer's keyword arguments (default: that class;
    benchmarks pass a subclass or a partial with ``callbacks``, see :func:`run_training`).
    """
    if resume is True:
        resume = last_complete_checkpoint(out)
    if resume and not steps_left(Path(resume), cfg.trl):
        if not is_writer(cfg.trl):  # the writer rebuilds final/ when needed; run_training waits for it
            return {"final": str(out / "final"), "steps": None, "resumed_from": resume}
        return finish_without_training(Path(resume), model_path, out, n_samples=len(samples))
    from datasets import Dataset

    from .progress import show_progress
    from .video_grpo import VideoGRPOTrainer

    funcs, weights = resolve_rewards(cfg.rewards)
    model, tok = load_policy(model_path, cfg.model.dtype, cfg.model.attn_implementation)
    if ref_path and ref_path != model_path:
        model.config._name_or_path = ref_path  # TRL builds the reference model from this path
    peft = None
    if cfg.lora.enabled:  # SFT-LoRA trains the vision projector whole beside the adapter, as full SFT does
        whole = projector_names(model) if cfg.paradigm == "sft" and cfg.model.train_merger else None
        peft = lora_config(cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout, cfg.lora.target_regex, whole)
    elif cfg.model.freeze_vision:
        freeze_vision(model, train_merger=cfg.model.train_merger)
    rows = build_rows(samples, tok, cfg.data.prompt, cfg.data.layout)
    adapter = adapter_for(model.config)  # the family's frame geometry: the recipe does not set it
    sampling = dataclasses.replace(sampling_config(cfg), **adapter.sampling_factors())
    provider = VideoInputs(samples, video_root, split_info.get("window_mode", "crop"), sampling,
                           cfg.video.cache_dir, adapter=adapter)
    if cfg.paradigm == "sft":
        from .video_sft import sft_args, sft_rows

        trainer = (make_trainer or default_trainer(cfg))(
            model=model, args=sft_args(cfg.trl, out), train_dataset=Dataset.from_list(sft_rows(rows, cfg.sft.completion)),
            processing_class=tok, video_inputs=provider, peft_config=peft)
    else:
        args = grpo_args(cfg, out, weights)
        trainer = (make_trainer or VideoGRPOTrainer)(
            model=model, reward_funcs=funcs, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok,
            video_inputs=provider, peft_config=peft,
        )
    show_progress(trainer)  # one bar and a readable line per log, instead of transformers' dicts
    if optimizer_state is not None and optimizer_state.exists():
        import torch

        trainer.create_optimizer()
        trainer.optimizer.load_state_dict(torch.load(optimizer_state, map_location="cpu", weights_only=True))
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume or None)
    final, staging = out / "final", out / ".final.tmp"
    if trainer.args.should_save:
        _fresh_staging(out)
    trainer.accelerator.wait_for_everyone()  # the writer's staging folder is empty before anyone saves into it
    trainer.save_model(str(staging))  # every process (ZeRO-3 gathers the weights); the writer writes them
    if not trainer.args.should_save:  # the writer finishes final/ and the log; run_training waits for it
        return {"final": str(final), "steps": trainer.state.global_step, "metrics": result.metrics,
                "n_samples": len(samples), "resumed_from": resume or None}
    tok.save_pretrained(str(staging))
    copy_processor_files(model_path, staging)
    if trainer.optimizer is not None:
        import torch

        torch.save(trainer.optimizer.state_dict(), staging / "optimizer_state.pt")
    if cfg.lora.enabled:
        finish_adapter(staging, model_path)
    _swap_in(staging, final)
    _write_log(trainer.state.log_history, out / "train_log.jsonl")
    return {"final": str(final), "steps": trainer.state.global_step, "train_seconds": time.perf_counter() - started,
            "metrics": result.metrics, "n_samples": len(samples), "resumed_from": resume or None}


def is_train_run(out: Path) -> bool:
    """``out`` holds a timer1 training run: the config.yaml a run writes first (a resolved recipe)."""
    try:
        cfg = yaml.safe_load((out / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(cfg, dict) and {"name", "model", "data", "trl"} <= cfg.keys()


def check_output_is_ours(out: Path) -> None:
    """A run writes config.yaml, run.json, README.md, logs and checkpoints straight into ``out``; refuse,
    before writing anything, a folder holding files that no earlier timer1 training run left there."""
    if os.path.lexists(out) and not out.is_dir():
        raise Timer1Error(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not is_train_run(out):
        names = sorted(p.name for p in out.iterdir())
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        raise Timer1Error(f"{out} holds files no timer1 training run wrote ({shown}); "
                          "choose a new or empty --output-dir")


def check_final_is_ours(out: Path) -> None:
    """A training run replaces ``OUT/final`` at its end; refuse, before writing anything, a ``final`` that an
    earlier timer1 run did not leave (its run.json or its checkpoints beside it): it may be a user's."""
    final = out / "final"
    if not os.path.lexists(final):
        return
    ours = final.is_dir() and not final.is_symlink() and (
        (out / "run.json").is_file() or any(p.is_dir() for p in out.glob("checkpoint-*")))
    if not ours:
        raise Timer1Error(f"{final} was not written by a timer1 training run and would be replaced; "
                          "choose another -o folder")


def _fresh_staging(out: Path) -> Path:
    staging = out / ".final.tmp"  # written whole, then swapped in: a kill never leaves half a model
    shutil.rmtree(staging, ignore_errors=True)
    return staging


def _swap_in(staging: Path, final: Path) -> None:
    shutil.rmtree(final, ignore_errors=True)
    os.replace(staging, final)


# -- resuming a run that has nothing left to train ------------------------------------------------
CHECKPOINT_ONLY_FILES = ("optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json")


def steps_left(checkpoint: Path, trl: dict[str, Any]) -> bool:
    """Whether resuming from ``checkpoint`` has steps to train: the run it belongs to had not reached
    its last step, or the config now asks for more (a larger ``max_steps`` or ``num_train_epochs``).
    HF's Trainer would otherwise train one step past max_steps and replace final/."""
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    done = state["global_step"]
    wanted_steps = trl.get("max_steps", -1) or -1
    if wanted_steps > 0:
        return wanted_steps > done
    if trl.get("num_train_epochs", state["num_train_epochs"]) > state["num_train_epochs"]:
        return True
    return done < state["max_steps"]


def finish_without_training(checkpoint: Path, model_path: str, out: Path, n_samples: int) -> dict[str, Any]:
    """The result of a resume at the last step: final/ as it is, or rebuilt from the checkpoint when a
    kill came between the last checkpoint and final/ (the weights are the same: HF saves both at that step)."""
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    final = out / "final"
    rebuilt = not final.is_dir()
    if rebuilt:
        staging = _fresh_staging(out)
        shutil.copytree(checkpoint, staging, ignore=shutil.ignore_patterns(*CHECKPOINT_ONLY_FILES))
        if (checkpoint / "optimizer.pt").is_file():  # what a round carries on with (sample_filter.reset_optimizer)
            shutil.copy2(checkpoint / "optimizer.pt", staging / "optimizer_state.pt")
        copy_processor_files(model_path, staging)
        if (staging / "adapter_config.json").is_file():  # a LoRA run's checkpoint holds its adapter
            finish_adapter(staging, model_path)
        _swap_in(staging, final)
    print(f"nothing to train: {checkpoint} is at step {state['global_step']}, the last one "
          f"(raise trl.max_steps to train on); {'final/ rebuilt from it' if rebuilt else 'final/ kept'}",
          file=sys.stderr)
    if not (out / "train_log.jsonl").exists():
        _write_log(state["log_history"], out / "train_log.jsonl")
    return {"final": str(final), "steps": state["global_step"], "train_seconds": 0.0, "metrics": {},
            "n_samples": n_samples, "resumed_from": str(checkpoint)}


def last_complete_checkpoint(out: Path) -> str | None:
    """The newest ``checkpoint-N`` that finished saving (HF writes ``trainer_state.json`` last and not
    atomically, so a run killed mid-save leaves a checkpoint that must not be resumed from)."""
    if not out.is_dir():
        return None
    found = []
    for d in out.glob("checkpoint-*"):
        step = d.name.split("-", 1)[1]
        if step.isdigit() and (d / "trainer_state.json").is_file():
            found.append((int(step), d))
    return str(max(found)[1]) if found else None


def _write_log(history: list[dict], path: Path) -> None:
    write_text_atomic(path, "".join(json.dumps(entry) + "\n" for entry in history))


# -- the whole run ---------------------------------------------------------------------------------
def write_config(cfg: TrainConfig, out: Path) -> None:
    write_text_atomic(out / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def run_training(cfg: TrainConfig, output_dir: str | os.PathLike, resume: bool | str | None = None,
                 trainer_cls=None, **trainer_kwargs) -> dict[str, Any]:
    """Run a validated config end to end; returns (and writes) ``run.json``.

    ``trainer_cls`` (a VideoGRPOTrainer subclass, or VideoSFTTrainer's for ``paradigm: sft``) and
    ``trainer_kwargs`` (more keyword arguments for it, e.g. ``callbacks``) build the trainer of every round; benchmarks use them, recipes never need them.
    """
    import torch
    import transformers
    import trl

    require_runnable(cfg)
    check_launch(os.environ)
    out = Path(output_dir)
    processes = process_args(cfg.trl, out)  # this process among all of the launch (one when not launched)
    refuse_unsupported(cfg, processes.world_size)
    check_output_is_ours(out)
    check_final_is_ours(out)
    started = time.perf_counter()
    with writer_first(processes):  # one process writes the tiny model and synthetic split, the others reuse them
        if processes.should_save:
            out.mkdir(parents=True, exist_ok=True)
            write_config(cfg, out)
        model_path = resolve_model_path(cfg, out)
        split_dir, split_name, video_root = resolve_split(cfg, out)
    split = load_split(split_dir, split_name)
    samples, missing = present_samples(split.samples, video_root)
    if cfg.data.limit:
        samples = samples[: cfg.data.limit]
    if not samples:
        raise Timer1Error(f"no training record has its video under {video_root} ({missing} missing)")
    if missing:
        print(f"warning: {missing} of {len(split.samples)} records have no video under {video_root}; "
              "training without them (counted in run.json)", file=sys.stderr)
    make_trainer = functools.partial(trainer_cls or default_trainer(cfg), **trainer_kwargs)
    run: dict[str, Any] = {
        "recipe": cfg.name, "output_dir": str(out), "model": model_path, "split": str(split.path),
        "split_name": split.name, "split_hash": split.content_hash, "window_mode": split.window_mode,
        "video_root": str(video_root), "n_records": len(samples), "missing_videos": missing,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__},
        "config": cfg.to_dict(), **world_record(processes),
    }
    if cfg.sample_filter.enabled:
        round_trainer = functools.partial(train_round, make_trainer=make_trainer)
        run["rounds"] = run_rounds(cfg, train_round=round_trainer, model_path=model_path, samples=samples,
                                   split_info=split.info, video_root=video_root, out=out, resume=resume)
        run["final"] = run["rounds"][-1]["final"]
    else:
        result = train_round(cfg, model_path=model_path, ref_path=None, samples=samples, split_info=split.info,
                             video_root=video_root, out=out, resume=resume, make_trainer=make_trainer)
        run.update(result)
    run["wall_seconds"] = time.perf_counter() - started
    if processes.should_save:
        write_json_atomic(out / "run.json", run)
        write_cards(cfg, run, out)
    processes.distributed_state.wait_for_everyone()  # the others end when the writer has finished the folder
    return run


def write_cards(cfg: TrainConfig, run: dict[str, Any], out: Path) -> None:
    """timer1's model card in final/ and in the run folder, over TRL's default one there."""
    final = Path(run["final"])
    log_path = final.parent / "train_log.jsonl"  # the last round's log when sample filtering
    log = [json.loads(line) for line in log_path.read_text().splitlines()] if log_path.is_file() else []
    for readme in (final / "README.md", out / "README.md"):
        write_model_card(readme, cfg, run, log)


def config_summary(cfg: TrainConfig) -> str:
    t = cfg.trl
    steps = f"{'max_steps=' + str(t['max_steps']) if t.get('max_steps') else 'epochs=' + str(t.get('num_train_epochs', 3))}"
    if cfg.paradigm == "sft":  # no rewards, no rollouts: the true spans' answers
        return (f"{cfg.name}: sft{'-lora r=' + str(cfg.lora.r) if cfg.lora.enabled else ''} model={cfg.model.path} "
                f"lr={t.get('learning_rate', 2e-5)} {steps}")
    return (f"{cfg.name}: model={cfg.model.path} rewards={dict(cfg.rewards)} G={t.get('num_generations', 8)} "
            f"beta={t.get('beta', 0.0)} lr={t.get('learning_rate', 1e-6)} "
            f"{'max_steps=' + str(t['max_steps']) if t.get('max_steps') else 'epochs=' + str(t.get('num_train_epochs', 3))}"
            f"{' sample_filter rounds=' + str(cfg.sample_filter.rounds) if cfg.sample_filter.enabled else ''}")


__all__ = ["VideoInputs", "build_rows", "config_summary", "run_training", "train_round"]

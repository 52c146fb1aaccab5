"""The trained model's card (``final/README.md``): what it was trained from, on what, how, and how to evaluate it.

TRL's default card names no base model ("fine-tuned version of [None]"), a time-machine prompt and
``licence: license``; this one is written from the run's own record (``run.json``) and its log.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from tvgbench.core.report import write_text_atomic

from .config import TrainConfig

TAGS = ["timer1", "temporal-video-grounding", "video-grounding", "grpo", "trl", "qwen2_5_vl"]


def hub_base_model(model: str) -> str | None:
    """The base model as the Hub's ``base_model`` field wants it: a Hub id, never a local folder."""
    if Path(model).expanduser().exists() or model.count("/") != 1 or model.startswith((".", "/", "~")):
        return None
    return model.split("@", 1)[0]  # ORG/NAME@REVISION: the card names the repository


def last_logged(log: list[dict[str, Any]], key: str) -> Any:
    return next((entry[key] for entry in reversed(log) if key in entry), None)


def _reward_rows(cfg: TrainConfig, log: list[dict[str, Any]]) -> list[str]:
    if cfg.paradigm == "sft":  # no rewards: the loss and how often the answer's next token is the top one
        rows = ["| metric | last logged |", "|---|---|"]
        for key in ("loss", "mean_token_accuracy"):
            value = last_logged(log, key)
            rows.append(f"| `{key}` | {'—' if value is None else f'{value:.4g}'} |")
        return rows
    rows = ["| reward | weight | last logged mean |", "|---|---|---|"]
    for name, weight in cfg.rewards.items():
        mean = last_logged(log, f"rewards/{name}/mean")
        rows.append(f"| `{name}` | {weight:g} | {'—' if mean is None else f'{mean:.4g}'} |")
    total = last_logged(log, "reward")
    if total is not None:
        rows.append(f"| weighted sum | | {total:.4g} |")
    return rows


def card_tags(cfg: TrainConfig) -> list[str]:
    """The Hub tags: the paradigm (grpo, sft) in place of ``grpo``, and ``lora`` for an adapter."""
    tags = [cfg.paradigm if t == "grpo" else t for t in TAGS]
    return tags + (["lora", "peft"] if cfg.lora.enabled else [])


def _trained_part(cfg: TrainConfig) -> str:
    if cfg.lora.enabled:
        whole = " and the vision merger whole" if cfg.paradigm == "sft" and cfg.model.train_merger else ""
        return f"LoRA (r={cfg.lora.r}, alpha={cfg.lora.alpha}) on the language model{whole}"
    if not cfg.model.freeze_vision:
        return "all"
    return "the language model and the vision merger" if cfg.model.train_merger else "the language model"


def _training_rows(cfg: TrainConfig, run: dict[str, Any]) -> list[str]:
    t = cfg.trl
    sf = cfg.sample_filter
    if cfg.paradigm == "sft":
        how = (f"- answers: each record's true span written as `{cfg.sft.completion}` and the end-of-turn token; "
               f"the loss is on those tokens only (prompt and video tokens masked), learning rate: "
               f"{t.get('learning_rate', 2e-5)}")
    else:
        how = (f"- G (completions per prompt): {t.get('num_generations', 8)}, β (KL): {t.get('beta', 0.0)}, "
               f"learning rate: {t.get('learning_rate', 1e-6)}, loss: {t.get('loss_type', 'TRL default')}")
    rows = [f"- recipe: `{cfg.name}`{' (' + cfg.description + ')' if cfg.description else ''}",
            f"- optimizer steps: {run.get('steps', sum(r.get('steps', 0) for r in run.get('rounds', [])))}",
            how,
            f"- trained weights: {_trained_part(cfg)}",
            f"- prompt `{cfg.data.prompt}`, layout `{cfg.data.layout}`; video: {cfg.video.fps:g} fps, "
            f"{cfg.video.min_frames}–{cfg.video.max_frames} frames, {cfg.video.total_pixels} total pixels"]
    if sf.enabled:
        rows.append(f"- TimeRFT sample filtering: {len(run.get('rounds', []))} of {sf.rounds} rounds "
                    "(keep 0 < IoU ≤ 0.7 after each epoch)")
    loss = (run.get("metrics") or {}).get("train_loss")
    if loss is not None:
        rows.append(f"- final train loss: {loss:.4g}")
    return rows


def _eval_commands(cfg: TrainConfig, run: dict[str, Any]) -> list[str]:
    q = shlex.quote
    split, final = run.get("split", "SPLIT"), run.get("final", "final")
    video_root = run.get("video_root") or cfg.data.video_root or split
    return ["```bash",
            f"timer1 eval run --split {q(split)} --video-root {q(video_root)} --model {q(final)} --backend hf "
            f"--prompt {q(cfg.data.prompt)} --out runs/eval",
            f"timer1 eval score runs/eval/predictions.jsonl --split {q(split)}",
            "```",
            *(["", f"`{final}` is a LoRA adapter (peft loads its base, named in adapter_config.json); "
               f"`{final}/merged` is the same model merged into one checkpoint (for vLLM)."]
              if cfg.lora.enabled else []),
            "",
            "That scores the training split (a check that training took); to report a benchmark, pass its split "
            "and videos instead (e.g. TVGBench: `timer1 data download tvgbench`). `--backend vllm` on a GPU."]


def render_model_card(cfg: TrainConfig, run: dict[str, Any], log: list[dict[str, Any]]):
    """A ``huggingface_hub.ModelCard`` for the run."""
    from huggingface_hub import ModelCard, ModelCardData

    base = run.get("model", cfg.model.path)
    data = ModelCardData(base_model=hub_base_model(base), library_name="peft" if cfg.lora.enabled else "transformers",
                         pipeline_tag="video-text-to-text", tags=card_tags(cfg))
    method = ("supervised fine-tuning on the split's true spans (" + ("SFT-LoRA" if cfg.lora.enabled else "full SFT")
              + ", the video in every forward pass)") if cfg.paradigm == "sft" else \
        "timer1's video GRPO (Time-R1's recipe on TRL)"
    versions = run.get("versions", {})
    body = [
        f"# {Path(str(run.get('output_dir', 'timer1 run'))).name}: `{cfg.name}` on {base}", "",
        f"Temporal video grounding model trained with {method} from **{base}**.", "",
        "## Training data", "",
        f"- split: `{run.get('split')}` (split `{run.get('split_name')}`, content hash `{run.get('split_hash')}`)",
        f"- records trained on: {run.get('n_records')} ({run.get('missing_videos', 0)} without their video, "
        f"left out); windows: {run.get('window_mode')}", "",
        "## Training", "", *_training_rows(cfg, run), "", *_reward_rows(cfg, log), "",
        "## How to evaluate", "", *_eval_commands(cfg, run), "",
        "## Versions", "",
        ", ".join(f"{k} {v}" for k, v in versions.items()) or "see run.json", "",
        "The run's `config.yaml` (what ran), `run.json` and `train_log.jsonl` sit beside this folder.", "",
    ]
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(body))


def write_model_card(path: Path, cfg: TrainConfig, run: dict[str, Any], log: list[dict[str, Any]]) -> None:
    write_text_atomic(Path(path), str(render_model_card(cfg, run, log)))

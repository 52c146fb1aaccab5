"""TimeRFT per-epoch sample filtering (Time-R1's ``train_rl_SF.sh`` loop), as rounds of one epoch each.

Round k: train one epoch on the current set → score that set with the new policy through the
evaluation harness (``tvgbench.harness.runner.run_eval``: vLLM on GPU, transformers on CPU; greedy, the r1
prompt, Time-R1's difficulty-pass parsing) → keep 0 < IoU ≤ 0.7
→ next round (the rule lives in :mod:`timerft.selection`). What is reset between rounds is a choice (``sample_filter.reset_optimizer`` /
``reset_reference``); Time-R1 resets both: a fresh optimizer and LR schedule, and the KL reference
re-anchored to the round's starting weights. The set only shrinks, as in Time-R1.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from timerft.difficulty import score_difficulty
from timerft.selection import KEEP_MAX_IOU, keep_0_07
from tvgbench.core.errors import Timer1Error
from tvgbench.core.report import write_json_atomic
from tvgbench.core.splits import write_split
from tvgbench.harness.runner import run_eval

from .config import sampling_config


def filter_by_difficulty(predictions_path: Path, samples) -> tuple[list, dict[str, Any]]:
    """TimeRFT's SF step, defined once in :mod:`timerft`: difficulty = 100·IoU of the scoring pass
    (its prediction, else Time-R1's first-two-numbers fallback; unparsable = 0), then ``keep_0_07``
    (0 < IoU ≤ 0.7). Returns the kept samples (hardest first, as Time-R1) and counts."""
    scored = score_difficulty(predictions_path, samples)
    difficulty = [s.difficulty for s in scored.samples]
    try:
        kept = [scored.samples[i] for i in keep_0_07(difficulty)]
    except Timer1Error:  # nothing in (0, 0.7]: the round ends the loop
        kept = []
    iou = np.asarray(difficulty, dtype=np.float64) / 100.0
    counts = {"n_kept": len(kept), "dropped_easy": int((iou > KEEP_MAX_IOU).sum()),
              "dropped_zero": int((iou <= 0).sum()), "missing_predictions": len(samples) - len(scored.samples),
              "difficulty_stats": scored.stats}
    return kept, counts


def score_training_set(cfg, model_dir: str, split_dir: Path, video_root: Path, out: Path) -> Path:
    """Run the harness on the round's split with the round's model; returns predictions.jsonl."""
    sf = cfg.sample_filter
    # Time-R1's difficulty pass: eval-style messages (raw query, video first), greedy decoding
    run_eval(split_dir, video_root, model_dir, backend=sf.backend, prompt=sf.prompt, out_dir=out, resume=True,
             batch_size=sf.batch_size, layout="timer1-eval", parser="timer1-eval", sampling=sampling_config(cfg),
             gen={"max_new_tokens": sf.max_new_tokens, "temperature": 0.0}, cache_dir=cfg.video.cache_dir,
             split_name="train", bootstrap=0)
    path = out / "predictions.jsonl"
    if not path.exists():
        raise Timer1Error(f"the scoring pass wrote no predictions under {out}")
    return path


def run_rounds(cfg, *, train_round: Callable[..., dict[str, Any]], model_path: str, samples, split_info: dict,
               video_root: Path, out: Path, resume) -> list[dict[str, Any]]:
    """The rounds, each trained by ``train_round`` (:func:`trainer.train.train_round` or a wrapper of it)."""
    sf = cfg.sample_filter
    one_epoch = dataclasses.replace(cfg, trl={**cfg.trl, "num_train_epochs": 1, "max_steps": -1})
    current, start_model, rounds = list(samples), model_path, []
    for k in range(sf.rounds):
        rdir = out / f"round-{k}"
        done = rdir / "round.json"
        if done.exists():  # finished earlier: pick up its result and go on (resume across rounds)
            info = json.loads(done.read_text())
            rounds.append(info)
            if "kept_qids" in info:
                keep = set(info["kept_qids"])
                current = [s for s in current if s.qid in keep]
            start_model = info["final"]
            continue
        split_dir = rdir / "split"
        write_split(current, split_dir, "train", window_mode=split_info.get("window_mode", "crop"),
                    build={"command": "train sample_filter", "round": k})
        ref = start_model if sf.reset_reference else model_path
        opt_state = None if sf.reset_optimizer or k == 0 else Path(start_model) / "optimizer_state.pt"
        result = train_round(one_epoch, model_path=start_model, ref_path=ref, samples=current, split_info=split_info,
                             video_root=video_root, out=rdir / "train", resume=resume if k == len(rounds) else None,
                             optimizer_state=opt_state)
        info: dict[str, Any] = {"round": k, "n_in": len(current), **result}
        if k < sf.rounds - 1:
            preds = score_training_set(cfg, result["final"], split_dir, video_root, rdir / "filter")
            kept, counts = filter_by_difficulty(preds, current)
            info.update(counts, kept_qids=[s.qid for s in kept])
            if not kept:
                write_json_atomic(done, info)
                rounds.append(info)
                break
            current = kept
        start_model = result["final"]
        write_json_atomic(done, info)
        rounds.append(info)
    return rounds

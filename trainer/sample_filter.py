"""TimeRFT per-epoch sample filtering (spec §8.4), as rounds of one epoch each.

Round k: train one epoch on the current set → score that set with the new policy through the
evaluation harness (``tvgbench.harness.run_eval``: vLLM on GPU, transformers on CPU; greedy, the r1
prompt, Time-R1's difficulty-pass parsing) → keep ``keep_min < IoU <= keep_max`` (Time-R1: 0 < IoU ≤ 0.7)
→ next round. What is reset between rounds is a choice (``sample_filter.reset_optimizer`` /
``reset_reference``); Time-R1 resets both: a fresh optimizer and LR schedule, and the KL reference
re-anchored to the round's starting weights. The set only shrinks, as in Time-R1.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from tvgbench.errors import Timer1Error


def keep_rule(iou: float, keep_min: float = 0.0, keep_max: float = 0.7) -> bool:
    """TimeRFT's SF rule; delegates to ``timerft`` when it provides it (the rule is defined once)."""
    try:
        from timerft.select import sf_keep  # type: ignore[import-not-found]
    except ImportError:
        sf_keep = None
    if sf_keep is not None:
        return bool(sf_keep(iou, keep_min, keep_max))
    return (not math.isnan(iou)) and keep_min < iou <= keep_max


def difficulty_ious(predictions_path: Path, samples) -> dict[str, float]:
    """Per-qid IoU of the scoring pass, parsed as Time-R1's difficulty pass does (eval parser, then
    the first two numbers); a missing or unparsable answer counts as IoU 0 (spec §8.2)."""
    from tvgbench.metrics import temporal_iou
    from tvgbench.parsing import parse_answer

    by_qid = {s.qid: s for s in samples}
    ious = {qid: 0.0 for qid in by_qid}
    with open(predictions_path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            qid = rec.get("qid")
            if qid not in by_qid:
                continue
            text = rec.get("text", rec.get("output_text"))
            span = None
            if isinstance(text, str):
                parsed = parse_answer(text, "timer1-eval")
                span = parsed.span or parse_answer(text, "timer1-force").span
            elif rec.get("pred") and None not in rec["pred"]:
                span = tuple(rec["pred"])
            ious[qid] = temporal_iou(span, by_qid[qid].span)
    return ious


def score_training_set(cfg, model_dir: str, split_dir: Path, video_root: Path, out: Path) -> Path:
    """Run the harness on the round's split with the round's model; returns predictions.jsonl."""
    from tvgbench.harness import run_eval

    from .train import sampling_config

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


def run_rounds(cfg, *, model_path: str, samples, split_info: dict, video_root: Path, out: Path,
               resume) -> list[dict[str, Any]]:
    from tvgbench.report import write_json_atomic
    from tvgbench.splits import write_split

    from .train import train_round

    sf = cfg.sample_filter
    current, start_model, rounds = list(samples), model_path, []
    for k in range(sf.rounds):
        rdir = out / f"round-{k}"
        done = rdir / "round.json"
        if done.exists():  # finished earlier: pick up its result and go on (resume across rounds)
            info = json.loads(done.read_text())
            rounds.append(info)
            current = [s for s in current if s.qid in set(info["kept_qids"])] if info.get("kept_qids") else current
            start_model = info["final"]
            continue
        split_dir = rdir / "split"
        write_split(current, split_dir, "train", window_mode=split_info.get("window_mode", "crop"),
                    build={"command": "train sample_filter", "round": k})
        ref = start_model if sf.reset_reference else model_path
        opt_state = None if sf.reset_optimizer or k == 0 else Path(start_model) / "optimizer_state.pt"
        result = train_round(cfg, model_path=start_model, ref_path=ref, samples=current, split_info=split_info,
                             video_root=video_root, out=rdir / "train", resume=resume if k == len(rounds) else None,
                             optimizer_state=opt_state, num_train_epochs=1, max_steps=-1)
        info: dict[str, Any] = {"round": k, "n_in": len(current), **result}
        if k < sf.rounds - 1:
            preds = score_training_set(cfg, result["final"], split_dir, video_root, rdir / "filter")
            ious = difficulty_ious(preds, current)
            kept = [s for s in current if keep_rule(ious[s.qid], sf.keep_min, sf.keep_max)]
            info.update(n_kept=len(kept), kept_qids=[s.qid for s in kept],
                        dropped_easy=sum(ious[s.qid] > sf.keep_max for s in current),
                        dropped_zero=sum(ious[s.qid] <= sf.keep_min for s in current))
            if not kept:
                write_json_atomic(done, info)
                rounds.append(info)
                break
            current = kept
        start_model = result["final"]
        write_json_atomic(done, info)
        rounds.append(info)
    return rounds

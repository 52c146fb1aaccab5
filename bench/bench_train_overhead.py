"""Overhead of timer1's additions to a GRPO step with the tiny model: rewards, video plumbing, bookkeeping.

Trains ``tiny-cpu`` for ``--steps`` steps with a timing subclass of VideoGRPOTrainer and reports,
per optimizer step (the first step, which decodes the videos, is reported separately):

* ``rewards``      TRL's ``_calculate_rewards`` (all reward callables, parsing, IoU)
* ``plumbing``     our prompt tokenisation + pad expansion + per-row video tensors (``_tokenize_prompts``,
                   memoised decoded video) and the per-chunk video kwargs added to every log-prob pass
* ``step``         the whole optimizer step (TRL's ``step_time``)

The target is (rewards + plumbing) <= 10% of a step. Both are measured in the same run, so the ratio
holds on a loaded machine too.

    .venv/bin/python bench/bench_train_overhead.py --steps 8 --out bench/results/train_overhead.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--out", default="bench/results/train_overhead.json")
    ap.add_argument("--set", dest="sets", action="append", default=[])
    args = ap.parse_args()

    from transformers import TrainerCallback

    from trainer import video_grpo
    from trainer.config import load_config
    from trainer.train import run_training
    from tvgbench.core.report import write_json_atomic

    spent: dict[str, float] = defaultdict(float)
    per_step: list[dict[str, float]] = []

    class TimedForward(video_grpo._WithVideo):
        def __call__(self, *, input_ids, **kwargs):
            t0 = time.perf_counter()
            n = input_ids.size(0)
            rows = self.rows[self.cursor : self.cursor + n]
            self.cursor += n
            kwargs.update(self.adapter.video_kwargs(rows, input_ids))
            spent["plumbing"] += time.perf_counter() - t0
            return self.model(input_ids=input_ids, **kwargs)

    class Timed(video_grpo.VideoGRPOTrainer):
        video_forward_cls = TimedForward

        def _tokenize_prompts(self, prompts):
            t0 = time.perf_counter()
            try:
                return super()._tokenize_prompts(prompts)
            finally:
                spent["plumbing"] += time.perf_counter() - t0

        def _calculate_rewards(self, *a, **k):
            t0 = time.perf_counter()
            try:
                return super()._calculate_rewards(*a, **k)
            finally:
                spent["rewards"] += time.perf_counter() - t0

    class PerStep(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):
            spent.clear()
            self.t0 = time.perf_counter()

        def on_step_end(self, a, state, control, **kw):
            per_step.append({**spent, "step": time.perf_counter() - self.t0})

    cfg = load_config("tiny-cpu", [f"trl.max_steps={args.steps}", "trl.save_steps=100000", *args.sets])
    with tempfile.TemporaryDirectory() as tmp:
        run_training(cfg, Path(tmp) / "run", callbacks=[PerStep()], trainer_cls=Timed)

    def summary(rows):
        total = sum(r["step"] for r in rows)
        rew = sum(r.get("rewards", 0.0) for r in rows)
        plumb = sum(r.get("plumbing", 0.0) for r in rows)
        return {"steps": len(rows), "step_seconds_mean": total / len(rows), "rewards_seconds_mean": rew / len(rows),
                "plumbing_seconds_mean": plumb / len(rows), "overhead_fraction": (rew + plumb) / total,
                "rewards_fraction": rew / total, "plumbing_fraction": plumb / total}

    result = {"first_step_with_decode": summary(per_step[:1]), "steady_state": summary(per_step[1:]),
              "target_overhead_fraction": 0.10, "load_average": os.getloadavg(), "overrides": args.sets}
    result["meets_target"] = result["steady_state"]["overhead_fraction"] <= 0.10
    write_json_atomic(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

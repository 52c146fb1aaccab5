"""``python tests/trainer_fixed_rollouts.py OUT [--set-style KEY=VALUE ...]``: the tiny-cpu recipe with fixed rollouts.

GRPO samples its completions at random, and how a batch's samples are drawn depends on the number of
processes (each rank draws from the same seed), so two launches differ in what they train on. Here the
rollout is replaced by a fixed choice: the k-th copy of a prompt in a batch gets ``COMPLETIONS[k]``, padded
to one length (so every rank holds the same number of completion tokens and the token mean of ``bnpo``
over 2 ranks equals the one over 1). Everything else is the real run: video in every pass, rewards,
group advantages over the gathered rewards, KL, DDP gradient sync, checkpoints. Launched by
``tests/test_trainer_distributed.py`` on 1 process (batch 2B) and on 2 (batch B each).
"""

from __future__ import annotations

import sys

from trainer.config import load_config
from trainer.train import run_training
from trainer.video_grpo import VideoGRPOTrainer

# eight answers of different rewards (tags present, spans of different IoU with every query)
COMPLETIONS = (
    "<think>a</think><answer>2.0 to 9.0</answer>",
    "<think>b</think><answer>0.0 to 4.0</answer>",
    "<answer>3.0 to 6.5</answer>",
    "<think>c</think>",
    "1.0 to 8.0",
    "<think>d</think><answer>5.0 to 15.0</answer>",
    "<answer>",
    "no tags at all",
)
LENGTH = 32  # tokens per completion (the test sets trl.max_completion_length to it)
FILLER = " ."


class FixedRollouts(VideoGRPOTrainer):
    def _fixed_ids(self) -> list[list[int]]:
        tok = self._tokenizer
        filler = tok(FILLER, add_special_tokens=False)["input_ids"]
        fixed = []
        for text in COMPLETIONS:
            ids = tok(text, add_special_tokens=False)["input_ids"]
            while len(ids) < LENGTH:
                ids = ids + filler
            fixed.append(ids[:LENGTH])
        return fixed

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, *args, **kwargs):
        fixed, seen, completions = self._fixed_ids(), {}, []
        for ids in prompt_ids:
            k = seen.get(tuple(ids), 0)
            seen[tuple(ids)] = k + 1
            completions.append(fixed[k % len(fixed)])
        return completions, None


if __name__ == "__main__":
    cfg = load_config("tiny-cpu", sys.argv[2:], runnable=True)
    run_training(cfg, sys.argv[1], trainer_cls=FixedRollouts)

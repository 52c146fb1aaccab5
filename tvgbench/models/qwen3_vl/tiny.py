"""A tiny random-initialised Qwen3-VL (or Qwen3.5) that builds and loads fully offline (``timer1 model tiny``).

Same layout as :mod:`tvgbench.models.qwen2_5_vl.tiny` (whose tokenizer, with the Qwen special
tokens, it reuses) with Qwen3-VL's architecture: patch 16, deepstack features, interleaved M-RoPE,
and ``head_dim = 32`` in both towers so that vLLM's attention kernels accept it. Qwen3.5 has the same
vision tower (without deepstack) and alternates Gated DeltaNet (linear attention) with full attention
layers; transformers runs those in plain PyTorch on a CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

from tvgbench.models.qwen2_5_vl.chat import END_OF_TEXT, IMAGE_PAD, IM_END, VIDEO_PAD, VISION_END, VISION_START
from tvgbench.models.qwen2_5_vl.tiny import INIT_RANGE, build_tokenizer, tiny_ownership
from tvgbench.models.qwen3_vl.chat import CHAT_TEMPLATE
from tvgbench.models.qwen3_vl.inputs import QWEN3_MEAN, QWEN3_STD
from tvgbench.models.tiny import greedy_generation, save_tiny_model

PATCH_SIZE, TEMPORAL_PATCH_SIZE, MERGE_SIZE = 16, 2, 2
HEAD_DIM = 32  # vLLM's smallest supported attention head
VISION_HIDDEN, VISION_HEADS = 64, 2


def _mrope_section(head_dim: int) -> list[int]:
    """Qwen3-VL's (t, h, w) split of the rotary half-dimension: 24:20:20 at head_dim 128, scaled."""
    half = head_dim // 2
    h = w = half * 20 // 64
    return [half - h - w, h, w]


def _config_parts(tok, hidden_size: int, num_heads: int) -> tuple[dict, dict, dict]:
    """(text, vision, top-level) settings both families share."""
    if hidden_size < 1 or num_heads < 1:
        raise ValueError(f"hidden_size {hidden_size} and num_heads {num_heads} must be positive")
    ids = {t: tok.convert_tokens_to_ids(t) for t in (END_OF_TEXT, IM_END, IMAGE_PAD, VIDEO_PAD, VISION_START, VISION_END)}
    text = dict(
        vocab_size=len(tok), hidden_size=hidden_size, intermediate_size=2 * hidden_size, num_hidden_layers=2,
        num_attention_heads=num_heads, num_key_value_heads=max(1, num_heads // 2), head_dim=HEAD_DIM,
        max_position_embeddings=32768,
        rope_parameters={"rope_type": "default", "rope_theta": 5e6, "mrope_section": _mrope_section(HEAD_DIM),
                         "mrope_interleaved": True},
        bos_token_id=ids[END_OF_TEXT], eos_token_id=ids[IM_END], pad_token_id=ids[END_OF_TEXT],
        tie_word_embeddings=True, initializer_range=INIT_RANGE,
    )
    vision = dict(
        depth=2, hidden_size=VISION_HIDDEN, intermediate_size=2 * VISION_HIDDEN, num_heads=VISION_HEADS,
        patch_size=PATCH_SIZE, spatial_merge_size=MERGE_SIZE, temporal_patch_size=TEMPORAL_PATCH_SIZE,
        out_hidden_size=hidden_size, num_position_embeddings=64, initializer_range=INIT_RANGE,
    )
    top = dict(image_token_id=ids[IMAGE_PAD], video_token_id=ids[VIDEO_PAD], vision_start_token_id=ids[VISION_START],
               vision_end_token_id=ids[VISION_END], tie_word_embeddings=True)
    return text, vision, top


def tiny_config(tok, hidden_size: int = 64, num_heads: int = 4):
    from transformers import Qwen3VLConfig

    text, vision, top = _config_parts(tok, hidden_size, num_heads)
    return Qwen3VLConfig(text_config=text, vision_config={**vision, "deepstack_visual_indexes": [0]}, **top)


def tiny_config_qwen3_5(tok, hidden_size: int = 64, num_heads: int = 4):
    from transformers import Qwen3_5Config

    text, vision, top = _config_parts(tok, hidden_size, num_heads)
    text.update(layer_types=["linear_attention", "full_attention"], linear_key_head_dim=HEAD_DIM,
                linear_value_head_dim=HEAD_DIM, linear_num_key_heads=2, linear_num_value_heads=2)
    text["rope_parameters"]["partial_rotary_factor"] = 1.0  # Qwen3.5 rotates a quarter by default: all of it here
    return Qwen3_5Config(text_config=text, vision_config=vision, **top)


# model_type -> (config builder, the transformers class)
ARCHITECTURES = {
    "qwen3_vl": (tiny_config, "Qwen3VLForConditionalGeneration"),
    "qwen3_5": (tiny_config_qwen3_5, "Qwen3_5ForConditionalGeneration"),
}


def _processor_configs() -> tuple[dict, dict]:
    """Qwen3-VL's processor settings as plain JSON (GPU stacks build their processor from them)."""
    common = {
        "do_convert_rgb": True, "do_normalize": True, "do_rescale": True, "do_resize": True,
        "image_mean": list(QWEN3_MEAN), "image_std": list(QWEN3_STD), "rescale_factor": 1 / 255, "resample": 3,
        "patch_size": PATCH_SIZE, "temporal_patch_size": TEMPORAL_PATCH_SIZE, "merge_size": MERGE_SIZE,
    }
    image = {**common, "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen3VLProcessor",
             "size": {"shortest_edge": 64 * 32 * 32, "longest_edge": 16384 * 32 * 32}}
    video = {**common, "video_processor_type": "Qwen3VLVideoProcessor", "processor_class": "Qwen3VLProcessor",
             "size": {"shortest_edge": 128 * 32 * 32, "longest_edge": 768 * 32 * 32},
             "do_sample_frames": False, "fps": 2.0, "min_frames": 4, "max_frames": 768, "cap_pixels_per_frame": False}
    return image, video


def build_tiny_model(out_dir, seed: int = 0, hidden_size: int = 64, num_heads: int = 4, *,
                     overwrite: bool = True, model_type: str = "qwen3_vl") -> Path:
    """Build, save and return a tiny random Qwen3-VL (or Qwen3.5) folder (files appear together or not at all)."""
    import torch
    import transformers

    tok = build_tokenizer(seed)
    tok.chat_template = CHAT_TEMPLATE
    make_config, class_name = ARCHITECTURES[model_type]
    cfg = make_config(tok, hidden_size, num_heads)
    torch.manual_seed(seed)
    model = getattr(transformers, class_name)(cfg).eval()
    greedy_generation(model, tok, (IM_END, END_OF_TEXT))
    image_cfg, video_cfg = _processor_configs()
    files = {"preprocessor_config.json": json.dumps(image_cfg, indent=2) + "\n",
             "video_preprocessor_config.json": json.dumps(video_cfg, indent=2) + "\n",
             "chat_template.jinja": CHAT_TEMPLATE}
    marker = {"family": model_type, "seed": seed, "hidden_size": hidden_size, "num_heads": num_heads}
    return save_tiny_model(out_dir, model, tok, files=files, marker=marker, owned=tiny_ownership, overwrite=overwrite)

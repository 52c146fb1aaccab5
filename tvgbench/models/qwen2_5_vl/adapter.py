"""Qwen2.5-VL behind :class:`tvgbench.models.base.ModelAdapter` (MiMo-VL loads as the same class).

Time reaches the model as absolute time in its 3-D M-RoPE positions: each temporal patch of
``temporal_patch_size`` frames sits ``second_per_grid_ts · tokens_per_second`` positions after the
previous one, with ``second_per_grid_ts = temporal_patch_size / sample_fps``. The prompt carries no
timestamps; every forward pass must get ``second_per_grid_ts`` (and ``mm_token_type_ids``, without
which transformers silently falls back to 1-D text positions). :mod:`.compat` makes transformers'
positions the exact ones the model was trained with.
"""

from __future__ import annotations

from tvgbench.core.errors import Timer1Error
from tvgbench.models.base import ModelAdapter, register
from tvgbench.models.qwen2_5_vl import compat
from tvgbench.models.qwen2_5_vl.chat import TOKENS
from tvgbench.models.qwen2_5_vl.inputs import (expand_pad_ids, expand_video_pads, normalize_video_pixels,
                                               qwen_video_inputs, video_token_count)
from tvgbench.models.qwen2_5_vl.tiny import build_tiny_model
from tvgbench.models.qwen2_5_vl.vllm_inputs import build_vllm_request

VIDEO_TOKEN_TYPE = 2  # mm_token_type_ids: text 0, image 1, video 2


class QwenVideoAdapter(ModelAdapter):
    """What the Qwen-VL families share: a vision config of patch / temporal patch / merge sizes, one video pad
    token typed 2 in ``mm_token_type_ids``, and a vision tower at ``model.visual``. Families differ in how
    time reaches the model (Qwen2.5-VL here; Qwen3-VL in :mod:`tvgbench.models.qwen3_vl`)."""

    def __init__(self, config):
        super().__init__(config)
        vision = config.vision_config
        self.patch_size = vision.patch_size
        self.temporal_patch_size = vision.temporal_patch_size
        self.merge_size = vision.spatial_merge_size
        self.video_token_id = config.video_token_id

    def sampling_factors(self) -> dict[str, int]:
        return {"frame_factor": self.temporal_patch_size, "image_factor": self.patch_size * self.merge_size}

    def visual(self, model):
        inner = getattr(model, "model", model)  # transformers 5: model.model.visual
        visual = getattr(inner, "visual", None) or getattr(model, "visual", None)
        if visual is None:
            raise Timer1Error(f"{type(model).__name__} has no vision tower; is this a {self.family} model?")
        return visual

    def num_video_tokens(self, num_frames: int, height: int, width: int) -> int:
        return video_token_count(num_frames, height, width, patch_size=self.patch_size,
                                 temporal_patch_size=self.temporal_patch_size, merge_size=self.merge_size)

    def mm_token_type_ids(self, input_ids):
        return (input_ids == self.video_token_id).long() * VIDEO_TOKEN_TYPE

    def rollout_fields(self, videos: list[dict], prompt_ids: list[list[int]]) -> dict:
        import torch

        fields = {k: torch.cat([v[k] for v in videos]) for k in self.video_keys}
        vid = self.video_token_id
        fields["mm_token_type_ids"] = [[VIDEO_TOKEN_TYPE if t == vid else 0 for t in ids] for ids in prompt_ids]
        return fields


@register
class Qwen25VLAdapter(QwenVideoAdapter):
    model_type = "qwen2_5_vl"
    family = "Qwen2.5-VL"
    tokens = TOKENS
    video_keys = ("pixel_values_videos", "video_grid_thw", "second_per_grid_ts")
    time_encoding = "absolute time in M-RoPE positions (second_per_grid_ts)"
    backends = ("hf", "vllm", "openai")
    trainer = ("grpo", "sft")  # timer1 train paradigms run on its tiny model (tests/test_trainer_*.py)

    @classmethod
    def model_class(cls):
        from transformers import Qwen2_5_VLForConditionalGeneration

        return Qwen2_5_VLForConditionalGeneration

    def adapt_model(self, model):
        # exact video time positions (transformers 5.17 truncates them) and the patch embedding as a GEMM
        compat.use_exact_video_time(model)
        compat.use_linear_patch_embed(model)
        return model

    def vision_parts(self, model):
        visual = self.visual(model)
        return visual, visual.merger

    def settings(self) -> dict:
        return {
            "video_time_positions": f"exact (floor(t * second_per_grid_t * tokens_per_second), {compat.__name__})",
            "patch_embed": f"linear ({compat.__name__})",
        }

    def video_inputs(self, sampled, normalize: bool = True) -> dict:
        return qwen_video_inputs(sampled, patch_size=self.patch_size, temporal_patch_size=self.temporal_patch_size,
                                 merge_size=self.merge_size, normalize=normalize)

    def expand_prompt(self, text: str, video: dict) -> str:
        return expand_video_pads(text, video["num_video_tokens"], self.tokens.video_pad)

    def expand_prompt_ids(self, ids: list[int], video: dict, tokenizer=None) -> list[int]:
        return expand_pad_ids(ids, self.video_token_id, int(video["num_video_tokens"]))

    def video_kwargs(self, videos: list[dict], input_ids, dtype=None) -> dict:
        import torch

        device = input_ids.device
        pixels = torch.cat([v["pixel_values_videos"] for v in videos])
        if pixels.dtype == torch.uint8:  # kept uint8 until here (video_inputs(normalize=False))
            pixels = normalize_video_pixels(pixels)
        return {
            "pixel_values_videos": pixels.to(device, dtype),
            "video_grid_thw": torch.cat([v["video_grid_thw"] for v in videos]).to(device),
            "second_per_grid_ts": torch.cat([v["second_per_grid_ts"] for v in videos]).to(device),
            "mm_token_type_ids": self.mm_token_type_ids(input_ids),
        }

    def vllm_request(self, prompt_token_ids: list[int], sampled) -> dict:
        return build_vllm_request(prompt_token_ids, sampled)

    @classmethod
    def build_tiny(cls, out_dir, seed: int = 0, hidden_size: int = 64, num_heads: int = 4):
        return build_tiny_model(out_dir, seed=seed, hidden_size=hidden_size, num_heads=num_heads)

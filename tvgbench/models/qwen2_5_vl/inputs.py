"""Qwen2.5-VL model inputs from sampled frames, on CPU, without torchvision.

This reproduces what transformers' ``Qwen2VLVideoProcessor`` + ``Qwen2_5_VLProcessor`` produce for
frames that are already at their final size (tests/test_video_qwen.py proves equality against the
real processor): rescale+normalise with the CLIP mean/std (fused the way transformers fuses it),
pad the frame count to ``temporal_patch_size`` by repeating the last frame, cut into
``temporal_patch_size × patch_size × patch_size`` patches ordered in ``merge_size × merge_size``
blocks, and ``second_per_grid_ts = temporal_patch_size / sample_fps``. Pass the returned
``second_per_grid_ts`` to *every* forward pass (Time-R1 drops it in its loss pass, so
its loss sees another time axis than its rollouts for clips sampled below 2 fps).
"""

from __future__ import annotations

import numpy as np

from tvgbench.core.errors import Timer1Error
from tvgbench.models.qwen2_5_vl.chat import VIDEO_PAD

# OPENAI_CLIP_MEAN / OPENAI_CLIP_STD, the normalisation Qwen2-VL and Qwen2.5-VL were trained with
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def qwen_video_inputs(
    sampled,
    *,
    patch_size: int = 14,
    temporal_patch_size: int = 2,
    merge_size: int = 2,
    image_mean=CLIP_MEAN,
    image_std=CLIP_STD,
    normalize: bool = True,
) -> dict:
    """``pixel_values_videos`` (N, 3·tps·ps·ps) float32, ``video_grid_thw`` (1, 3), ``second_per_grid_ts`` (1,).

    ``normalize=False`` keeps ``pixel_values_videos`` uint8 (the same patches, a quarter of the bytes):
    a prefetch queue holds those, and :func:`normalize_video_pixels` (the model's collate) gives the
    float32 values ``normalize=True`` gives, exactly.
    """
    import torch

    frames = np.ascontiguousarray(sampled.frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise Timer1Error(f"frames must be (T, H, W, 3), got {frames.shape}")
    num_frames, height, width, channels = frames.shape
    factor = patch_size * merge_size
    if height % factor or width % factor:
        raise Timer1Error(f"frame size {height}x{width} is not a multiple of {factor} (sample with smart_resize first)")
    if not sampled.sample_fps or sampled.sample_fps <= 0:
        raise Timer1Error(f"sample_fps must be positive, got {sampled.sample_fps}")

    video = torch.from_numpy(frames).permute(0, 3, 1, 2)  # (T, C, H, W), still uint8
    if pad := -num_frames % temporal_patch_size:
        video = torch.cat([video, video[-1:].expand(pad, -1, -1, -1)], dim=0)
    grid_t = video.shape[0] // temporal_patch_size
    grid_h, grid_w = height // patch_size, width // patch_size
    patches = video.reshape(
        grid_t, temporal_patch_size, channels,
        grid_h // merge_size, merge_size, patch_size,
        grid_w // merge_size, merge_size, patch_size,
    )
    # (t, h-block, w-block, h-in-block, w-in-block, C, tps, ps, ps): the order the vision tower expects.
    # The reordering copy is done on uint8 (a quarter of the bytes); normalising afterwards gives the
    # same float32 values, since it is elementwise.
    patches = patches.permute(0, 3, 6, 4, 7, 2, 1, 5, 8).reshape(grid_t * grid_h * grid_w, -1)
    pixel_values = normalize_video_pixels(patches, image_mean, image_std) if normalize else patches
    return {
        "pixel_values_videos": pixel_values,
        "video_grid_thw": torch.tensor([[grid_t, grid_h, grid_w]], dtype=torch.long),
        "second_per_grid_ts": torch.tensor([temporal_patch_size / sampled.sample_fps], dtype=torch.float32),
        "num_video_tokens": int(grid_t * grid_h * grid_w // (merge_size**2)),
    }


def normalize_video_pixels(patches, image_mean=CLIP_MEAN, image_std=CLIP_STD):
    """uint8 patches (N, C·tps·ps·ps) -> float32 normalised, as transformers computes them.

    transformers fuses rescale(1/255) into the normalisation: (x - mean·255) / (std·255), per channel
    (each patch row holds its channels one after the other).
    """
    import torch

    channels = len(image_mean)
    rows = patches.shape[0]
    mean = (torch.tensor(image_mean) * 255.0).view(1, -1, 1)
    std = (torch.tensor(image_std) * 255.0).view(1, -1, 1)
    return patches.reshape(rows, channels, -1).to(torch.float32).sub_(mean).div_(std).view(rows, -1)


def video_token_count(num_frames: int, height: int, width: int, *, patch_size: int = 14,
                      temporal_patch_size: int = 2, merge_size: int = 2) -> int:
    """Video tokens of a clip from its shape alone: what :func:`qwen_video_inputs` would give."""
    grid_t = -(-int(num_frames) // temporal_patch_size)  # the last frame is repeated up to a whole patch
    return grid_t * (int(height) // patch_size) * (int(width) // patch_size) // (merge_size**2)


def expand_video_pads(text: str, num_video_tokens: int, pad_token: str = VIDEO_PAD) -> str:
    """Replace the one ``pad_token`` of a rendered chat template by ``num_video_tokens`` copies."""
    count = text.count(pad_token)
    if count != 1:
        raise Timer1Error(f"expected exactly one {pad_token} in the prompt, found {count}")
    if num_video_tokens < 1:
        raise Timer1Error(f"num_video_tokens must be positive, got {num_video_tokens}")
    return text.replace(pad_token, pad_token * int(num_video_tokens))


def expand_pad_ids(ids: list[int], pad_id: int, n: int) -> list[int]:
    """Replace the single video pad of a tokenised chat prompt by ``n`` pads (one per video token)."""
    where = [i for i, t in enumerate(ids) if t == pad_id]
    if len(where) != 1:
        raise Timer1Error(f"a training prompt must hold exactly one {VIDEO_PAD}, found {len(where)}")
    i = where[0]
    return ids[:i] + [pad_id] * n + ids[i + 1 :]

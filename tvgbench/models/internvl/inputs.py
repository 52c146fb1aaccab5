"""InternVL model inputs from sampled frames, on CPU, without torchvision, and the frames' time as text.

transformers' ``InternVLVideoProcessor`` resizes every frame to the vision tower's fixed tile
(``vision_config.image_size``, 448×448 for InternVL3/3.5; aspect ratio not kept) with bicubic
antialias, then rescales and normalises with the ImageNet mean/std (fused: ``(x - mean·255) /
(std·255)``); ``pixel_values`` is (frames, 3, S, S) and each frame becomes ``image_seq_length``
features, ``(S / patch)² · downsample_ratio²`` (256 for 448/14/0.5). tests/test_internvl.py proves
equality against the real processor.

Time: InternVL has no time signal. transformers writes ``Frame{i}: <img>…</img>`` per frame; timer1
writes the frame's time in clip seconds (``SampledVideo.timestamps``) into that line::

    Frame{i} at {t:.1f} s: <img><IMG_CONTEXT>×n</img>     (i from 1; lines joined by "\\n")

the interleaved form TimeLens found best for grounding. Without ``at {t} s`` it is transformers' text.
"""

from __future__ import annotations

import numpy as np

from tvgbench.core.errors import Timer1Error
from tvgbench.models.internvl.chat import IMAGE_CONTEXT, IMAGE_END, IMAGE_START, VIDEO_TOKEN
from tvgbench.video.resize import resize_reference

# IMAGENET_DEFAULT_MEAN / _STD: what InternVL's vision tower (InternViT) was trained with
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FRAME_LINE = "Frame{index} at {seconds:.1f} s: "  # before each frame's <img>…</img>
FRAME_SEPARATOR = "\n"


def tile_shape(vision_config) -> tuple[int, int]:
    """(height, width) every frame is resized to: the vision tower's fixed input size."""
    size = vision_config.image_size
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    return h, w


def tokens_per_frame(vision_config, downsample_ratio: float) -> int:
    """Vision features per frame: the patch grid after pixel shuffle (transformers' ``image_seq_length``)."""
    h, w = tile_shape(vision_config)
    patch = vision_config.patch_size
    ph, pw = (patch, patch) if isinstance(patch, int) else (int(patch[0]), int(patch[1]))
    return int((h // ph) * (w // pw) * downsample_ratio**2)


def internvl_video_inputs(sampled, *, tile: tuple[int, int], per_frame: int, image_mean=IMAGENET_MEAN,
                          image_std=IMAGENET_STD, normalize: bool = True) -> dict:
    """``pixel_values`` (T, 3, S, S), the frames' ``timestamps`` (s from the clip start) and ``num_video_tokens``.

    ``normalize=False`` keeps ``pixel_values`` uint8 (a quarter of the bytes, for prefetch queues);
    :func:`normalize_frames` gives exactly the float32 values ``normalize=True`` gives.
    """
    import torch

    frames = np.ascontiguousarray(sampled.frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
        raise Timer1Error(f"frames must be (T, H, W, 3) with T >= 1, got {frames.shape}")
    timestamps = [float(t) for t in np.asarray(sampled.timestamps).reshape(-1)]
    if len(timestamps) != frames.shape[0]:
        raise Timer1Error(f"{frames.shape[0]} frames but {len(timestamps)} timestamps")
    # torchvision's uint8 bicubic antialias (what the processor's resize does), to the fixed tile
    tiles = torch.from_numpy(resize_reference(frames, *tile)).permute(0, 3, 1, 2).contiguous()
    return {
        "pixel_values": normalize_frames(tiles, image_mean, image_std) if normalize else tiles,
        "timestamps": timestamps,
        "num_video_tokens": len(timestamps) * per_frame,
    }


def normalize_frames(tiles, image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD):
    """uint8 (T, 3, S, S) -> float32, as transformers fuses rescale(1/255) into the normalisation."""
    import torch

    mean = (torch.tensor(image_mean) * 255.0).view(1, -1, 1, 1)
    std = (torch.tensor(image_std) * 255.0).view(1, -1, 1, 1)
    return tiles.to(torch.float32).sub_(mean).div_(std)


def frames_text(timestamps, per_frame: int, image: str | None = None) -> str:
    """What replaces the ``<video>`` placeholder: one line per frame, its time, then its image tokens.

    ``image``: the text standing for one frame (default ``<img>`` + ``per_frame`` × ``<IMG_CONTEXT>`` +
    ``</img>``; vLLM's processor takes one ``<IMG_CONTEXT>`` and expands it itself).
    """
    if image is None:
        image = IMAGE_START + IMAGE_CONTEXT * int(per_frame) + IMAGE_END
    return FRAME_SEPARATOR.join(FRAME_LINE.format(index=i + 1, seconds=t) + image for i, t in enumerate(timestamps))


def expand_video_token(text: str, replacement: str) -> str:
    """Replace the one ``<video>`` of a rendered chat prompt by the frames' text."""
    count = text.count(VIDEO_TOKEN)
    if count != 1:
        raise Timer1Error(f"expected exactly one {VIDEO_TOKEN} in the prompt, found {count}")
    return text.replace(VIDEO_TOKEN, replacement)

"""The vLLM request for Qwen2.5-VL: timer1's own sampled frames, with the fps they were sampled at.

Frames are passed as ``(frames, metadata)`` with the *sampled* fps in the metadata and in
``mm_processor_kwargs`` so vLLM's processor computes ``second_per_grid_ts = 2 / sample_fps``; frame
sampling inside vLLM is off (``do_sample_frames=False``) and the pixel bounds are pinned to the
frames' own size, so the processor does not resize them again.
"""

from __future__ import annotations

from tvgbench.core.errors import Timer1Error


def video_metadata(sampled) -> dict:
    """What vLLM needs to know about already-sampled frames (it refuses bare frames)."""
    n = int(sampled.frames.shape[0])
    fps = float(sampled.sample_fps)
    return {
        "total_num_frames": n,
        "fps": fps,
        "duration": n / fps,
        "video_backend": "timer1",
        "frames_indices": list(range(n)),
        "do_sample_frames": False,
    }


def build_vllm_request(prompt_token_ids: list[int], sampled) -> dict:
    """One vLLM prompt dict for a query: token ids with one ``<|video_pad|>`` plus the frames."""
    frames = sampled.frames
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise Timer1Error(f"frames must be (T, H, W, 3), got {frames.shape}")
    h, w = int(frames.shape[1]), int(frames.shape[2])
    fps = float(sampled.sample_fps)
    return {
        "prompt_token_ids": list(prompt_token_ids),
        "multi_modal_data": {"video": (frames, video_metadata(sampled))},
        "mm_processor_kwargs": {
            "fps": fps,
            "do_sample_frames": False,
            # min = max = the frame's own area: smart_resize keeps an already 28-aligned size as is
            "size": {"shortest_edge": h * w, "longest_edge": h * w},
        },
    }

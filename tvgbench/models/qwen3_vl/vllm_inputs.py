"""The vLLM request for Qwen3-VL: timer1's frames, with the metadata vLLM writes the timestamps from.

vLLM's Qwen3-VL processor needs metadata with every video (``video_needs_metadata``) and, like
transformers', writes ``<{t:.1f} seconds>`` with ``t = frames_indices / fps`` averaged per temporal
patch. timer1 passes the source fps and the sampled frame indices counted from the clip start, so
vLLM writes the text the hf backend writes (the same to the bit for a whole video; a cropped clip's
indices are shifted by ``clip_start · fps``). Frame sampling inside vLLM is off and the pixel bounds
are pinned to the frames' own size: Qwen3-VL's ``smart_resize`` bounds ``frames · height · width``.
"""

from __future__ import annotations

from tvgbench.core.errors import Timer1Error


def video_metadata(sampled) -> dict:
    """Source fps and clip-relative frame indices: ``index / fps`` gives timer1's timestamps."""
    meta = sampled.meta
    fps = float(meta.get("video_fps") or sampled.sample_fps)
    indices = meta.get("indices")
    if indices is None or len(indices) != sampled.num_frames:  # frames without a source (tests, caches)
        indices = [float(t) * fps for t in sampled.timestamps]
    elif offset := float(meta.get("clip_start") or 0.0) * fps:
        indices = [i - offset for i in indices]
    return {
        "total_num_frames": int(meta.get("total_frames") or sampled.num_frames),
        "fps": fps,
        "duration": sampled.num_frames / float(sampled.sample_fps),
        "video_backend": "timer1",
        "frames_indices": list(indices),
        "do_sample_frames": False,
    }


def build_vllm_request(prompt_token_ids: list[int], sampled, temporal_patch_size: int = 2) -> dict:
    """One vLLM prompt dict for a query: token ids with one ``<|video_pad|>`` plus the frames."""
    frames = sampled.frames
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise Timer1Error(f"frames must be (T, H, W, 3), got {frames.shape}")
    n, h, w = (int(v) for v in frames.shape[:3])
    # smart_resize compares round(n / tps) · tps · h · w with the bounds: pin both to it (no resize)
    pixels = max(1, round(n / temporal_patch_size)) * temporal_patch_size * h * w
    return {
        "prompt_token_ids": list(prompt_token_ids),
        "multi_modal_data": {"video": (frames, video_metadata(sampled))},
        "mm_processor_kwargs": {
            "do_sample_frames": False,
            "size": {"shortest_edge": pixels, "longest_edge": pixels},
        },
    }

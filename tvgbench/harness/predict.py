"""``timer1 predict``: one video, one query, with the same prompts, sampling and parser as ``eval run``."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from tvgbench.core.errors import Timer1Error
from tvgbench.core.metrics import temporal_iou
from tvgbench.core.parsing import parse_answer
from tvgbench.harness.backends import LOCAL_CHECKPOINT, check_backend, family_sampling, make_backend
from tvgbench.harness.provenance import family_record, prompt_record, redact
from tvgbench.models.hub import resolve_model
from tvgbench.models.prompts import build_messages, prompt_settings
from tvgbench.video import sample_video

_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)


def reasoning_of(text: str) -> str | None:
    """The text inside the last ``<think>`` block, if any."""
    blocks = _THINK.findall(text or "")
    return blocks[-1].strip() if blocks else None


def predict_one(config, video, query, *, window=None, gt=None, plot=None, backend_obj=None) -> dict:
    """Run one query with a :class:`tvgbench.harness.config.PredictConfig`; returns text, reasoning, parsed
    span, IoU (when ``gt``), video facts and settings."""
    if backend_obj is None:  # first: a wrong --model costs no decoding and no torch import
        check_backend(config.backend, config.model, config.backend_options)
    path = Path(video)
    if window is not None and not (0 <= window[0] < window[1]):
        raise Timer1Error(f"--window must be 0 <= S < E, got {window[0]} {window[1]}")
    if gt is not None and gt[0] > gt[1]:
        raise Timer1Error(f"--gt must be S <= E, got {gt[0]} {gt[1]}")
    prompt_obj = config.prompt_preset()
    layout, parser = config.layout, config.parser
    sampling = family_sampling(config.sampling, config.backend, config.model, backend_obj)  # the family's frame sizes
    sampled = sample_video(path, window, crop=True, config=sampling)
    meta = sampled.meta
    clip = (meta["end_frame"] - meta["start_frame"]) / meta["video_fps"] if window else meta["total_frames"] / meta["video_fps"]
    # a Hub id loads from its snapshot folder (fetched by the model check above)
    source = resolve_model(config.model) if config.backend in LOCAL_CHECKPOINT else None
    be = backend_obj or make_backend(config.backend, source.path if source else str(config.model), config.gen,
                                     **config.backend_options)
    try:
        messages = build_messages(query, prompt_obj, layout)
        request = be.prepare(messages, prompt_obj.assistant_prefix, sampled)
        output = be.generate([request])[0]
        settings = {**redact(be.settings()), "prompt": prompt_settings(prompt_obj, layout), "parser": parser,
                    "sampling": sampling.__dict__.copy(), "family": family_record(be),
                    "model_source": source.record() if source else None, "prompt_text": prompt_record(be, request)}
    finally:
        if backend_obj is None:
            be.close()
    parsed = parse_answer(output.text, parser, clip if parser == "canonical" else None)
    result = {
        "video": {"path": str(path), "n_frames": sampled.num_frames, "sample_fps": float(sampled.sample_fps),
                  "frame_size": [int(sampled.frames.shape[1]), int(sampled.frames.shape[2])],
                  "window": list(window) if window else None},
        "query": query,
        "duration": float(clip),
        "text": output.text,
        "reasoning": reasoning_of(output.text),
        "pred": list(parsed.span) if parsed.span else None,
        "parse_flags": list(parsed.flags),
        "gt": list(gt) if gt else None,
        "iou": temporal_iou(parsed.span, gt) if gt else None,
        "n_tokens": output.n_tokens,
        "settings": settings,
    }
    if plot:
        plot_timeline(sampled, result, plot)
        result["plot"] = str(plot)
    return result


def plot_timeline(sampled, result: dict, out_path, max_frames: int = 10) -> Path:
    """A strip of sampled frames over a time axis with the predicted (and true) spans."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    duration = result["duration"]
    n = sampled.num_frames
    picks = np.unique(np.linspace(0, n - 1, min(max_frames, n)).round().astype(int))
    fig = plt.figure(figsize=(12, 3.6), dpi=100)
    strip = fig.add_axes([0.04, 0.42, 0.92, 0.5])
    strip.axis("off")
    h, w = sampled.frames.shape[1:3]
    gap = w * 0.05
    for k, i in enumerate(picks):
        x0 = k * (w + gap)
        strip.imshow(sampled.frames[i], extent=(x0, x0 + w, 0, h))
        strip.text(x0 + w / 2, h * 1.04, f"{sampled.timestamps[i]:.1f}s", ha="center", va="bottom", fontsize=8)
    strip.set_xlim(0, len(picks) * (w + gap) - gap)
    strip.set_ylim(0, h * 1.2)
    axis = fig.add_axes([0.04, 0.12, 0.92, 0.22])
    axis.set_xlim(0, max(duration, 1e-6))
    axis.set_ylim(0, 2)
    axis.set_yticks([0.5, 1.5], ["pred", "true"])
    axis.set_xlabel("seconds (clip time)")
    if result.get("pred"):
        s, e = result["pred"]
        axis.barh(0.5, max(e - s, duration * 0.002), left=s, height=0.7, color="tab:orange")
    else:
        axis.text(duration / 2, 0.5, "no parseable span", ha="center", va="center", fontsize=9, color="tab:red")
    if result.get("gt"):
        s, e = result["gt"]
        axis.barh(1.5, max(e - s, duration * 0.002), left=s, height=0.7, color="tab:green")
    title = f'"{result["query"]}"'
    if result.get("iou") is not None:
        title += f"   IoU {result['iou']:.2f}"
    fig.suptitle(title, fontsize=10)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(out)
    return out

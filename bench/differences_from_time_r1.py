"""Measure the differences between timer1 and Time-R1 listed in docs/differences-from-time-r1.md.

    .venv-ci/bin/python bench/differences_from_time_r1.py [--data ../shared/data] [--json]

Each section runs timer1's own function and an independent re-implementation of Time-R1's formula
(written here from Time-R1's source, not imported from timer1), on a stated grid or on the released
Time-R1 files. CPU only, about a minute; the resize section needs the real Charades video
``videos/OHOFG.mp4`` (Time-R1's demo video) and is skipped without it.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Frame-count grid: 750 whole-second durations × 10 common frame rates (NTSC rates as the exact
# rationals decord reports), total_frames = round(duration · fps).
GRID_SECONDS = range(1, 751)
GRID_FPS = (24000 / 1001, 24.0, 25.0, 30000 / 1001, 30.0, 48.0, 50.0, 60000 / 1001, 60.0, 120.0)


# ---- Time-R1, re-implemented from its source ------------------------------------------------------

def r1_whole_video_indices(total_frames: int, video_fps: float) -> list[int]:
    """src/utils/vision_process.py without a window: video_end defaults to total_frames / video_fps."""
    import torch

    video_end = total_frames / video_fps
    start, end = 0, min(total_frames, int(video_end * video_fps))
    if end == start:
        end = start + 1
    eff = end - start
    lo, hi = math.ceil(4 / 2) * 2, math.floor(min(768, eff) / 2) * 2
    n = math.floor(min(min(max(eff / video_fps * 2.0, lo), hi), eff) / 2) * 2
    return torch.linspace(start, end - 1, n).round().long().tolist()


def r1_train_parse(text: str):
    """main.py::parse_timestamp_output: last X to|and Y in the last <answer> block."""
    blocks = re.findall(r"<answer>(.*?)</answer>", text, re.DOTALL)
    if not blocks:
        return None
    m = re.findall(r"(\d+\.?\d*) (to|and) (\d+\.?\d*)", blocks[-1], re.IGNORECASE)
    return (float(m[-1][0]), float(m[-1][2])) if m else None


def r1_iou_v2_reward(completions, solution, durations) -> list[float]:
    """main.py::iou_timestamp_reward_v2, kept faithful: ``iou`` is only bound when union > 0."""
    rewards = []
    for content, (gs, ge), d in zip(completions, solution, durations):
        reward = 0.0
        parsed = r1_train_parse(content)
        if parsed is not None:
            s, e = parsed
            inter = max(0, min(e, ge) - max(s, gs))
            union = max(e, ge) - min(s, gs)
            if union > 0:
                iou = inter / union  # noqa: F841 - read below even when this line did not run
            reward = iou * (1 - abs(gs / d - s / d)) * (1 - abs(ge / d - e / d))  # noqa: F821
        rewards.append(reward)
    return rewards


# ---- sections -------------------------------------------------------------------------------------

def frame_count() -> dict:
    from tvgbench.video import SamplingConfig, plan_sampling

    cfg = SamplingConfig()
    dropped = shifted = recounted = 0
    count_deltas = set()
    for seconds in GRID_SECONDS:
        for fps in GRID_FPS:
            total = round(seconds * fps)
            ours = list(plan_sampling(total, fps, 360, 640, None, cfg).indices)
            theirs = r1_whole_video_indices(total, fps)
            dropped += int(total / fps * fps) < total
            if len(ours) != len(theirs):
                recounted += 1
                count_deltas.add(len(ours) - len(theirs))
            elif ours != theirs:
                shifted += 1
    return {"pairs": len(GRID_SECONDS) * len(GRID_FPS), "last_frame_dropped_by_time_r1": dropped,
            "indices_shift_same_count": shifted, "frame_count_changes": recounted,
            "frame_count_deltas": sorted(count_deltas)}


def iou_v2_clamp(data: Path) -> dict:
    from trainer.rewards import iou_v2_array

    out: dict = {}
    example = {"pred": [10.0, 500.0], "gt": [10.0, 20.0], "duration": 100.0}
    out["example"] = dict(example,
                          time_r1=round(r1_iou_v2_reward(["<answer>10 to 500</answer>"], [(10.0, 20.0)], [100.0])[0], 4),
                          timer1=float(iou_v2_array([10.0], [500.0], [10.0], [20.0], [100.0])[0]))
    path = data / "timer1" / "train_2k5.json"
    if path.exists():
        recs = json.loads(path.read_text(encoding="utf-8"))
        texts = [f"<answer>{r['pred'][0]} to {r['pred'][1]}</answer>" for r in recs]
        theirs = np.array(r1_iou_v2_reward(texts, [tuple(r["timestamp"]) for r in recs], [r["duration"] for r in recs]))
        p, g = np.array([r["pred"] for r in recs]), np.array([r["timestamp"] for r in recs])
        ours = iou_v2_array(p[:, 0], p[:, 1], g[:, 0], g[:, 1], [r["duration"] for r in recs])
        rejected = np.array([r["timestamp"][1] - r["duration"] > 5.0 for r in recs])  # default --end-tolerance
        out["train_2k5_base_preds"] = {"n": len(recs), "time_r1_negative": int((theirs < 0).sum()),
                                       "time_r1_negative_on_rejected_records": int(((theirs < 0) & rejected).sum()),
                                       "time_r1_min": round(float(theirs.min()), 4),
                                       "differ": int((np.abs(theirs - ours) > 1e-12).sum())}
    return out


def zero_union(data: Path) -> dict:
    """TVGBench's zero-length GTs; a group of G=8 completions in which the exact point answer is the k-th."""
    from trainer.rewards import iou_v2 as timer1_iou_v2

    recs = json.loads((data / "timer1" / "tvgbench.json").read_text(encoding="utf-8"))
    points = []
    for r in recs:
        a, b = (float(x) for x in r["answer"].split("-"))
        if a == b:
            points.append((a, r["duration"]))
    raised = reused = ours_nonzero = 0
    for g, d in points:
        for k in range(8):
            group = [f"<think>.</think><answer>{max(0.0, g - 3):.2f} to {g + 3:.2f}</answer>"] * 8
            group[k] = f"<think>.</think><answer>{g} to {g}</answer>"
            ours = timer1_iou_v2(completions=group, span=[(g, g)] * 8, duration=[d] * 8)
            ours_nonzero += ours[k] != 0.0
            try:
                theirs = r1_iou_v2_reward(group, [(g, g)] * 8, [d] * 8)
                reused += 1
                assert theirs[k] == 0.0  # the reused IoU is the group's, and a point GT's IoU is 0
            except UnboundLocalError:
                raised += 1
    # batched as TRL calls rewards (several prompts per call): the stale IoU comes from another prompt
    batch = ["<answer>10 to 20</answer>", f"<answer>{points[0][0]} to {points[0][0]}</answer>"]
    sol, dur = [(12.0, 18.0), (points[0][0],) * 2], [30.0, points[0][1]]
    return {"zero_length_gts": len(points), "cases": len(points) * 8, "time_r1_raises": raised,
            "time_r1_reuses_previous_iou": reused, "timer1_nonzero": int(ours_nonzero),
            "batched_example": {"time_r1": round(r1_iou_v2_reward(batch, sol, dur)[1], 4),
                                "timer1": timer1_iou_v2(completions=batch, span=sol, duration=dur)[1]}}


def timerft_ingest(data: Path) -> dict:
    from tvgbench.data.sources import ingest

    path = data / "timer1" / "train_2k5.json"
    released = np.array([r["difficulty"] for r in json.loads(path.read_text(encoding="utf-8"))])
    kept = ingest("timer1-timerft", path).samples
    diff = np.array([s.difficulty for s in kept])

    def recall(x):
        return [round(float((x > t).mean() * 100), 1) for t in (30, 50, 70)]

    recs = json.loads(path.read_text(encoding="utf-8"))
    over = max(r["timestamp"][1] - r["duration"] for r in recs)
    return {"records": len(released), "kept_by_default": len(kept), "rejected": len(released) - len(kept),
            "R@0.3/0.5/0.7_time_r1_all": recall(released), "R@0.3/0.5/0.7_timer1_default": recall(diff),
            "end_tolerance_that_keeps_all_s": math.ceil(over)}


def resize(data: Path) -> dict | None:
    import decord
    import torch
    import torch.nn.functional as F

    from tvgbench.video import SamplingConfig, sample_video

    video = data / "videos" / "OHOFG.mp4"
    if not video.exists():
        return None
    vr = decord.VideoReader(str(video), num_threads=0)
    total, fps = len(vr), vr.get_avg_fps()
    rows = []
    for window in (None, (0.0, 10.0), (5.0, 20.0), (20.0, 35.0)):
        fast = sample_video(video, window, config=SamplingConfig(resize="fast"))
        exact = sample_video(video, window, config=SamplingConfig(resize="torch"))
        idx = list(fast.meta["indices"])
        full = torch.from_numpy(vr.get_batch(idx).asnumpy()).permute(0, 3, 1, 2).float()
        h, w = fast.frames.shape[1:3]
        ref = F.interpolate(full, size=(h, w), mode="bicubic", align_corners=False, antialias=True)
        ref = ref.clamp_(0, 255).round_().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        d = np.abs(fast.frames.astype(np.int16) - ref.astype(np.int16))
        rows.append({"window": window, "frames": len(idx), "size": [int(h), int(w)],
                     "fast_mean_abs": round(float(d.mean()), 3), "fast_max_abs": int(d.max()),
                     "torch_identical": bool(np.array_equal(exact.frames, ref))})
    return {"video": video.name, "total_frames": total, "fps": fps,
            "last_frame_dropped_by_time_r1": int(total / fps * fps) < total, "cases": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    report = {"frame_count": frame_count(), "iou_v2_clamp": iou_v2_clamp(args.data),
              "zero_union": zero_union(args.data), "timerft_ingest": timerft_ingest(args.data),
              "resize": resize(args.data)}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for name, section in report.items():
        print(f"{name}: {json.dumps(section)}")


if __name__ == "__main__":
    main()

"""Benchmark: `timer1 data synth` at its default size vs the bare cost of encoding the same frames.

Times, in the same run and best of N:
  * reference: one ffmpeg process per video encoding a flat lavfi `color` source with the same size,
    frame rate, frame count and x264 settings (no drawing, no Python): the floor for this output;
  * timer1:    make_synthetic(out, n_videos=8, seed=0) end to end (plans, numpy frames piped to ffmpeg,
    two encodes at a time, validation, parquet + card).
Goal (issue #3): a few seconds for the default size on the 2-core CPU machine; the ratio shows what the
drawing and the pipe cost on top of the encoder.

    python bench/bench_synth.py [--videos 8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np


def reference(durations: list[float], workdir: Path) -> float:
    from tvgbench.data import synth

    started = time.perf_counter()
    for i, d in enumerate(durations):
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi",
             "-i", f"color=c=gray:s={synth.WIDTH}x{synth.HEIGHT}:r={synth.FPS}:d={d}",
             "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast", "-crf", "12",
             "-g", str(4 * synth.FPS), "-threads", "1", str(workdir / f"ref_{i}.mp4")],
            check=True,
        )
    return time.perf_counter() - started


def main() -> None:
    from tvgbench.data import synth

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    durations = synth.video_durations(np.random.default_rng([0, 0]), args.videos)
    frames = int(sum(durations) * synth.FPS)
    ref_times, ours = [], []
    with tempfile.TemporaryDirectory(prefix="bench_synth_") as tmp:
        for r in range(args.repeat):
            ref_times.append(reference(durations, Path(tmp)))
            started = time.perf_counter()
            res = synth.make_synthetic(Path(tmp) / f"out{r}", n_videos=args.videos, seed=0)
            ours.append(time.perf_counter() - started)
    best_ref, best = min(ref_times), min(ours)
    print(f"videos: {args.videos}, {sum(durations):.0f} s of video, {frames} frames "
          f"({synth.WIDTH}x{synth.HEIGHT} @ {synth.FPS} fps), {len(res.samples)} queries")
    print(f"reference (bare ffmpeg encode of the same frames): best {best_ref:.2f} s of {args.repeat}")
    print(f"timer1 make_synthetic:                             best {best:.2f} s of {args.repeat} "
          f"({frames / best:.0f} frames/s)")
    print(f"ratio timer1 / reference: {best / best_ref:.2f}")


if __name__ == "__main__":
    main()

"""Benchmark: peak RSS of the quickstart and of `eval run` (issue #13, section C).

Each command runs in a fresh wrapper process whose ``RUSAGE_CHILDREN`` peak is the command's alone;
a psutil poller beside it records the same peak sampled every 50 ms (a check on the first, and what a
reader without ``getrusage`` would see). Measured:

  * ``timer1 quickstart`` (4 synthetic videos, the 190k-parameter tiny model): goal ≤ 1.5 GB here;
  * ``timer1 eval run`` on that quickstart's 44 synthetic queries with the default settings, and with
    ``--workers 0`` (no prefetch), so the prefetch queue's share is the difference;
  * ``eval run`` and ``data preprocess`` on a ~90 KB h264 file of 300 frames of 3840x3840 (goal < 1 GB).

Writes ``bench/results/memory.json``.

    python bench/bench_memory.py [--skip-huge]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

RESULTS = Path(__file__).resolve().parent / "results" / "memory.json"
_WRAPPER = ("import resource, subprocess, sys\n"
            "rc = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode\n"
            "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
            "sys.exit(rc)\n")


def _poll_tree_peak(proc: psutil.Process, stop: threading.Event, out: list[int]) -> None:
    """Largest RSS of any single process under ``proc``, sampled until ``stop``."""
    peak = 0
    while not stop.is_set():
        try:
            for p in proc.children(recursive=True):
                try:
                    peak = max(peak, p.memory_info().rss)
                except psutil.Error:
                    pass
        except psutil.Error:
            break
        stop.wait(0.05)
    out.append(peak)


def peak_rss(args: list[str], workdir: Path) -> dict:
    """Run ``timer1 ARGS``; its peak RSS (MB) by getrusage and by polling, and its wall time."""
    record = workdir / f"rss_{time.monotonic_ns()}"
    cmd = [sys.executable, "-c", _WRAPPER, str(record), sys.executable, "-m", "tvgbench.cli.main", *args]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd)
    stop, polled = threading.Event(), []
    poller = threading.Thread(target=_poll_tree_peak, args=(psutil.Process(proc.pid), stop, polled))
    poller.start()
    rc = proc.wait()
    stop.set()
    poller.join()
    if rc != 0:
        raise SystemExit(f"timer1 {' '.join(args)} exited {rc}")
    return {"command": "timer1 " + " ".join(args), "peak_rss_mb": round(int(record.read_text()) / 1024, 1),
            "polled_peak_rss_mb": round(polled[0] / 2**20, 1), "seconds": round(time.perf_counter() - started, 2)}


def huge_frames_split(workdir: Path) -> Path:
    """The issue's file: 300 frames of 3840x3840, h264 ultrafast (~90 KB), as one query's video."""
    from tvgbench.core.schema import Sample
    from tvgbench.core.splits import write_split

    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=gray:s=3840x3840:r=1:d=300",
                    "-c:v", "libx264", "-preset", "ultrafast", str(workdir / "huge.mp4")], check=True)
    write_split([Sample(video="huge.mp4", query="the grey screen", span=(1.0, 5.0), duration=300.0, source="t")],
                workdir / "huge_split", "test", window_mode="crop")
    return workdir / "huge_split"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-huge", action="store_true", help="Leave out the 3840x3840 file (about 2 minutes).")
    args = ap.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        qs = tmp / "qs"
        rows["quickstart"] = peak_rss(["quickstart", "-o", str(qs)], tmp)
        run = ["eval", "run", "--split", str(qs / "synth"), "--video-root", str(qs / "synth"),
               "--model", str(qs / "tiny-model"), "--quiet"]
        rows["eval_run_44_queries"] = peak_rss([*run, "--out", str(tmp / "run")], tmp)
        rows["eval_run_44_queries_no_prefetch"] = peak_rss([*run, "--out", str(tmp / "run0"), "--workers", "0"], tmp)
        if not args.skip_huge:
            split = huge_frames_split(tmp)
            rows["eval_run_3840x3840"] = peak_rss(
                ["eval", "run", "--split", str(split), "--video-root", str(tmp), "--model", str(qs / "tiny-model"),
                 "--out", str(tmp / "run_huge"), "--max-new-tokens", "8", "--quiet"], tmp)
            rows["preprocess_3840x3840"] = peak_rss(
                ["data", "preprocess", str(split), "--video-root", str(tmp), "--cache", str(tmp / "cache")], tmp)
    result = {"machine": {"cpus": psutil.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
                          "python": platform.python_version()},
              "goals_mb": {"quickstart": 1536, "eval_run_3840x3840": 1024, "preprocess_3840x3840": 1024},
              "runs": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for name, row in rows.items():
        print(f"{name:34s} peak {row['peak_rss_mb']:8.1f} MB (polled {row['polled_peak_rss_mb']:8.1f})  {row['seconds']:6.1f} s")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

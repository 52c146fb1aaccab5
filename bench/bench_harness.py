"""Decode prefetch vs a sequential loop: samples/s of `run_eval` with the tiny model on CPU.

All arms run the same split, the same loaded model, settings and batches in the same process; the only
difference is ``workers`` (0: decode inline, then generate; N: a pool decodes ahead while the model
generates). The sequential reference is given its best decoder setting: it runs twice per repeat, with
FFmpeg's own thread count (the product default for an inline decode) and with one decoder thread (which
is faster on the small synthetic videos), and the faster median is the reference. The prefetch arm runs
with ``--workers`` (default: the harness's own default, cores - 1). All three use ``--threads`` torch
threads; when that is fewer than the cores, a fourth arm runs the sequential loop with the model on all
cores, and ``ratio_vs_best_sequential`` compares the prefetch arm with the best sequential arm of all.
The figure is the evaluation loop's throughput (queries / seconds of the loop, as run.json's
``last_session`` reports it); end-to-end times (with scoring and file writes) are printed too.
Target: ratio >= 1.5. The arms alternate (ABCABC...) so machine-load drifts hit all of them.

``--reencode 480x270@30`` re-encodes the synthetic videos (160x120 at 8 fps as rendered) to a real
dataset's encoding (Charades-STA's 480p release is 480 wide at ~30 fps) before the run: same clips and
queries, the model sees the same frame sizes (the pixel budget binds), only decoding costs what it costs
on real videos. The printed ``bound`` is the ratio a perfect overlap could reach, sequential loop time /
summed generate time: prefetching can hide decoding, never generation. ``decode_slowdown_in_pool`` is how
much longer the same decoding takes in the pool, beside the generating model, than inline on an idle
core: what the machine loses to running the two at once (on a 2-vCPU VM it is about 2x).

``--pin`` runs the comparison one core against two: the calling thread (the model, and an inline
decode) is pinned to the first allowed core and the pool's threads to the second. Without it, a
"sequential" loop is not single-core: decord runs its decoder in a thread of its own, which the OS puts
on the idle core while the model waits, so the sequential arms already overlap part of the decoding.

    .venv/bin/python bench/bench_harness.py [--videos 4] [--repeats 5] [--workers N] [--reencode WxH@FPS]
                                            [--pin] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--max-duration", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--workers", type=int, default=None, help="prefetch workers (default: the harness default)")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (both arms)")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--reencode", default=None, help="re-encode the videos first, e.g. 480x270@30")
    ap.add_argument("--pin", action="store_true", help="model + inline decode on one core, the pool on another")
    ap.add_argument("--json", default=None, help="also write the result here")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch

    from tvgbench.harness.runner import run_eval
    from tvgbench.harness.backends import GenParams, make_backend
    from tvgbench.harness.runner import default_workers
    from tvgbench.video.decode import set_decoder_threads
    from tvgbench.data.synth import make_synthetic
    from tvgbench.models.tiny import build_tiny_model

    work = Path(tempfile.mkdtemp(prefix="bench_harness_"))
    try:
        make_synthetic(work / "synth", n_videos=args.videos, seed=0, max_duration=args.max_duration)
        if args.reencode:
            reencode(work / "synth" / "videos", args.reencode)
        model = build_tiny_model(work / "tiny", seed=0)
        params = GenParams(max_new_tokens=args.max_new_tokens)
        backend = make_backend("hf", str(model), params, threads=args.threads, device="cpu")  # loaded once
        common = dict(batch_size=args.batch_size, gen=params, progress=False, bootstrap=0, limit=args.limit,
                      backend_obj=backend)
        workers = args.workers if args.workers is not None else default_workers()
        cores = os.cpu_count() or 1
        # (name, prefetch workers, inline decoder threads, torch threads)
        arms = [("sequential", 0, 0, args.threads), ("sequential-1thread", 0, 1, args.threads),
                ("prefetch", workers, 0, args.threads)]
        if args.pin:
            pin_cores()
        elif args.threads < cores:  # a sequential loop may also give the model every core
            arms.append(("sequential-allcores", 0, 1, cores))
        rates: dict[str, list[float]] = {arm[0]: [] for arm in arms}
        bounds: dict[str, list[float]] = {arm[0]: [] for arm in arms}
        end_to_end: dict[str, list[float]] = {arm[0]: [] for arm in arms}
        decode_s: dict[str, list[float]] = {arm[0]: [] for arm in arms}
        n_queries = 0
        # warm-up (imports, first decode, allocator) outside the timed arms
        run_eval(work / "synth", work / "synth", model, out_dir=work / "warm", limit=args.batch_size, **{
            k: v for k, v in common.items() if k != "limit"})
        for rep in range(args.repeats):
            for arm, arm_workers, main_decoder_threads, torch_threads in arms:
                out = work / f"{arm}{rep}"
                set_decoder_threads(main_decoder_threads)  # the inline decode's threads (pool workers use 1)
                torch.set_num_threads(torch_threads)
                t0 = time.perf_counter()
                summary = run_eval(work / "synth", work / "synth", model, out_dir=out, workers=arm_workers, **common)
                seconds = time.perf_counter() - t0
                set_decoder_threads(0)
                torch.set_num_threads(args.threads)
                n_queries = summary["counts"]["lines"]
                loop = summary["last_session"]
                rates[arm].append(loop["queries_per_s"])
                bounds[arm].append(loop["seconds"] / summary["counts"]["generate_s_total"])
                end_to_end[arm].append(n_queries / seconds)
                decode_s[arm].append(summary["counts"]["decode_s_total"])
                print(f"{arm:18s} rep {rep}: loop {loop['seconds']:.2f} s = {loop['queries_per_s']:.2f} q/s; "
                      f"end to end {seconds:.2f} s; summed decode {summary['counts']['decode_s_total']:.1f} s, "
                      f"generate {summary['counts']['generate_s_total']:.1f} s")
                shutil.rmtree(out)
        medians = {arm: statistics.median(r) for arm, r in rates.items()}
        reference = max(("sequential", "sequential-1thread"), key=medians.__getitem__)
        seq, pre = medians[reference], medians["prefetch"]
        best_sequential = max((a for a in medians if a.startswith("sequential")), key=medians.__getitem__)
        result = {
            "bench": "harness prefetch vs sequential", "queries": n_queries, "videos": args.videos,
            "max_duration": args.max_duration, "workers": workers, "batch_size": args.batch_size,
            "threads": args.threads, "max_new_tokens": args.max_new_tokens, "repeats": args.repeats,
            "reference_arm": reference, "sequential_qps": round(seq, 3), "prefetch_qps": round(pre, 3),
            "ratio": round(pre / seq, 3), "target": 1.5, "reencode": args.reencode,
            # against every sequential arm, the one that gives the model all cores included
            "best_sequential_arm": best_sequential,
            "ratio_vs_best_sequential": round(pre / medians[best_sequential], 3),
            "bound": round(statistics.median(bounds[reference]), 3),
            "prefetch_loop_over_generate": round(statistics.median(bounds["prefetch"]), 3),
            "medians_qps": {arm: round(v, 3) for arm, v in medians.items()}, "rates": rates,
            # the same decoding, summed over the run: inline on an otherwise idle core vs in the pool
            # beside the generating model (how much slower decoding gets when the two share the machine)
            "decode_s_medians": {arm: round(statistics.median(v), 3) for arm, v in decode_s.items()},
            "decode_slowdown_in_pool": round(statistics.median(decode_s["prefetch"])
                                             / statistics.median(decode_s["sequential-1thread"]), 3),
            "end_to_end_ratio": round(statistics.median(end_to_end["prefetch"]) / statistics.median(end_to_end[reference]), 3),
            "pinned": args.pin,
            "cpu_count": os.cpu_count(),
            "load_avg": os.getloadavg(),
        }
        print(json.dumps(result, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def pin_cores() -> None:
    """This thread (and threads it starts later, e.g. decord's) on one core; the decode pool on another.

    Wraps the runner's thread pool class for this benchmark process only, adding the pinning to each
    worker's start; the product never pins.
    """
    import threading

    from tvgbench.harness import runner

    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        raise SystemExit("--pin needs two cores")
    model_core, pool_core = allowed[0], allowed[1]

    class PinnedPool(runner.ThreadPoolExecutor):
        def __init__(self, *a, initializer=None, initargs=(), **kw):
            def start(*args):
                os.sched_setaffinity(threading.get_native_id(), {pool_core})
                if initializer is not None:
                    initializer(*args)

            super().__init__(*a, initializer=start, initargs=initargs, **kw)

    runner.ThreadPoolExecutor = PinnedPool
    os.sched_setaffinity(threading.get_native_id(), {model_core})


def reencode(video_dir: Path, spec: str) -> None:
    """Re-encode every mp4 in ``video_dir`` in place to ``WxH@FPS`` (H.264, like the real releases)."""
    import ffmpeg

    size, fps = spec.split("@")
    width, height = (int(v) for v in size.split("x"))
    for path in sorted(video_dir.glob("*.mp4")):
        tmp = path.with_suffix(".tmp.mp4")
        (ffmpeg.input(str(path)).filter("scale", width, height).filter("fps", fps=float(fps))
         .output(str(tmp), vcodec="libx264", pix_fmt="yuv420p", preset="veryfast", crf=23)
         .overwrite_output().run(quiet=True))
        tmp.replace(path)


if __name__ == "__main__":
    main()

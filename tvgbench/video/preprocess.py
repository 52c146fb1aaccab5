"""``timer1 data preprocess``: decode + sample + resize every (video, window) of a split once, into the cache.

Resumable (finished entries are skipped; entries appear atomically), parallel (process pool),
and every video that fails is reported with its reason while the run goes on.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from tvgbench.core.errors import Timer1Error
from tvgbench.core.report import write_json_atomic
from tvgbench.core.splits import load_split
from tvgbench.video import cache as cache_mod
from tvgbench.video.config import SamplingConfig
from tvgbench.video.decode import VideoProbe, check_file
from tvgbench.video.errors import VideoError
from tvgbench.video.proxy import make_proxy, read_manifest, write_manifest
from tvgbench.video.records import should_crop
from tvgbench.video.sample import sample_video

REPORT = "preprocess_report.json"
CACHE_INFO = "cache.json"
STALE_TMP_SECONDS = 600


@dataclass
class Entry:
    key: str
    video: str
    window: tuple[float, float] | None
    crop: bool
    source_size: int = 0
    qids: list[str] = field(default_factory=list)


def plan_entries(samples, video_root: Path, window_mode: str, config: SamplingConfig):
    """Unique (video, window) entries of a split, plus the records whose file is missing or empty."""
    entries: dict[str, Entry] = {}
    failures: dict[str, dict] = {}
    sizes: dict[str, int] = {}
    for s in samples:
        if s.video in failures:
            failures[s.video]["qids"].append(s.qid)
            continue
        if s.video not in sizes:
            path = video_root / s.video
            try:
                check_file(path)
            except VideoError as e:
                failures[s.video] = {"video": s.video, "reason": e.reason, "detail": e.detail, "qids": [s.qid]}
                continue
            sizes[s.video] = os.stat(path).st_size
        crop = should_crop(s, window_mode)
        window = s.window if crop else None
        key = cache_mod.entry_key(s.video, window, config)
        entries.setdefault(key, Entry(key, s.video, window, crop, source_size=sizes[s.video])).qids.append(s.qid)
    return list(entries.values()), list(failures.values())


def _init_worker() -> None:
    # one process per core: keep each process single-threaded so N workers use N cores, not N²
    import torch

    torch.set_num_threads(1)


def cache_one(entry: Entry, video_root: str, cache_dir: str, config: SamplingConfig,
              proxy: str | None = None, source_probe: dict | None = None) -> dict:
    """Decode one entry into the cache. Never raises: returns a status row for the report."""
    t0 = time.perf_counter()
    try:
        sampled = sample_video(Path(video_root) / entry.video, entry.window, crop=entry.crop, config=config,
                               proxy=proxy, source_probe=VideoProbe(**source_probe) if source_probe else None)
        sampled.meta.update(video=entry.video, source_size=entry.source_size)
        nbytes = cache_mod.write_entry(cache_mod.entry_path(cache_dir, entry.key), sampled)
    except VideoError as e:
        return {"key": entry.key, "status": "failed", "reason": e.reason, "detail": e.detail}
    except Exception as e:  # a bug or an unexpected decoder error must not stop a 300 GB run
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        return {"key": entry.key, "status": "failed", "reason": "undecodable", "detail": f"{type(e).__name__}: {msg}"}
    return {"key": entry.key, "status": "cached", "bytes": nbytes, "frames": sampled.num_frames,
            "raw_float32_bytes": int(sampled.frames.size) * 4, "seconds": time.perf_counter() - t0}


def _remove_stale_tmp(d: Path) -> int:
    """Temporary entries a killed run left (named as cache.write_entry names them: nothing else is touched)."""
    now, removed = time.time(), 0
    for p in d.glob(f"??/*{cache_mod.SUFFIX}.*.tmp"):
        try:
            if now - p.stat().st_mtime > STALE_TMP_SECONDS:
                p.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed


def _run(tasks, fn, workers: int, desc: str, progress: bool):
    """Run ``fn(*task)`` over tasks (in-process for 1 worker), yielding results as they finish."""
    bar = tqdm(total=len(tasks), desc=desc, unit="video", disable=not progress, dynamic_ncols=True)
    try:
        if workers <= 1:
            for t in tasks:
                yield fn(*t)
                bar.update()
            return
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        before = set(mp.active_children())
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"), initializer=_init_worker)
        own_workers: set = set()
        try:
            with _sigint_ignored():  # the workers start on submit and inherit it: Ctrl-C reaches this process only
                futures = [pool.submit(fn, *t) for t in tasks]
            own_workers = set(mp.active_children()) - before
            for f in as_completed(futures):
                yield f.result()
                bar.update()
        except BaseException:
            _stop_workers(pool, own_workers)
            raise
        finally:
            pool.shutdown(wait=True)
    finally:
        bar.close()


@contextmanager
def _sigint_ignored():
    """SIGINT ignored meanwhile (only the main thread may change it; an ignored signal survives exec)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)


def _stop_workers(pool, workers) -> None:
    """Stop at once: drop the queued entries, end the running ones (entries appear atomically, so a
    stopped worker leaves only a temp file, removed by a later run)."""
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in workers:
        proc.terminate()


def make_one_proxy(video: str, video_root: str, proxy_dir: str, height: int, fps: float) -> dict:
    try:
        row = make_proxy(Path(video_root) / video, Path(proxy_dir) / video, max_height=height, max_fps=fps)
    except VideoError as e:
        return {"video": video, "status": "failed", "reason": e.reason, "detail": e.detail}
    return {"video": video, "status": "ok", "row": row}


def build_proxies(videos, video_root: Path, proxy_dir: Path, *, height: int, fps: float, workers: int,
                  progress: bool) -> tuple[dict, list[dict]]:
    """Proxies for ``videos`` (skipping ones already made with the same settings); manifest + failures."""
    manifest = read_manifest(proxy_dir)
    todo = []
    for v in videos:
        row = manifest.get(v)
        fresh = (row is not None and (proxy_dir / v).is_file() and row.get("max_height") == height
                 and row.get("max_fps") == fps and row.get("source_size") == os.stat(video_root / v).st_size)
        if not fresh:
            todo.append((v, str(video_root), str(proxy_dir), height, fps))
    failures = []
    try:
        for res in _run(todo, make_one_proxy, workers, "proxies", progress):
            if res["status"] == "ok":
                manifest[res["video"]] = res["row"]
            else:
                failures.append(res)
    finally:
        write_manifest(proxy_dir, manifest)  # keep what finished, even when interrupted
    return manifest, failures


def preprocess(
    split_dir, video_root, cache_dir, *, split: str | None = None, workers: int = 1,
    config: SamplingConfig = SamplingConfig(), proxy_dir=None, proxy_limits: tuple[int, float] = (360, 4.0),
    progress: bool = True, shard: tuple[int, int] = (0, 1),
) -> dict:
    """Fill ``cache_dir`` for every record of the split; returns (and writes) the report.

    ``proxy_limits``: the proxies' largest short side (px) and fps, with ``proxy_dir``.

    ``shard`` (k, n): only the k-th of n contiguous chunks of the split's videos (one rank of a launch; its
    report is ``preprocess_report.rank-k-of-n.json``). Entries are per video, so shards never write the same one."""
    t0 = time.perf_counter()
    sp = load_split(split_dir, split)
    video_root, cache_dir = Path(video_root), Path(cache_dir)
    if not video_root.is_dir():
        raise Timer1Error(f"video root not found: {video_root}")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise Timer1Error(f"cannot create cache folder {cache_dir}: {e.strerror}") from None
    stale = _remove_stale_tmp(cache_dir)
    entries, failures = plan_entries(shard_samples(sp.samples, shard), video_root, sp.window_mode, config)
    pending = [e for e in entries
               if not cache_mod.entry_is_complete(cache_mod.entry_path(cache_dir, e.key), e.source_size)]
    already = len(entries) - len(pending)

    manifest = {}
    proxy_height, proxy_fps = proxy_limits
    if proxy_dir is not None and pending:
        videos = sorted({e.video for e in pending})
        manifest, proxy_failures = build_proxies(videos, video_root, Path(proxy_dir), height=proxy_height,
                                                 fps=proxy_fps, workers=workers, progress=progress)
        bad = {f["video"]: f for f in proxy_failures}
        for e in [e for e in pending if e.video in bad]:
            failures.append({"video": e.video, "window": e.window, "reason": bad[e.video]["reason"],
                             "detail": bad[e.video]["detail"], "qids": e.qids})
        pending = [e for e in pending if e.video not in bad]

    write_json_atomic(cache_dir / CACHE_INFO, {
        "format": cache_mod.CACHE_FORMAT, "config": asdict(config), "config_key": config.output_key(),
        "pixels_from": "proxy" if proxy_dir is not None else "source",
        **({"proxy": {"dir": str(proxy_dir), "max_height": proxy_height, "max_fps": proxy_fps}} if proxy_dir else {}),
    })
    tasks = []
    for e in pending:
        row = manifest.get(e.video)
        proxy = str(Path(proxy_dir) / e.video) if row else None
        tasks.append((e, str(video_root), str(cache_dir), config, proxy, row["source"] if row else None))
    by_key = {e.key: e for e in pending}
    cached, nbytes, float_bytes = 0, 0, 0
    interrupted = False
    try:
        for res in _run(tasks, cache_one, workers, "cache", progress):
            if res["status"] == "cached":
                cached += 1
                nbytes += res["bytes"]
                float_bytes += res["raw_float32_bytes"]
            else:
                e = by_key[res["key"]]
                failures.append({"video": e.video, "window": e.window, "reason": res["reason"],
                                 "detail": res["detail"], "qids": e.qids})
    except KeyboardInterrupt:
        interrupted = True
    report = {
        "split": sp.name, "split_dir": str(split_dir), "content_hash": sp.content_hash,
        "video_root": str(video_root), "cache_dir": str(cache_dir), "workers": workers,
        "records": len(shard_samples(sp.samples, shard)), "entries": len(entries), "already_cached": already, "cached_now": cached,
        "failed_entries": len(failures), "failed_records": sum(len(f["qids"]) for f in failures),
        "failures_by_reason": _count_reasons(failures),
        "failures": [{**f, "qids": f["qids"][:20], "n_qids": len(f["qids"])} for f in failures],
        "bytes_written": nbytes, "float32_bytes_equivalent": float_bytes,
        "stale_tmp_removed": stale, "interrupted": interrupted, "seconds": round(time.perf_counter() - t0, 3),
        "config": asdict(config),
    }
    if shard[1] > 1:
        report["shard"] = list(shard)
    write_json_atomic(cache_dir / report_name(shard), report)
    if interrupted:
        raise KeyboardInterrupt
    return report


def shard_samples(samples, shard: tuple[int, int]) -> list:
    """The records of shard k of n: those of the k-th contiguous chunk of ceil(V / n) of the split's V videos
    (in first-appearance order; the chunks of eval run --shard), so every window of a video is in one shard."""
    k, n = shard
    videos = list(dict.fromkeys(s.video for s in samples))
    chunk = -(-len(videos) // n)
    mine = set(videos[k * chunk:(k + 1) * chunk])
    return [s for s in samples if s.video in mine]


def report_name(shard: tuple[int, int]) -> str:
    return REPORT if shard[1] == 1 else f"preprocess_report.rank-{shard[0]}-of-{shard[1]}.json"


def _count_reasons(failures) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in failures:
        out[f["reason"]] = out.get(f["reason"], 0) + 1
    return dict(sorted(out.items()))

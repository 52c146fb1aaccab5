"""``run_eval``: a split + a model → predictions.jsonl, run.json, scores.json; resumable and shardable.

How a run proceeds
------------------
1. The split's queries are cut into the requested shard (Time-R1's contiguous chunks,
   ``ceil(N / n)`` each) and optionally the first ``limit`` of them.
2. Batches are fixed by position (items ``k·B … k·B+B-1``), so a resumed run computes every batch
   with exactly the same members as an uninterrupted one and gets the same outputs.
3. A worker pool decodes videos and builds requests ahead of the model (``workers`` threads,
   ``prefetch`` items deep), overlapping decode with generation. Each worker's decoder runs on one
   FFmpeg thread (the pool is the parallelism); by default there is one worker per core left over
   after the model's thread, so the two never fight for the same cores.
4. Each finished batch's lines are appended to ``predictions.jsonl`` with one write + fsync; ``--resume``
   drops a torn last line, skips finished qids and continues (an unfinished batch is recomputed whole).
5. A bad video (a reason of tvgbench.video.errors.REASONS: missing, not_a_video, truncated, …)
   becomes that query's error line (no span, so the scorer counts a miss) and the run's status is ``partial``.

A run's settings are one frozen :class:`tvgbench.harness.config.RunConfig` (QA: ``QARunConfig``);
run.json's ``settings`` are its serialisation. TVG and QA runs share the run-folder code here
(:func:`open_run_folder`: lock, resume checks, backend, run.json) and the loop (:func:`run_items`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Callable

from tqdm import tqdm

from tvgbench import __version__
from tvgbench.core.errors import Timer1Error
from tvgbench.core.parsing import parse_answer
from tvgbench.core.report import write_json_atomic
from tvgbench.core.splits import load_split
from tvgbench.harness.backends import LOCAL_CHECKPOINT, check_backend, family_sampling, make_backend
from tvgbench.harness.config import default_workers  # noqa: F401  (bench/bench_harness.py imports it from here)
from tvgbench.harness.config import EvalConfig, RunConfig, TVG_POSITIONAL, config_from_call, shard_slice
from tvgbench.harness.jsonl import DurableLog, recover
from tvgbench.harness.provenance import family_record, library_versions, prompt_record, redact
from tvgbench.harness.rundir import (  # noqa: F401  (RunLock, prepare_run_dir: imported from here too)
    PREDICTIONS, RUN_JSON, SCORES, RunLock, check_backend_matches, check_videos_exist, failure_reason, prepare_run_dir,
)
from tvgbench.models.hub import resolve_model
from tvgbench.models.prompts import build_messages
from tvgbench.video import VideoError, sample_video, should_crop
from tvgbench.video.decode import decoder_threads, set_decoder_threads

RUN_FORMAT = 1


@dataclass
class WorkItem:
    """One query for the model: what to decode, what to ask, and the extra fields of its line."""

    qid: str
    video_path: Path
    window: tuple[float, float] | None
    crop: bool
    messages: list[dict]
    duration: float | None = None
    extra: dict = field(default_factory=dict)
    sample: Any = None  # the canonical Sample (TVG) or QA item
    video_root: Path | None = None  # set for canonical samples: enables the frame cache


@dataclass
class Prepared:
    item: WorkItem
    request: Any = None
    error: dict | None = None
    decode_s: float = 0.0
    video: dict = field(default_factory=dict)


def load_backend(config: EvalConfig):
    """The run's backend; on CPU the hf model leaves the decode pool its cores (unless --threads is given)."""
    options = dict(config.backend_options)
    if config.backend == "hf":
        options.setdefault("reserve_cores", config.workers)
    model = str(config.model)
    if config.backend in LOCAL_CHECKPOINT:  # a Hub id loads from its snapshot folder (fetched by the model check)
        model = resolve_model(model).path
    return make_backend(config.backend, model, config.gen, **options)


def fixed_batches(n_items: int, batch_size: int) -> list[range]:
    return [range(k, min(k + batch_size, n_items)) for k in range(0, n_items, batch_size)]


def _prepare(item: WorkItem, backend, sampling, assistant_prefix: str, cache_dir) -> Prepared:
    """Decode + build the request for one item; a bad video becomes an error record (never raises)."""
    t0 = time.perf_counter()
    try:
        if cache_dir is not None and item.video_root is not None:
            from tvgbench.video import sample_for_record

            sampled = sample_for_record(item.sample, item.video_root, window_mode="crop" if item.crop else "pretrimmed",
                                        config=sampling, cache_dir=cache_dir)
        else:
            sampled = sample_video(item.video_path, item.window, crop=item.crop, config=sampling)
    except VideoError as e:
        return Prepared(item, error={"reason": e.reason, "message": str(e)}, decode_s=time.perf_counter() - t0)
    decode_s = time.perf_counter() - t0
    request = backend.prepare(item.messages, assistant_prefix, sampled)
    meta = sampled.meta or {}
    video = {"n_frames": sampled.num_frames, "sample_fps": round(float(sampled.sample_fps), 6),
             "frame_size": [int(sampled.frames.shape[1]), int(sampled.frames.shape[2])]}
    if meta.get("effective_frames") and meta.get("video_fps"):
        video["clip_s"] = round(meta["effective_frames"] / meta["video_fps"], 3)
    if getattr(request, "num_video_tokens", None):
        video["video_tokens"] = int(request.num_video_tokens)
    return Prepared(item, request, None, decode_s, video)


@dataclass
class ReadyBatch:
    """One batch, prepared: its items in order, and ``collate(prepared)`` when a collate function is set."""

    prepared: list[Prepared]
    collated: Any = None


class _BatchJoin:
    """Counts one batch's futures down; the pool thread that finishes the last item collates the batch.

    So collation (for the hf backend: concatenating the batch's pixels, padding the prompts) runs in the
    pool beside generation, as a DataLoader's collate_fn runs in its workers, but only for a batch that
    is complete before the caller asks for it. If the caller is already waiting (the pool is the slower
    side), the caller collates: its time is free then, and the pool goes on decoding the next items.
    """

    def __init__(self, futures: list[Future], collate: Callable[[list[Prepared]], Any]):
        self.futures, self.collate = futures, collate
        self.remaining = len(futures)
        self.lock = threading.Lock()
        self.wanted = self.claimed = False
        self.result: Future = Future()
        for f in futures:
            f.add_done_callback(self._one_done)

    def want(self) -> bool:
        """The caller asks for the batch now; True when the pool has already taken its collation."""
        with self.lock:
            self.wanted = True
            return self.claimed

    def _one_done(self, _future: Future) -> None:
        with self.lock:
            self.remaining -= 1
            if self.remaining or self.wanted:
                return
            self.claimed = True
        if any(f.cancelled() or f.exception() is not None for f in self.futures):
            self.result.set_result(None)  # the caller re-raises the item's error
            return
        try:
            self.result.set_result(self.collate([f.result() for f in self.futures]))
        except BaseException as e:  # handed to the caller, which re-raises it in the loop
            self.result.set_exception(e)


PREFETCH_BYTES = 256 << 20  # prepared requests held ahead of the batch being asked for


def payload_bytes(obj) -> int:
    """Bytes of the arrays, tensors and strings a request holds (in dicts, lists and dataclasses)."""
    nbytes = getattr(obj, "nbytes", None)  # numpy arrays and torch tensors
    if isinstance(nbytes, int):
        return nbytes
    if isinstance(obj, (bytes, str)):
        return len(obj)
    if isinstance(obj, dict):
        return sum(payload_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(payload_bytes(v) for v in obj)
    if is_dataclass(obj) and not isinstance(obj, type):
        return sum(payload_bytes(getattr(obj, f.name)) for f in fields(obj))
    return 0


class Prefetcher:
    """Prepares ``batches``' items with a thread pool, at most ``depth`` items ahead of the consumer
    and, past the batch asked for, at most ``max_bytes`` of prepared requests ahead (memory follows
    bytes, not items: one item of a long or large video can hold as much as many short ones).

    ``batches`` lists, in the order they will be asked for, the item indices of each batch (on resume,
    finished batches are left out, so nothing is decoded for them); without it every item is its own
    batch. With ``collate``, a batch the pool prepared whole before it is asked for is collated there too.
    A batch whose items the pool has not started yet (the first one, or after a slow stretch) is partly
    prepared by the calling thread itself rather than waited for: it would otherwise sit idle.
    """

    def __init__(self, items: list[WorkItem], fn: Callable[[WorkItem], Prepared], workers: int, depth: int,
                 batches: list[list[int]] | None = None, collate: Callable[[list[Prepared]], Any] | None = None,
                 max_bytes: int = PREFETCH_BYTES):
        self.items, self.fn, self.collate = items, fn, collate
        self.max_bytes = max_bytes
        self.largest_item = 0  # bytes of the largest request prepared so far: the estimate for one in flight
        self.measured = False
        # bytes of each finished, unconsumed request: measured once (walking a request's token ids on every
        # submission cost the model's thread ~1 ms a batch, 2.5% of a tiny vLLM run)
        self.sizes: dict[int, int] = {}
        batches = [[i] for i in range(len(items))] if batches is None else [list(b) for b in batches]
        self.order = [i for b in batches for i in b]
        self.position = {index: k for k, index in enumerate(self.order)}
        self.closes_batch = {b[-1]: b for b in batches if b}  # last index of a batch -> the batch
        self.pool = (ThreadPoolExecutor(max_workers=workers, thread_name_prefix="timer1-decode",
                                        initializer=set_decoder_threads, initargs=(1,))
                     if workers > 0 else None)
        self.depth = max(1, depth)
        self.futures: dict[int, Future] = {}
        self.joins: dict[int, _BatchJoin] = {}  # keyed by the batch's last index
        self.next_submit = 0  # position in ``order``

    def _bytes_ahead(self) -> int:
        """Bytes held by submitted, unconsumed items: finished ones measured, running ones estimated."""
        held = running = 0
        for index, f in self.futures.items():
            if not f.done():
                running += 1
            elif index in self.sizes:
                held += self.sizes[index]
            elif not f.cancelled() and f.exception() is None:
                size = self.sizes[index] = payload_bytes(f.result().request)
                self.largest_item = max(self.largest_item, size)
                held += size
        return held + running * self.largest_item

    def _submit_ahead(self, last_index: int) -> None:
        must = self.position[last_index] + 1  # the batch asked for is always submitted
        limit = self.position[last_index] + self.depth
        while self.next_submit < len(self.order) and self.next_submit < limit:
            if self.next_submit >= must:
                if not self.measured:  # the size of one request first, so the queue is bounded from the start
                    wait(list(self.futures.values()), return_when=FIRST_COMPLETED)
                    self.measured = True
                if self._bytes_ahead() >= self.max_bytes:
                    break
            ahead = self.order[self.next_submit]
            self.futures[ahead] = self.pool.submit(self.fn, self.items[ahead])
            self.next_submit += 1
            batch = self.closes_batch.get(ahead)
            if batch is not None and self.collate is not None:
                self.joins[ahead] = _BatchJoin([self.futures[i] for i in batch], self.collate)

    def get_batch(self, indices: list[int]) -> ReadyBatch:
        """The prepared items of one batch, in order (and the batch collated, when asked for)."""
        if self.pool is None:
            prepared = [self.fn(self.items[i]) for i in indices]
            return ReadyBatch(prepared, self.collate(prepared) if self.collate else None)

        self._submit_ahead(indices[-1])
        join = self.joins.pop(indices[-1], None)
        pool_collates = join.want() if join is not None else False
        done: dict[int, Prepared] = {}
        # take back, from the end of the batch, items the pool has not started, and prepare them here
        stolen = [i for i in reversed(indices) if self.futures[i].cancel()]
        if stolen:
            saved = decoder_threads()
            set_decoder_threads(1)  # the pool is decoding beside this thread
            try:
                for i in stolen:
                    self.futures.pop(i)
                    done[i] = self.fn(self.items[i])
            finally:
                set_decoder_threads(saved)
        prepared = [done[i] if i in done else self.futures.pop(i).result() for i in indices]
        for i in indices:
            self.sizes.pop(i, None)
        if self.collate is None:
            return ReadyBatch(prepared)
        collated = join.result.result() if pool_collates else None
        if collated is None:  # the pool was behind (or could not collate): collate here
            collated = self.collate(prepared)
        return ReadyBatch(prepared, collated)

    def close(self) -> None:
        if self.pool is not None:
            for f in self.futures.values():
                f.cancel()
            self.pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class LoopResult:
    n_items: int
    n_done_before: int
    n_written: int
    n_errors: int
    seconds: float
    errors_by_reason: dict[str, int]


def _collator(backend) -> Callable[[list[Prepared]], Any] | None:
    """The backend's batch collation over a batch's good items, for the pool to run (None: the backend has none)."""
    collate = getattr(backend, "collate", None)
    if collate is None:
        return None

    def collate_ok(prepared: list[Prepared]):
        ok = [p.request for p in prepared if p.error is None]
        return collate(ok) if ok else None

    return collate_ok


def run_items(items: list[WorkItem], backend, config: EvalConfig, *, out_path: Path, done: set[str],
              finish: Callable[[WorkItem, Prepared, Any], dict], assistant_prefix: str,
              desc: str = "evaluating") -> LoopResult:
    """The shared loop (TVG and QA): fixed batches, prefetching, durable lines, per-query errors.

    ``config`` (resolved) gives the sampling, batch size, workers, prefetch depth, frame cache and progress bar.
    """
    batch_size, workers = config.batch_size, config.workers
    # batches with nothing left to do are skipped whole; the others are recomputed whole (fixed membership)
    batches = [b for b in fixed_batches(len(items), batch_size) if any(items[i].qid not in done for i in b)]
    depth = config.prefetch if config.prefetch is not None else max(2 * batch_size, 2 * workers)
    fetcher = Prefetcher(items, lambda it: _prepare(it, backend, config.sampling, assistant_prefix, config.cache_dir),
                         workers, depth, batches=batches, collate=_collator(backend))
    n_written = n_errors = 0
    n_before = sum(it.qid in done for it in items)
    errors: dict[str, int] = {}
    started = time.perf_counter()
    bar = tqdm(total=len(items), initial=n_before, desc=desc, unit="query",
               disable=not config.progress, dynamic_ncols=True)
    log = DurableLog(out_path)
    try:
        for batch in batches:
            ready = fetcher.get_batch(list(batch))  # the whole batch, so its composition never changes
            prepared = ready.prepared
            ok = [p for p in prepared if p.error is None]
            t0 = time.perf_counter()
            outputs = backend.generate(ready.collated if ready.collated is not None else [p.request for p in ok]) if ok else []
            gen_s = time.perf_counter() - t0
            by_qid = {p.item.qid: o for p, o in zip(ok, outputs)}
            records = []
            for p in prepared:
                if p.item.qid in done:
                    continue
                timing = {"decode_s": round(p.decode_s, 4), "generate_s": round(gen_s / max(1, len(ok)), 4),
                          "batch_size": len(ok)}
                record = finish(p.item, p, by_qid.get(p.item.qid))
                record["timing"] = timing
                records.append(record)
                if p.error is not None:
                    n_errors += 1
                    errors[p.error["reason"]] = errors.get(p.error["reason"], 0) + 1
            log.append_many(records)  # one fsync a batch: a resume recomputes an unfinished batch whole
            done.update(p.item.qid for p in prepared)
            n_written += len(records)
            bar.update(len(records))
    finally:
        log.close()
        bar.close()
        fetcher.close()
    return LoopResult(len(items), n_before, n_written, n_errors, time.perf_counter() - started, errors)


# --------------------------------------------------------------------------------------------------
# run directory bookkeeping (the lock and the resume checks: tvgbench.harness.rundir)


def tvg_items(samples, video_root: Path, window_mode: str, prompt, layout: str) -> list[WorkItem]:
    items = []
    for s in samples:
        crop = should_crop(s, window_mode)
        items.append(WorkItem(
            qid=s.qid, video_path=video_root / s.video, window=s.window, crop=crop,
            messages=build_messages(s.query, prompt, layout), duration=s.duration, sample=s, video_root=video_root,
        ))
    return items


def tvg_finisher(parser: str):
    def finish(item: WorkItem, prepared: Prepared, output) -> dict:
        record: dict[str, Any] = {"qid": item.qid}
        if prepared.error is not None:
            record.update(text=None, pred=None, parse_flags=[], error=prepared.error)
            return record
        parsed = parse_answer(output.text, parser, item.duration if parser == "canonical" else None)
        record.update(
            text=output.text,
            pred=list(parsed.span) if parsed.span is not None else None,
            parse_flags=list(parsed.flags) if parsed.span is not None else ["unparsed"],
            error=None, n_tokens=output.n_tokens, finish_reason=output.finish_reason, video=prepared.video,
        )
        return record

    return finish


def _write_run_json(out_dir: Path, payload: dict) -> None:
    write_json_atomic(out_dir / RUN_JSON, payload)


def project_version() -> str:
    return __version__


@dataclass
class RunFolder:
    """A locked, initialised run folder: run.json says "running", the backend is loaded."""

    out: Path
    run: dict  # run.json as written so far
    done: set[str]  # qids already in predictions.jsonl (a resume)
    backend: Any
    owns_backend: bool  # loaded here, so closed here (not a caller's backend_obj)

    def evaluate(self, items: list[WorkItem], config: EvalConfig, *, finish, assistant_prefix: str,
                 desc: str = "evaluating") -> LoopResult:
        """Run the loop over ``items``, then free the backend (before scoring) if it was loaded here."""
        try:
            return run_items(items, self.backend, config, out_path=self.out / PREDICTIONS, done=self.done,
                             finish=self._recording_first_prompt(finish), assistant_prefix=assistant_prefix, desc=desc)
        finally:
            if self.owns_backend:
                self.backend.close()

    def _recording_first_prompt(self, finish):
        """``finish``, recording in run.json the exact prompt of the run's first decoded query (kept on resume)."""
        def finish_and_record(item: WorkItem, prepared: Prepared, output) -> dict:
            if "first_prompt" not in self.run and prepared.error is None:
                record = prompt_record(self.backend, prepared.request)
                if record is not None:
                    self.run["first_prompt"] = {"qid": item.qid, **record}
            return finish(item, prepared, output)

        return finish_and_record


def model_records(config: EvalConfig, backend, previous: dict) -> dict:
    """run.json's top-level records beside ``settings`` (which tests/golden pins): the model family and its
    time encoding, the Hub snapshot a Hub id resolved to, and (on a resume) the first prompt already recorded."""
    hub = resolve_model(config.model).record() if config.backend in LOCAL_CHECKPOINT else None
    records = {"family": family_record(backend), "model_source": hub}
    if previous.get("first_prompt"):
        records["first_prompt"] = previous["first_prompt"]
    return records


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@contextmanager
def open_run_folder(config: EvalConfig, settings: dict, backend_obj, qids: list[str], *,
                    record_resumes: bool = True) -> Iterator[RunFolder]:
    """Lock ``config.out_dir`` for the block, check it against ``settings`` (a resume: also its lines against
    ``qids``, this run's queries), load the backend, write run.json.

    ``record_resumes`` keeps the list of resumption times (``resumed_at``) in run.json (TVG runs do). A block
    that fails leaves run.json ``failed`` with the reason, never ``running``.
    """
    out = Path(config.out_dir)
    with RunLock(out):  # creates the folder
        done, previous = prepare_run_dir(out, settings, resume=config.resume, overwrite=config.overwrite, qids=qids)
        be = backend_obj or _load_backend_or_record(config, out, settings, previous, len(qids))
        try:
            backend_settings = redact(be.settings())
            check_backend_matches(previous, backend_settings, out)
        except BaseException:
            if backend_obj is None:
                be.close()
            raise
        run = {"format": RUN_FORMAT, "status": "running", "project_version": project_version(), "settings": settings,
               "backend": backend_settings, "libraries": library_versions(),
               "started_at": previous.get("started_at") or _now(), **model_records(config, be, previous)}
        if record_resumes:
            run["resumed_at"] = previous.get("resumed_at", []) + ([_now()] if previous else [])
        run["queries"] = len(qids)
        _write_run_json(out, run)
        try:
            yield RunFolder(out, run, done, be, owns_backend=backend_obj is None)
        except GeneratorExit:
            raise
        except BaseException as e:  # Ctrl-C included
            _record_failure(out, run, e)
            raise


def _load_backend_or_record(config: EvalConfig, out: Path, settings: dict, previous: dict, n_queries: int):
    """The run's backend; one that will not load (a vLLM engine refusing its arguments, too little memory, a
    model its device cannot run) leaves run.json ``failed`` with the reason before the error goes up."""
    try:
        return load_backend(config)
    except Exception as e:
        _record_failure(out, {**previous, "format": RUN_FORMAT, "project_version": project_version(),
                              "settings": settings, "started_at": previous.get("started_at") or _now(),
                              "queries": n_queries}, e)
        raise


def _record_failure(out: Path, run: dict, error: BaseException) -> None:
    run.update(status="failed", error=failure_reason(error), failed_at=_now())
    try:
        _write_run_json(out, run)
    except OSError:
        pass  # the error being raised matters more than its record


def run_eval(*args, backend_obj=None, **fields) -> dict:
    """Evaluate a model on a TVG split: ``run_eval(RunConfig(...))``; writes predictions.jsonl, run.json
    and scores.json in its ``out_dir``.

    The older call ``run_eval(split_dir, video_root, model, **fields)`` (fields named as :class:`RunConfig`'s)
    builds the config. Returns a summary: ``status`` ("clean" or "partial"), counts, throughput and the
    scores (when scored). ``workers=None`` picks :func:`default_workers`; 0 decodes inline (a sequential loop).
    ``backend_obj`` lets a caller pass an already-built backend (e.g. the trainer's in-memory policy).
    """
    config = config_from_call(RunConfig, TVG_POSITIONAL, args, fields).resolved()
    if backend_obj is None:  # first: a wrong --model costs no decoding and no torch import
        check_backend(config.backend, config.model, config.backend_options)
    video_root = Path(config.video_root)
    if not video_root.is_dir():
        raise Timer1Error(f"--video-root {video_root} is not a folder")
    split = load_split(config.split_dir, config.split_name)
    shard = config.shard
    launched = config.world_size > 1  # a rank's shard is of the queries one process would run: --limit first
    queries = split.samples[:config.limit] if launched else split.samples
    selected = queries[shard_slice(len(queries), shard)]
    if config.limit is not None and not launched:
        selected = selected[:config.limit]
    if not selected:
        raise Timer1Error(f"nothing to evaluate: shard {shard[0]}/{shard[1]} of {len(split)} queries is empty")
    if config.cache_dir is None or not Path(config.cache_dir).is_dir():  # a frame cache serves absent videos
        check_videos_exist([video_root / s.video for s in selected],
                           hint=f"pass --video-root, the folder the split's video paths are relative to (now {video_root})")

    config = replace(config, sampling=family_sampling(config.sampling, config.backend, config.model, backend_obj))
    with open_run_folder(config, config.settings(split), backend_obj, [s.qid for s in selected]) as folder:
        items = tvg_items(selected, video_root, split.window_mode, config.prompt, config.layout)
        loop = folder.evaluate(items, config, finish=tvg_finisher(config.parser),
                               assistant_prefix=config.prompt.assistant_prefix,
                               desc=f"shard {shard[0]}/{shard[1]}" if shard[1] > 1 else "evaluating")
        return finalize_run(folder.out, folder.run, split_dir=config.split_dir, split_name=split.name,
                            subset=selected if config.limit else None, window_mode=split.window_mode, shard=shard,
                            loop=loop, score=config.score, bootstrap=config.bootstrap)


def summarize_predictions(path: Path) -> dict:
    """Counts over a predictions file: lines, errors by reason, unparsed, tokens, timing."""
    recs = recover(path, truncate=False)
    errors: dict[str, int] = {}
    unparsed = 0
    decode = gen = 0.0
    for r in recs:
        if r.get("error"):
            errors[r["error"]["reason"]] = errors.get(r["error"]["reason"], 0) + 1
        elif r.get("pred") is None:
            unparsed += 1
        t = r.get("timing") or {}
        decode += t.get("decode_s", 0.0)
        gen += t.get("generate_s", 0.0)
    return {"lines": len(recs), "errors": sum(errors.values()), "errors_by_reason": errors, "unparsed": unparsed,
            "decode_s_total": round(decode, 3), "generate_s_total": round(gen, 3)}


def finalize_run(out: Path, run: dict, *, split_dir, split_name, subset, window_mode, shard, loop: LoopResult | None,
                 score: bool, bootstrap: int) -> dict:
    """Mark the run finished, score it (whole split, or the ``--limit`` subset), return the summary."""
    counts = summarize_predictions(out / PREDICTIONS)
    status = "partial" if counts["errors"] else "clean"
    run.update(status=status, finished_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), counts=counts)
    if loop is not None:
        run["last_session"] = {"written": loop.n_written, "seconds": round(loop.seconds, 3),
                               "queries_per_s": round(loop.n_written / loop.seconds, 4) if loop.seconds > 0 else None}
    scores = None
    if score and shard[1] == 1:
        from tvgbench.core.scoring import score as score_fn

        target = split_dir
        if subset is not None:  # --limit: score against exactly the evaluated queries
            from tvgbench.core.splits import write_split

            target = out / "scored_subset"
            write_split(list(subset), target, split_name, window_mode=window_mode,
                        build={"command": "eval run --limit", "of": str(split_dir)})
        scores = score_fn(out / PREDICTIONS, target, mode="canonical", split_name=split_name, bootstrap=bootstrap)
        scores["harness"] = {"status": status, "errors_by_reason": counts["errors_by_reason"],
                             "subset": subset is not None}
        # the same lines under Time-R1's own convention (IoU > θ, "avg"), for comparing with its papers
        compat = score_fn(out / PREDICTIONS, target, mode="timer1", split_name=split_name, bootstrap=0)
        scores["timer1_mode"] = {"hit_rule": compat["hit_rule"], "metrics": compat["metrics"]}
        write_json_atomic(out / SCORES, scores)
        run["scores"] = {"file": SCORES, "metrics": scores["metrics"]}
    elif shard[1] > 1:
        run["scores"] = {"file": None, "note": "shard run: score after `timer1 eval merge`"}
    _write_run_json(out, run)
    return {"out_dir": str(out), "status": status, "queries": run["queries"], "counts": counts,
            "scores": scores, "last_session": run.get("last_session")}

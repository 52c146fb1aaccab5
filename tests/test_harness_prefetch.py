"""The decode prefetcher: order, work taken back by the caller, one decoder thread per pool worker."""

from __future__ import annotations

import threading
import time

import pytest

from tvgbench.harness.config import default_workers, resolve_workers
from tvgbench.harness.runner import Prefetcher, Prepared, WorkItem


def _items(n):
    return [WorkItem(qid=f"q{i}", video_path=None, window=None, crop=False, messages=[]) for i in range(n)]


def _recording_fn(delay: float):
    seen = []

    def fn(item):
        time.sleep(delay)
        seen.append((item.qid, threading.current_thread().name))
        return Prepared(item, request=item.qid)

    return fn, seen


def test_batches_come_back_in_order_with_every_item_prepared_once():
    items = _items(10)
    fn, seen = _recording_fn(0.002)
    fetcher = Prefetcher(items, fn, workers=2, depth=4)
    try:
        got = [p.request for b in (range(0, 4), range(4, 8), range(8, 10)) for p in fetcher.get_batch(list(b)).prepared]
    finally:
        fetcher.close()
    assert got == [f"q{i}" for i in range(10)]
    assert sorted(q for q, _ in seen) == sorted(f"q{i}" for i in range(10))  # nothing twice, nothing skipped


def test_caller_prepares_batch_items_the_pool_has_not_started():
    # one slow worker: while it works on the first item, the caller takes the rest of the batch back
    items = _items(4)
    fn, seen = _recording_fn(0.05)
    fetcher = Prefetcher(items, fn, workers=1, depth=4)
    try:
        got = [p.request for p in fetcher.get_batch([0, 1, 2, 3]).prepared]
    finally:
        fetcher.close()
    assert got == ["q0", "q1", "q2", "q3"]
    by_thread = {q: name for q, name in seen}
    assert by_thread["q0"].startswith("timer1-decode")
    assert by_thread["q3"] == threading.current_thread().name  # taken back from the end of the batch
    assert len(seen) == 4


def test_resume_order_skips_finished_batches():
    items = _items(6)
    fn, seen = _recording_fn(0.0)
    fetcher = Prefetcher(items, fn, workers=1, depth=8, batches=[[3, 4, 5]])
    try:
        assert [p.request for p in fetcher.get_batch([3, 4, 5]).prepared] == ["q3", "q4", "q5"]
    finally:
        fetcher.close()
    assert sorted(q for q, _ in seen) == ["q3", "q4", "q5"]  # finished items are never decoded


def _recording_collate():
    calls = []

    def collate(prepared):
        calls.append(([p.request for p in prepared], threading.current_thread().name))
        return "+".join(p.request for p in prepared)

    return collate, calls


def test_pool_collates_batches_it_prepared_whole():
    # the caller is slow (a model generating), so the pool prepares and collates batches ahead of it
    items = _items(9)
    fn, _ = _recording_fn(0.001)
    collate, calls = _recording_collate()
    batches = [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    fetcher = Prefetcher(items, fn, workers=2, depth=9, batches=batches, collate=collate)
    try:
        first = fetcher.get_batch(batches[0])
        time.sleep(0.3)  # "generating": the pool finishes batches 2 and 3 meanwhile
        rest = [fetcher.get_batch(b) for b in batches[1:]]
    finally:
        fetcher.close()
    assert [r.collated for r in (first, *rest)] == ["q0+q1+q2", "q3+q4+q5", "q6+q7+q8"]
    assert [[p.request for p in r.prepared] for r in rest] == [["q3", "q4", "q5"], ["q6", "q7", "q8"]]
    by_batch = {tuple(reqs): name for reqs, name in calls}
    assert len(calls) == 3  # each batch collated once
    for later in (("q3", "q4", "q5"), ("q6", "q7", "q8")):
        assert by_batch[later].startswith("timer1-decode")  # off the model's thread


def test_caller_collates_a_batch_it_took_items_back_from():
    items = _items(4)
    fn, _ = _recording_fn(0.05)
    collate, calls = _recording_collate()
    fetcher = Prefetcher(items, fn, workers=1, depth=4, batches=[[0, 1, 2, 3]], collate=collate)
    try:
        ready = fetcher.get_batch([0, 1, 2, 3])
    finally:
        fetcher.close()
    assert ready.collated == "q0+q1+q2+q3"
    assert calls == [(["q0", "q1", "q2", "q3"], threading.current_thread().name)]  # once, by the caller


def test_collate_errors_reach_the_caller():
    items = _items(2)
    fn, _ = _recording_fn(0.0)

    def broken(prepared):
        raise RuntimeError("collate failed")

    for workers in (0, 1):
        fetcher = Prefetcher(items, fn, workers=workers, depth=4, batches=[[0, 1]], collate=broken)
        try:
            time.sleep(0.05)
            with pytest.raises(RuntimeError, match="collate failed"):
                fetcher.get_batch([0, 1])
        finally:
            fetcher.close()


def test_hf_backend_generates_the_same_from_a_collated_batch(tiny_model_dir, synth_split, restore_torch_threads):
    """The pool's ``collate`` + ``generate(batch)`` equals ``generate(requests)`` (and a sequential run)."""
    from tvgbench.harness.backends import GenParams, make_backend
    from tvgbench.harness.runner import _collator, _prepare, tvg_items
    from tvgbench.models.prompts import get_prompt
    from tvgbench.core.splits import load_split
    from tvgbench.video import SamplingConfig

    be = make_backend("hf", str(tiny_model_dir), GenParams(max_new_tokens=8), device="cpu", threads=1)
    split = load_split(synth_split)
    items = tvg_items(split.samples[:3], synth_split, split.window_mode, get_prompt("r1", task="tg"), "default")
    cfg = SamplingConfig(fps=1.0, total_pixels=192 * 28 * 28, max_pixels=64 * 28 * 28)
    prepared = [_prepare(it, be, cfg, "", None) for it in items]
    batch = _collator(be)(prepared)
    assert len(batch) == 3 and batch.tensors["input_ids"].shape[0] == 3
    assert be.generate(batch) == be.generate([p.request for p in prepared])


def test_pool_workers_decode_with_one_ffmpeg_thread(monkeypatch, synth_split):
    import decord

    from tvgbench.harness.runner import _prepare
    from tvgbench.core.splits import load_split
    from tvgbench.video import SamplingConfig
    from tvgbench.harness.runner import tvg_items
    from tvgbench.models.prompts import get_prompt

    asked = []
    real = decord.VideoReader

    def spy(path, *args, num_threads=0, **kw):
        asked.append((threading.current_thread().name, num_threads))
        return real(path, *args, num_threads=num_threads, **kw)

    monkeypatch.setattr(decord, "VideoReader", spy)

    class NoModel:  # prepare only needs the decoded clip here
        def prepare(self, messages, prefix, sampled):
            return sampled.num_frames

    split = load_split(synth_split)
    items = tvg_items(split.samples[:4], synth_split, split.window_mode, get_prompt("r1", task="tg"), "default")
    cfg = SamplingConfig(fps=1.0, total_pixels=192 * 28 * 28, max_pixels=64 * 28 * 28)
    fetcher = Prefetcher(items, lambda it: _prepare(it, NoModel(), cfg, "", None), workers=1, depth=4)
    try:
        prepared = fetcher.get_batch([0, 1, 2, 3]).prepared
    finally:
        fetcher.close()
    assert all(p.error is None and p.request > 0 for p in prepared)
    assert asked and all(n == 1 for _, n in asked)  # pool workers and the caller's taken-back items alike
    # outside the pool the caller's own setting is untouched (FFmpeg's default: 0 = all cores)
    from tvgbench.video.decode import decoder_threads

    assert decoder_threads() == 0


@pytest.mark.parametrize("cores, expected", [(1, 1), (2, 1), (3, 2), (16, 4)])
def test_default_workers_leave_a_core_for_the_model(cores, expected):
    assert default_workers(cores) == expected


def test_resolve_workers():
    assert resolve_workers(0) == 0 and resolve_workers(3) == 3
    assert resolve_workers(None) == default_workers()
    from tvgbench.core.errors import Timer1Error

    with pytest.raises(Timer1Error):
        resolve_workers(-1)


@pytest.fixture
def restore_torch_threads():
    import torch

    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


def test_cpu_model_leaves_the_decode_pool_its_cores(tiny_model_dir, restore_torch_threads):
    import os

    import torch

    from tvgbench.harness.backends import GenParams, make_backend

    cores = os.cpu_count() or 1
    torch.set_num_threads(max(2, cores))  # as if the model had every core (other tests may have lowered it)
    make_backend("hf", str(tiny_model_dir), GenParams(max_new_tokens=4), device="cpu", reserve_cores=1)
    assert torch.get_num_threads() == max(1, cores - 1)
    # an explicit thread count wins over the reservation
    be = make_backend("hf", str(tiny_model_dir), GenParams(max_new_tokens=4), device="cpu", threads=3, reserve_cores=1)
    assert torch.get_num_threads() == 3 and be.settings()["torch_threads"] == 3

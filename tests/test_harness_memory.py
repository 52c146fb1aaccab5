"""Memory of a run: frames stay uint8 until the model's collate, the prefetch queue is bounded in bytes.

Before, each prepared request held float32 patches (4x the bytes) and the pool collated batches ahead
into float32 too: ``eval run`` on the 44 synthetic queries peaked at 3.5 GB (1.6 GB after;
``bench/bench_memory.py`` measures it).
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from tvgbench.core.splits import load_split
from tvgbench.harness.backends import GenParams, make_backend
from tvgbench.harness.runner import Prefetcher, Prepared, WorkItem, _prepare, payload_bytes, tvg_items
from tvgbench.models.prompts import get_prompt
from tvgbench.models.qwen2_5_vl.inputs import normalize_video_pixels, qwen_video_inputs
from tvgbench.video import SamplingConfig, sample_video

SAMPLING = SamplingConfig(fps=1.0, total_pixels=192 * 28 * 28, max_pixels=64 * 28 * 28)


@pytest.fixture
def restore_torch_threads():
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


def test_uint8_patches_normalise_to_the_float_inputs(synth_split):
    split = load_split(synth_split)
    sampled = sample_video(synth_split / split.samples[0].video, config=SAMPLING)
    exact = qwen_video_inputs(sampled)
    kept = qwen_video_inputs(sampled, normalize=False)
    assert kept["pixel_values_videos"].dtype == torch.uint8
    assert kept["pixel_values_videos"].shape == exact["pixel_values_videos"].shape
    assert torch.equal(normalize_video_pixels(kept["pixel_values_videos"]), exact["pixel_values_videos"])


def test_hf_requests_hold_uint8_and_generate_gets_the_same_pixels(tiny_model_dir, synth_split, restore_torch_threads):
    be = make_backend("hf", str(tiny_model_dir), GenParams(max_new_tokens=4), device="cpu", threads=1)
    split = load_split(synth_split)
    items = tvg_items(split.samples[:2], synth_split, split.window_mode, get_prompt("r1", task="tg"), "default")
    prepared = [_prepare(it, be, SAMPLING, "", None) for it in items]
    videos = [p.request.video for p in prepared]
    assert all(v["pixel_values_videos"].dtype == torch.uint8 for v in videos)
    batch = be.collate([p.request for p in prepared])
    assert all(payload_bytes(v) for v in batch.videos)  # the batch refers to the uint8 tensors, no copy
    model_inputs = be._model_inputs(batch)
    floats = [qwen_video_inputs(sample_video(it.video_path, it.window, crop=it.crop, config=SAMPLING))
              for it in items]
    assert torch.equal(model_inputs["pixel_values_videos"],
                       torch.cat([f["pixel_values_videos"] for f in floats]))
    assert model_inputs["pixel_values_videos"].dtype == torch.float32


def _items(n):
    return [WorkItem(qid=f"q{i}", video_path=None, window=None, crop=False, messages=[]) for i in range(n)]


def test_prefetch_queue_is_bounded_in_bytes():
    """10 MB requests, a 25 MB budget: the pool never holds more than the batch asked for plus ~25 MB."""
    started = []
    lock = threading.Lock()

    def fn(item):
        with lock:
            started.append(item.qid)
        return Prepared(item, request={"pixels": np.ones(10 << 20, dtype=np.uint8)})

    fetcher = Prefetcher(_items(20), fn, workers=2, depth=20, max_bytes=25 << 20)
    try:
        first = fetcher.get_batch([0])
        time.sleep(0.3)  # let the pool finish all it was given
        ahead = len(started) - 1
        assert 1 <= ahead <= 3, started
        got = [first.prepared[0].item.qid] + [fetcher.get_batch([i]).prepared[0].item.qid for i in range(1, 20)]
    finally:
        fetcher.close()
    assert got == [f"q{i}" for i in range(20)] and sorted(started) == sorted(got)  # every item, once, in order


def test_payload_bytes_counts_arrays_tensors_and_text():
    req = {"a": np.zeros((4, 5), dtype=np.uint8), "b": [torch.zeros(3, dtype=torch.float32), "xyz"], "n": 7}
    assert payload_bytes(req) == 20 + 12 + 3

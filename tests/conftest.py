"""Shared fixtures. Real annotation files come from ../shared/data (skipped with a reason when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TIMER1_SHARED_DATA", REPO.parent / "shared" / "data"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def shared_file(rel: str) -> Path:
    """Path to a file under ../shared/data, or skip the test with the reason."""
    p = SHARED_DATA / rel
    if not p.exists():
        pytest.skip(f"real data not available: {p} (expected ../shared/data beside the repo)")
    return p


@pytest.fixture(scope="session")
def tvgbench_json() -> Path:
    return shared_file("timer1/tvgbench.json")


@pytest.fixture(scope="session")
def timerft_json() -> Path:
    return shared_file("timer1/train_2k5.json")


@pytest.fixture(scope="session")
def tvgbench_split(tmp_path_factory, tvgbench_json) -> Path:
    """The official TVGBench release ingested into a canonical split folder (once per session)."""
    from tvgbench.data.sources import ingest
    from tvgbench.core.splits import write_split

    out = tmp_path_factory.mktemp("tvgbench_split")
    res = ingest("timer1-tvgbench", tvgbench_json)
    write_split(res.samples, out, "test", window_mode=res.window_mode, report=res.report.to_dict())
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random Qwen2.5-VL folder (tvgbench.models.tiny), built once per session, offline."""
    from tvgbench.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny_model") / "tiny-qwen25vl", seed=0)


@pytest.fixture(scope="session")
def synth_split(tmp_path_factory) -> Path:
    """A small synthetic benchmark (4 videos of 10-60 s, 44 queries, seed 0) rendered once per session.

    The folder holds ``data/test-*.parquet`` plus ``videos/*.mp4``; records' ``video`` is relative to it,
    so it is also the ``--video-root``. Needs the ffmpeg binary (skipped with the reason when absent).
    """
    import shutil

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg binary not on PATH (apt-get install ffmpeg)")
    from tvgbench.data.synth import make_synthetic

    out = tmp_path_factory.mktemp("synth_split")
    make_synthetic(out, n_videos=4, seed=0, max_duration=60.0)
    return out

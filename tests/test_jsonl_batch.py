"""DurableLog.append_many: a batch's lines in one write and one fsync, the same bytes as line-by-line appends."""

import os

import numpy as np

from tvgbench.harness import jsonl
from tvgbench.harness.jsonl import DurableLog, recover

RECORDS = [{"qid": "a", "pred": [1.0, 2.5], "text": "é"}, {"qid": "b", "pred": None, "n": np.int64(3)},
           {"qid": "c", "video": {"n_frames": 4}}]


def test_append_many_writes_the_same_lines_with_one_fsync(tmp_path, monkeypatch):
    with DurableLog(tmp_path / "one.jsonl") as log:
        for record in RECORDS:
            log.append(record)
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(jsonl.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    with DurableLog(tmp_path / "batch.jsonl") as log:
        log.append_many(RECORDS)
        log.append_many([])  # nothing to write: no fsync either
    assert len(synced) == 1
    assert (tmp_path / "batch.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
    assert [r["qid"] for r in recover(tmp_path / "batch.jsonl")] == ["a", "b", "c"]

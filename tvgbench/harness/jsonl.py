"""A crash-safe JSONL log: each line, or batch of lines, is written and fsynced; a torn last line is dropped
on resume.

A process killed at any moment (kill -9 included) leaves the file as N complete lines plus at most
one partial line without its newline. :func:`recover` cuts that partial tail off, so a resumed run
appends right after the last complete record.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from tvgbench.core.errors import Timer1Error


def recover(path: str | os.PathLike, *, truncate: bool = True) -> list[dict]:
    """The complete records of ``path`` (a missing file has none); drops and truncates a torn tail."""
    p = Path(path)
    if not p.exists():
        return []
    data = p.read_bytes()
    complete = data.rfind(b"\n") + 1  # bytes up to and including the last newline
    if complete < len(data) and truncate:
        with open(p, "r+b") as f:
            f.truncate(complete)
            f.flush()
            os.fsync(f.fileno())
    records = []
    for lineno, raw in enumerate(data[:complete].splitlines(), 1):
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise Timer1Error(f"{p} line {lineno} is corrupt (not a torn tail); fix or remove it") from None
        if not isinstance(obj, dict):
            raise Timer1Error(f"{p} line {lineno} is not a JSON object")
        records.append(obj)
    return records


class DurableLog:
    """Append-only JSONL writer: one ``os.write`` per record, then fsync."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def append(self, record: dict) -> None:
        self.append_many([record])

    def append_many(self, records: list[dict]) -> None:
        """``records`` as consecutive lines, then one fsync (an fsync costs about a millisecond here: the
        harness writes a batch's lines at once, since a resume recomputes an unfinished batch whole)."""
        if not records:
            return
        data = b"".join(orjson.dumps(r, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n" for r in records)
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

"""A run folder's bookkeeping: the lock, the checks a resume must pass, and what a failure records.

A resume continues only a run with the same settings (the same checkpoint, however its path is
spelled), whose lines are one per qid and all of this run's queries; anything else is refused with
the reason before the model is asked anything.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from tvgbench.core.errors import Timer1Error
from tvgbench.harness.config import fingerprint
from tvgbench.harness.jsonl import recover
from tvgbench.harness.provenance import config_hash, weights_hash

PREDICTIONS = "predictions.jsonl"
RUN_JSON = "run.json"
SCORES = "scores.json"
# backend facts that must match for a resume (checked after the backend is loaded)
_BACKEND_FINGERPRINT = ("backend", "weights_sha256", "dtype", "generation")


class RunLock:
    """An exclusive lock on a run folder (``.timer1.lock``), so two processes never append to one run.

    It is a kernel ``flock``: a killed process (kill -9 included) releases it, so ``--resume`` works at once.
    The file is removed on the way out, whatever happened, and so is the folder when this lock created it
    and nothing else was written there.
    """

    def __init__(self, out_dir: Path):
        self.path = Path(out_dir) / ".timer1.lock"
        self._f = None
        self._created = False

    def __enter__(self):
        self._created = not self.path.parent.exists()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise Timer1Error(f"cannot create run folder {self.path.parent}: {e.strerror}") from None
        while True:
            self._f = open(self.path, "a+")
            try:
                fcntl.flock(self._f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._f.close()
                raise Timer1Error(f"another timer1 process is running in {self.path.parent}; wait for it or use another --out") from None
            if self._still_the_file():
                return self
            self._f.close()  # its holder removed it between our open and our lock: lock the new one

    def _still_the_file(self) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(self._f.fileno()).st_ino
        except FileNotFoundError:
            return False

    def __exit__(self, *exc):
        self.path.unlink(missing_ok=True)  # while still held, so no one else is locking this file
        self._f.close()  # closing releases the lock
        if self._created:
            try:
                self.path.parent.rmdir()  # only when empty: nothing was written
            except OSError:
                pass


def same_checkpoint(previous: dict, model: str) -> bool:
    """``model`` holds the weights and config the previous run's backend recorded (a path spelled differently)."""
    before = previous.get("backend") or {}
    return bool(before.get("weights_sha256")) and (weights_hash(model), config_hash(model)) == (
        before["weights_sha256"], before.get("config_sha256"))


def check_resumable_lines(records: list[dict], qids: list[str], out_dir: Path) -> None:
    """The lines a resume continues from: one per qid, each one of this run's queries (refused with the reason)."""
    pred, wanted, seen = out_dir / PREDICTIONS, set(qids), {}
    for line, record in enumerate(records, 1):
        qid = record.get("qid")
        if qid in seen:
            raise Timer1Error(f"cannot resume {out_dir}: {pred} line {line} repeats qid {qid} (first on line "
                              f"{seen[qid]}); remove one of them, or start again with --overwrite")
        if qid not in wanted:
            raise Timer1Error(f"cannot resume {out_dir}: {pred} line {line} has qid {qid}, which is not one of this "
                              f"run's {len(wanted)} queries (another split or shard?); remove it, or start again "
                              f"with --overwrite")
        seen[qid] = line


def prepare_run_dir(out_dir: Path, settings: dict, *, resume: bool, overwrite: bool,
                    qids: list[str] | None = None) -> tuple[set[str], dict]:
    """Check/initialise ``out_dir``; returns the qids already done and the previous run.json (if any).

    On a resume the existing lines are checked against ``qids`` (this run's queries) when given."""
    pred = out_dir / PREDICTIONS
    run_json = out_dir / RUN_JSON
    if pred.exists() and not resume:
        if not overwrite:
            raise Timer1Error(f"{out_dir} already holds a run; pass --resume to continue it or --overwrite to replace it")
        for name in (PREDICTIONS, RUN_JSON, SCORES):
            (out_dir / name).unlink(missing_ok=True)
    previous: dict = {}
    if resume and run_json.exists():
        try:
            previous = json.loads(run_json.read_text())
        except ValueError:
            raise Timer1Error(f"{run_json} is not valid JSON; cannot resume") from None
        before, now = fingerprint(previous.get("settings", {})), fingerprint(settings)
        diff = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        if "model" in diff and same_checkpoint(previous, now["model"]):
            diff.remove("model")  # the same checkpoint spelled differently (relative vs absolute path)
        if diff:
            shown = ", ".join(f"{k}: {before.get(k)!r} -> {now.get(k)!r}" for k in diff[:3])
            raise Timer1Error(f"cannot resume {out_dir}: settings differ ({shown})")
    records = recover(pred) if resume else []
    if qids is not None:
        check_resumable_lines(records, qids, out_dir)
    return {r["qid"] for r in records}, previous


def check_backend_matches(previous: dict, now: dict, out: Path) -> None:
    """A resumed run must use the same weights, dtype and generation settings as the lines already written."""
    before = previous.get("backend") or {}
    for key in _BACKEND_FINGERPRINT:
        if key in before and before.get(key) != now.get(key):
            raise Timer1Error(f"cannot resume {out}: backend {key} differs ({before.get(key)!r} -> {now.get(key)!r})")


def check_videos_exist(paths: list[Path], *, hint: str) -> None:
    """Refuse a run none of whose videos exists (a forgotten ``--video-root``): it would be all errors.

    Some missing videos are per-query errors, as usual; the search stops at the first video found."""
    files = list(dict.fromkeys(paths))
    if files and not any(p.is_file() for p in files):
        others = f" and {len(files) - 1} other files" if len(files) > 1 else ""
        raise Timer1Error(f"none of the {len(paths)} queries' videos exists (looked for {files[0]}{others}); {hint}")


def failure_reason(error: BaseException) -> str:
    """One line for run.json: the error's own message (a Timer1Error is already the user's line)."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    text = " ".join(str(error).split())
    return text if isinstance(error, Timer1Error) else f"{type(error).__name__}: {text}".rstrip(": ")

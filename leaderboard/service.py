"""Submit and re-score: validation → canonical + Time-R1-compat scoring → one stored row.

Used by the CLI and the web app alike, so both refuse and accept exactly the same files.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tvgbench.core.errors import Timer1Error
from tvgbench.core.predictions import read_predictions
from tvgbench.core.scoring import SCORER_VERSION, score

from .public import MIN_COVERAGE, Quota, public_result, public_submission
from .ranking import rank_of
from .store import Store, Submission, check_daily_limit, day_ago
from .validate import (
    DEFAULT_MAX_BYTES, SplitIndex, SubmissionRejected, ValidSubmission, check_model_name, parse_meta, read_limited,
    validate_bytes,
)

# never served or stored in a result: they are the scoring machine's own paths
_PRIVATE_RESULT_KEYS = ("predictions",)


@dataclass
class SubmitOutcome:
    submission: Submission
    created: bool  # False: the same file was already on this split's board
    rank: int | None  # the model's place on the board after this submission (None: not ranked)
    ranked_models: int
    missing_examples: list[str]

    def to_json(self) -> dict[str, Any]:
        s = self.submission
        return {
            "id": s.id, "created": self.created, "model_name": s.model_name, "meta": s.meta,
            "split": {"name": s.split_name, "content_hash": s.split_hash}, "file_sha256": s.file_sha256,
            "scorer_version": s.scorer_version, "created_at": s.created_at,
            "coverage": {"lines": s.lines, "matched": s.matched, "missing": s.missing,
                         "missing_examples": self.missing_examples},
            "rank": self.rank, "ranked_models": self.ranked_models, "withdrawn": s.withdrawn,
            "canonical": public_result(s.canonical), "timer1": public_result(s.timer1),
            **({"convention": s.convention, "declared": public_result(s.declared)} if s.declared else {}),
        }


def _public(result: dict[str, Any], split: SplitIndex) -> dict[str, Any]:
    out = {k: v for k, v in result.items() if k not in _PRIVATE_RESULT_KEYS}
    out["split"] = {k: v for k, v in result["split"].items() if k != "path"}
    if split.pretty_name:
        out["split"]["pretty_name"] = split.pretty_name
    if split.convention != "canonical":  # recorded only when declared: canonical splits' results keep their keys
        out["split"]["convention"] = split.convention
    if split.hidden:  # every public view of this result rounds it and drops the breakdowns (public.py)
        out["split"]["hidden_ground_truth"] = True
    return out


def score_bytes(data: bytes, split_dir: str | os.PathLike, split: SplitIndex, *, bootstrap: int = 1000,
                seed: int = 0) -> tuple[dict, dict, dict | None]:
    """Canonical and Time-R1-compat results for validated bytes, read by the core reader like ``eval score``,
    and the result in the split's declared convention when that is neither (None otherwise)."""
    fd, tmp = tempfile.mkstemp(prefix="timer1-submission-", suffix=".jsonl")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        cols = read_predictions(tmp)
    finally:
        os.unlink(tmp)
    # A Time-R1 line may carry its own "target"; compat mode would score against it. On a leaderboard the
    # ground truth must come from the split, never from the submitter.
    cols = replace(cols, target_start=None, target_end=None)
    results = []
    declared = () if split.convention in ("canonical", "timer1") else (split.convention,)
    for mode in ("canonical", "timer1", *declared):
        r = score("submission.jsonl", split_dir, mode=mode, split_name=split.name, bootstrap=bootstrap,
                  seed=seed, predictions=cols)
        on_disk = r["split"].get("content_hash")
        if on_disk and on_disk != split.content_hash:  # e.g. rebuilt while a server was running
            raise Timer1Error(f"split {split.name!r} changed on disk ({on_disk[:19]}…, expected "
                              f"{split.content_hash[:19]}…); restart with the current split")
        r["split"]["content_hash"] = split.content_hash
        results.append(_public(r, split))
    return results[0], results[1], (results[2] if declared else None)


def check_hidden_split(split: SplitIndex, valid: ValidSubmission, store: Store, quota: Quota | None) -> None:
    """On a split with hidden ground truth: enough coverage to say nothing about single queries, and the
    uploader's daily quota (checked again, atomically, when the row is added)."""
    if not split.hidden:
        return
    if valid.matched < MIN_COVERAGE * split.n:
        raise SubmissionRejected(
            f"split {split.name!r} has hidden ground truth: a submission must answer at least {MIN_COVERAGE:.0%} "
            f"of its {split.n} queries; this one answers {valid.matched}")
    if quota is not None:
        check_daily_limit(store.uploads_since(split.content_hash, quota.submitter, day_ago()), quota.per_day)


def submit(store: Store, data: bytes, split_dir: str | os.PathLike, *, model_name: str, meta=None,
           file_name: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES, bootstrap: int = 1000,
           split: SplitIndex | None = None, quota: Quota | None = None) -> SubmitOutcome:
    """Validate, score and store one submission; raises :class:`SubmissionRejected` (nothing stored).

    ``split`` is the split's index when the caller holds one already (the server, a rescore); otherwise
    it is read from ``split_dir`` (its only split). ``quota``: the uploader, counted against the daily
    limit of a split with hidden ground truth (the server passes it; the maintainer's CLI does not)."""
    model_name = check_model_name(model_name)
    meta = parse_meta(meta or ())
    if file_name is not None:
        file_name = Path(str(file_name)).name[:200] or None
    split = split or SplitIndex.from_dir(split_dir)
    valid: ValidSubmission = validate_bytes(data, split, max_bytes=max_bytes, split_dir=split_dir)
    earlier = store.find_file(split.content_hash, valid.sha256)
    if earlier is None:
        check_hidden_split(split, valid, store, quota)
        canonical, timer1, declared = score_bytes(valid.data, split_dir, split, bootstrap=bootstrap)
        sub = Submission(
            model_name=model_name, meta=meta, split_name=split.name, split_hash=split.content_hash,
            file_sha256=valid.sha256, file_name=file_name, file_bytes=len(valid.data), lines=valid.lines,
            matched=valid.matched, missing=valid.missing, scorer_version=SCORER_VERSION,
            canonical=canonical, timer1=timer1, declared=declared,
        )
        limited = quota is not None and split.hidden
        sub, created = store.add(sub, valid.data, submitter=quota.submitter if quota else None,
                                 daily_limit=quota.per_day if limited else None)  # add() decides races
    else:
        sub, created = earlier, False
    rank, ranked = rank_of(store.submissions(sub.split_name), sub)
    return SubmitOutcome(public_submission(sub), created, rank, ranked, valid.missing_examples)


def submit_file(store: Store, path: str | os.PathLike, split_dir: str | os.PathLike, **kw) -> SubmitOutcome:
    max_bytes = kw.get("max_bytes", DEFAULT_MAX_BYTES)
    data = read_limited(path, max_bytes)
    kw.setdefault("file_name", Path(path).name)
    split_name = kw.pop("split_name", None)  # which split of a folder that holds several
    if split_name is not None and kw.get("split") is None:
        kw["split"] = SplitIndex.from_dir(split_dir, split_name)
    return submit(store, data, split_dir, **kw)


def rescore(store: Store, split_dir: str | os.PathLike, *, split_name: str | None = None, bootstrap: int = 1000,
            seed: int = 0, progress=None) -> list[int]:
    """Re-score this split's submissions made with another scorer version from their stored bytes."""
    split = SplitIndex.from_dir(split_dir, split_name)
    stale = [s for s in store.submissions(split.name)
             if s.split_hash == split.content_hash and s.scorer_version != SCORER_VERSION and not s.withdrawn]
    done = []
    for s in (progress(stale) if progress else stale):
        data = store.predictions(s.id)
        try:
            validate_bytes(data, split, max_bytes=max(len(data), 1))
        except SubmissionRejected:
            continue  # an older, laxer validator let it in: it stays marked stale, never silently mixed
        boot = s.canonical.get("bootstrap", {})  # keep the intervals comparable with the first scoring
        canonical, timer1, declared = score_bytes(data, split_dir, split, bootstrap=boot.get("samples", bootstrap),
                                                  seed=boot.get("seed", seed))
        store.update_scores(s.id, SCORER_VERSION, canonical, timer1, declared)
        done.append(s.id)
    return done

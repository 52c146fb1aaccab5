"""The public JSON view of the boards: scores and provenance, never ground truth or server paths."""

from __future__ import annotations

from typing import Any

from .public import public_submission
from .ranking import Board
from .store import Submission


def submission_json(s: Submission, *, full: bool = False) -> dict[str, Any]:
    s = public_submission(s)
    out = {
        "id": s.id, "model_name": s.model_name, "meta": s.meta, "created_at": s.created_at,
        "split": {"name": s.split_name, "content_hash": s.split_hash}, "file_sha256": s.file_sha256,
        "scorer_version": s.scorer_version, "withdrawn": s.withdrawn,
        "coverage": {"lines": s.lines, "matched": s.matched, "missing": s.missing},
        "metrics": s.canonical["metrics"], "ci95": s.canonical.get("ci95", {}),
        "timer1_compat": s.timer1["metrics"],
    }
    if s.declared:  # a split declaring another convention: its board ranks this result
        out["convention"] = s.convention
        out["declared_metrics"] = s.declared["metrics"]
    if full:
        out["canonical"] = s.canonical
        out["timer1"] = s.timer1
        if s.declared:
            out["declared"] = s.declared
    return out


def boards_json(bs: list[Board]) -> list[dict[str, Any]]:
    return [
        {
            "split": {"name": b.split_name, "content_hash": b.split_hash, "pretty_name": b.pretty_name,
                      "convention": b.convention},
            "sort": b.sort,
            "entries": [{"rank": e.rank, "model_submissions": e.model_submissions, **submission_json(e.submission)}
                        for e in b.entries],
            "stale": [submission_json(s) for s in b.stale],
            "withdrawn": [submission_json(s) for s in b.withdrawn],
        }
        for b in bs
    ]

"""What the public sees of a submission on a split whose ground truth is hidden.

A split is marked in its sidecar (``timer1.json``: ``"hidden_ground_truth": true``, for the folder or
for one split). Scores precise to 4 decimals, per-group breakdowns and one-line submissions let a
submitter read single queries' IoU back and solve for the true spans; on such a split the board, the
JSON API, the pages and the CLI show scores rounded to one decimal and no breakdowns, rank on the rounded
values, and take only submissions that answer most queries, a few a day per uploader. The store keeps
the full result for the maintainers (and ``rescore``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .store import Submission

PUBLIC_DECIMALS = 1
MIN_COVERAGE = 0.9  # share of the split's queries a submission must answer
UPLOADS_PER_DAY = 5  # per uploader (token) and split, over the last 24 hours


@dataclass(frozen=True)
class Quota:
    """Who is uploading, and how many submissions a day it may store on a split with hidden ground truth."""

    submitter: str
    per_day: int = UPLOADS_PER_DAY


def is_hidden(result: dict[str, Any]) -> bool:
    return bool(result.get("split", {}).get("hidden_ground_truth"))


def _rounded(values: dict[str, Any]) -> dict[str, Any]:
    def r(v):
        if isinstance(v, (list, tuple)):
            return [r(x) for x in v]
        return round(v, PUBLIC_DECIMALS) if isinstance(v, float) else v

    return {k: r(v) for k, v in values.items()}


def public_result(result: dict[str, Any]) -> dict[str, Any]:
    """A scorer result as the public may see it (unchanged unless the split's ground truth is hidden)."""
    if not is_hidden(result):
        return result
    out = {k: v for k, v in result.items() if k != "breakdowns"}
    out["metrics"] = _rounded(result.get("metrics", {}))
    out["ci95"] = _rounded(result.get("ci95", {}))
    out["breakdowns"] = {}
    return out


def public_submission(sub: Submission) -> Submission:
    if not (is_hidden(sub.canonical) or is_hidden(sub.timer1)):
        return sub
    return replace(sub, canonical=public_result(sub.canonical), timer1=public_result(sub.timer1),
                   declared=public_result(sub.declared) if sub.declared else None)

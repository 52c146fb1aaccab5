"""Ranking: the best current submission per model, per split (name + content hash).

Only submissions scored by the running scorer version are ranked; others are listed as stale until
``timer1 leaderboard rescore`` brings them up to date, so old and new scores never mix silently.
Submissions on a different content hash of the same split name were scored against other ground
truth: they form their own board.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tvgbench.core.errors import Timer1Error

from .public import public_submission
from .store import Submission

METRICS = ("R1@0.3", "R1@0.5", "R1@0.7", "mIoU")
DEFAULT_SORT = "R1@0.5"
# what each declared convention counts, in one line under the board's title (the definitions: tvgbench.core.scoring)
CONVENTION_NOTES = {
    "canonical": "canonical: hit = IoU ≥ θ over every query of the split; missing answers are misses",
    "timer1": "Time-R1's eval_all.py: hit = IoU > θ over the distinct qids given",
    "timelens": "TimeLens's compute_metrics: hit = IoU ≥ θ over the entries given",
    "lmms-eval": "lmms-eval's temporal grounding: hit = IoU ≥ θ over the entries given",
    "moment-detr": "moment_detr's standalone_eval: R1 against the best-matching true window",
}


@dataclass
class Entry:
    rank: int
    submission: Submission
    model_submissions: int  # how many current submissions this model has on the board


@dataclass
class Board:
    split_name: str
    split_hash: str
    sort: str
    entries: list[Entry] = field(default_factory=list)
    stale: list[Submission] = field(default_factory=list)  # scored by another scorer version
    withdrawn: list[Submission] = field(default_factory=list)  # removed by the maintainer, kept for the record

    def _newest_first(self) -> list[Submission]:
        return sorted([e.submission for e in self.entries] + self.stale + self.withdrawn, key=lambda s: -(s.id or 0))

    @property
    def pretty_name(self) -> str:
        """The dataset's name as its newest submission recorded it (older rows have none: the split name)."""
        for s in self._newest_first():
            name = s.canonical.get("split", {}).get("pretty_name")
            if name:
                return name
        return self.split_name

    @property
    def convention(self) -> str:
        """The scoring convention the split declares, as its newest submission recorded it (canonical when none)."""
        members = self._newest_first()
        return members[0].convention if members else "canonical"

    @property
    def metrics(self) -> tuple[str, ...]:
        """The board's columns: timer1's four, or the metrics its declared convention adds (moment_detr's mAP...);
        a metric repeated under the peer's own name (``peer_metrics``: MR-full-R1@0.5 ...) is shown once."""
        if self.convention in ("canonical", "timer1") or not self.entries:
            return METRICS
        result = self.entries[0].submission.board_result
        repeats = set(result.get("peer_metrics", {})) - set(METRICS)
        return tuple(k for k, v in result["metrics"].items()
                     if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in repeats)

    @property
    def convention_note(self) -> str:
        return CONVENTION_NOTES.get(self.convention, f"scored with --compat {self.convention}")

    @property
    def tab_id(self) -> str:
        """A stable anchor for this board's tab: its split name and content hash."""
        return "board-" + "".join(c if c.isalnum() else "-" for c in self.split_name) + "-" + self.split_hash[7:19]


def _order_key(sort: str):
    # best first; ties broken by mIoU, then by who got there first
    return lambda s: (-s.metric(sort), -s.metric("mIoU"), s.created_at, s.id or 0)


def check_sort(sort: str) -> str:
    if sort not in METRICS:
        raise Timer1Error(f"cannot sort by {sort!r}; choose one of {', '.join(METRICS)}")
    return sort


def boards(subs: list[Submission], sort: str = DEFAULT_SORT, scorer_version: str | None = None) -> list[Board]:
    """One board per (split name, content hash), newest content hash first within a name."""
    if scorer_version is None:
        from tvgbench.core.scoring import SCORER_VERSION as scorer_version
    check_sort(sort)
    groups: dict[tuple[str, str], list[Submission]] = {}
    for s in map(public_submission, subs):  # hidden ground truth: ranked on what the board shows
        groups.setdefault((s.split_name, s.split_hash), []).append(s)
    out = []
    for (name, digest), members in groups.items():
        board = Board(name, digest, sort)
        board.withdrawn = [s for s in members if s.withdrawn]
        live = [s for s in members if not s.withdrawn]
        current = [s for s in live if s.scorer_version == scorer_version]
        board.stale = [s for s in live if s.scorer_version != scorer_version]
        best: dict[str, Submission] = {}
        counts: dict[str, int] = {}
        for s in sorted(current, key=_order_key(sort)):
            counts[s.model_name] = counts.get(s.model_name, 0) + 1
            best.setdefault(s.model_name, s)
        ranked = sorted(best.values(), key=_order_key(sort))
        prev_value, prev_rank = None, 0
        for pos, s in enumerate(ranked, 1):
            value = s.metric(sort)
            rank = prev_rank if value == prev_value else pos  # competition ranking: 1, 2, 2, 4
            board.entries.append(Entry(rank, s, counts[s.model_name]))
            prev_value, prev_rank = value, rank
        out.append(board)
    latest = {}
    for b in out:  # the board whose newest submission is latest comes first for its name
        newest = max([e.submission.created_at for e in b.entries] + [s.created_at for s in b.stale + b.withdrawn])
        latest[(b.split_name, b.split_hash)] = newest
    out.sort(key=lambda b: (b.split_name, -_ts(latest[(b.split_name, b.split_hash)])))
    return out


def _ts(iso: str) -> float:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").timestamp()


def rank_of(subs: list[Submission], sub: Submission, sort: str = DEFAULT_SORT) -> tuple[int | None, int]:
    """The place of ``sub``'s model on its board, and how many models are ranked there."""
    for b in boards([s for s in subs if s.split_hash == sub.split_hash], sort):
        for e in b.entries:
            if e.submission.model_name == sub.model_name:
                return e.rank, len(b.entries)
        return None, len(b.entries)
    return None, 0

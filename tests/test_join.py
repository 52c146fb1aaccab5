"""The one join (tvgbench.core.join), the one hit rule (metrics.hits), and no import cycle among the core modules."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tvgbench.core.join import (
    CANONICAL, DIFFICULTY, DUPLICATE, MISSING, REPORT, SCORED, STATUSES, TIMER1, UNKNOWN, UNPARSEABLE, SplitKeys,
    best_window_iou, join, match_qids,
)
from tvgbench.core.metrics import hits, recall_at
from tvgbench.core.predictions import columns_from_records

ROOT = Path(__file__).resolve().parents[1]


def keys(spans=((0.0, 10.0), (10.0, 20.0), (20.0, 40.0)), aliases=("A0", "A1", None)) -> SplitKeys:
    span = np.array(spans, dtype=np.float64)
    return SplitKeys(qid=pa.array([f"q{i}" for i in range(len(spans))]), source_id=pa.array(list(aliases), pa.string()),
                     start=span[:, 0].copy(), end=span[:, 1].copy(), duration=np.full(len(spans), 30.0))


def cols(*records):
    return columns_from_records(list(records))


def test_hit_rule_at_the_boundary():
    iou = np.array([0.5, 0.49, 0.51])
    assert hits(iou, 0.5).tolist() == [True, False, True]
    assert hits(iou, 0.5, strict=True).tolist() == [False, False, True]
    assert recall_at(iou, 0.5) == pytest.approx(200 / 3) and recall_at([], 0.5) == 0.0


def test_a_qid_wins_over_a_colliding_alias_and_the_first_alias_wins():
    split_qid = pa.array(["q0", "q1", "q2"])
    alias = pa.array(["q1", "X", "X"])  # q0's alias collides with the real q1
    assert match_qids(["q1", "X", "nope", "q0"], split_qid, alias).tolist() == [1, 1, -1, 0]


def test_canonical_statuses_per_split_query():
    j = join(cols({"qid": "q0", "pred": [10, 0]}, {"qid": "A1", "text": "no idea"}, {"qid": "zz", "pred": [0, 1]}),
             keys(), CANONICAL)
    assert [STATUSES[s] for s in j.status] == ["scored", "unparseable", "missing"]
    assert j.iou.tolist() == [1.0, 0.0, 0.0] and j.reversed.tolist() == [True, False, False]
    assert j.line.tolist() == [0, 1, -1] and j.line_query.tolist() == [0, 1, -1]


def test_canonical_flags_a_query_named_twice_report_takes_the_last():
    lines = cols({"qid": "q0", "pred": [0, 5]}, {"qid": "A0", "pred": [0, 10]})  # once by qid, once by alias
    assert join(lines, keys(), CANONICAL).status[0] == DUPLICATE
    last = join(lines, keys(), REPORT)
    assert last.status[0] == SCORED and last.line[0] == 1 and last.iou[0] == 1.0


def test_text_parsed_with_the_rule_parser_and_clipped_only_in_canonical():
    lines = cols({"qid": "q2", "text": "<answer>20 to 45</answer>"})
    assert join(lines, keys(), CANONICAL).end[2] == 30.0  # clipped to the 30 s video
    assert join(lines, keys(), DIFFICULTY).end[2] == 45.0
    assert join(lines, keys(), CANONICAL).from_text[2]


def test_timer1_units_are_distinct_qids_last_wins_own_targets():
    lines = cols({"qid": "q0", "pred": [0, 1]}, {"qid": "q0", "pred": [0, 10]},
                 {"qid": "new", "pred": [0, 5], "target": [0, 10]}, {"qid": "lost", "pred": [0, 5]},
                 {"qid": "q1", "pred": [None, None], "text": "<answer>10 to 20</answer>"})
    j = join(lines, keys(), TIMER1)
    assert j.line.tolist() == [1, 2, 3, 4]
    assert [STATUSES[s] for s in j.status] == ["scored", "scored", "unknown", "unparseable"]
    assert j.iou.tolist() == [1.0, 0.5, 0.0, 0.0]  # [null, null] is used as written, the text is not read


def test_difficulty_takes_the_last_line_naming_a_sample():
    lines = cols({"qid": "q1", "pred": [10, 20]}, {"qid": "A1", "pred": [10, 15]}, {"qid": "q0", "text": "7 8"})
    j = join(lines, keys(), DIFFICULTY)
    assert j.line.tolist() == [2, 1, -1] and j.status[2] == MISSING
    assert j.iou[1] == 0.5 and j.start[0] == 7.0 and j.status[0] == SCORED


def test_best_window_iou_takes_the_top_five_by_score():
    w = [[30, 40, 0.9], [0, 10, 0.5]] + [[20, 21, 0.95]] * 4  # the exact window is sixth by score
    lines = cols({"qid": "q0", "windows": w}, {"qid": "q1", "windows": [[10, 20]]})
    j = join(lines, keys(), CANONICAL)
    assert best_window_iou(lines.windows, j).tolist() == [0.0, 1.0, 0.0]
    assert j.status[0] == UNPARSEABLE  # windows alone give no R1 span


def test_unknown_status_only_for_unscorable_timer1_units():
    j = join(cols({"qid": "zz", "pred": [0, 1]}), keys(), TIMER1)
    assert j.status.tolist() == [UNKNOWN] and j.query.tolist() == [-1]


# ---- one rule, no cycles -----------------------------------------------------------------------------

def test_the_hit_rule_is_written_once():
    pattern = re.compile(r"(>=?)\s*[\w.\[\]]+\)?\s*if\s+strict\s+else|if\s+strict\s+else\s*\(?\s*[\w.]+\s*>=")
    offenders = [str(p.relative_to(ROOT)) for pkg in ("tvgbench", "timerft", "trainer", "leaderboard")
                 for p in (ROOT / pkg).rglob("*.py") if p.name != "metrics.py" and pattern.search(p.read_text())]
    assert offenders == []


def _imports(path: Path, module: str) -> set[str]:
    pkg = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            out |= {target} | {f"{target}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return out


def test_no_import_cycle_through_splits_cards_scoring():
    files = {}
    for p in (ROOT / "tvgbench").rglob("*.py"):
        name = ".".join(p.relative_to(ROOT).with_suffix("").parts)
        files[name.removesuffix(".__init__")] = p
    graph = {m: {t for t in _imports(p, m) if t in files and t != m} for m, p in files.items()}

    def reaches(start, goal):
        seen, todo = set(), [start]
        while todo:
            for n in graph[todo.pop()]:
                if n == goal:
                    return True
                if n not in seen:
                    seen.add(n)
                    todo.append(n)
        return False

    core = ["tvgbench.core.splits", "tvgbench.data.cards", "tvgbench.core.scoring", "tvgbench.core.join", "tvgbench.core.predictions",
            "tvgbench.core.metrics", "tvgbench.core.version"]
    assert [m for m in core if m in graph and reaches(m, m)] == []
    assert "tvgbench.core.scoring" not in graph["tvgbench.data.cards"] and "tvgbench.data.cards" not in graph["tvgbench.core.splits"]

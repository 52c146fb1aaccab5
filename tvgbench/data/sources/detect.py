"""``--format auto``: name a raw annotation file's format from its shape (its keys), never from guesses.

Each rule looks at the file's top level and its first few records; the first rule that fits wins. A
file no rule fits is one error naming the formats timer1 reads.
"""

from __future__ import annotations

import json
import re
from itertools import islice
from pathlib import Path
from typing import Any

from tvgbench.core.errors import Timer1Error
from tvgbench.data.sources.base import load_json
from tvgbench.data.sources.charades_cd import split_of as cd_split_of

PEEK = 20  # records looked at: enough to see a layout, cheap on a 40K-record file
_TXT_LINE = re.compile(r"^\S+\s+[-+0-9.eE]+\s+[-+0-9.eE]+\s*##")
# the split names only Charades-CD / ActivityNet-CD use; an ActivityNet-CD file otherwise reads like ActivityNet
_CD_ONLY_SPLITS = ("test_ood", "test_iid", "novel_composition", "novel_word")


def _first_dicts(values) -> list[dict]:
    return [v for v in islice(values, PEEK) if isinstance(v, dict)]


def _first_line(path: Path) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.strip():
                    return line.strip()
    except OSError as e:
        raise Timer1Error(f"cannot read {path}: {e.strerror}") from None
    return ""


def _jsonl_format(line: str) -> str | None:
    try:
        row = json.loads(line)
    except ValueError:
        return None
    if isinstance(row, dict) and "relevant_windows" in row and "query" in row:
        return "qvhighlights"
    return None


def _list_format(items: list) -> str | None:
    records = _first_dicts(items)
    if records and all("answer" in r and "path" in r for r in records):
        return "timer1-tvgbench"
    if records and all("timestamp" in r and "sentence" in r and "video" in r for r in records):
        return "timer1-timerft"
    return None


def _dict_format(data: dict, path: Path) -> str | None:
    if isinstance(data.get("videos"), list):
        return "ego4d-nlq"
    entries = _first_dicts(data.values())
    if not entries:
        return None
    if all("spans" in e and "queries" in e for e in entries):
        return "timelens"
    if not all("timestamps" in e and "sentences" in e for e in entries):
        return None
    if any("video_duration" in e or "framestamps" in e for e in entries) or cd_split_of(path) in _CD_ONLY_SPLITS:
        return "charades-cd"
    if all("duration" in e for e in entries):
        keys = list(islice(data, PEEK))
        return "activitynet" if all(str(k).startswith("v_") for k in keys) else "charades-sta"
    return None


def shape_of(data: Any, path: Path) -> str | None:
    """The format a loaded JSON document has, or None."""
    if isinstance(data, list):
        return _list_format(data)
    if isinstance(data, dict):
        return _dict_format(data, path)
    return None


def detect_format(path: str | Path, known: tuple[str, ...]) -> str:
    """The one of ``known`` that ``path`` is written in; a :class:`Timer1Error` naming them all otherwise."""
    path = Path(path)
    if not path.exists():
        raise Timer1Error(f"file not found: {path}")
    if path.is_dir():
        raise Timer1Error(f"expected a file, got a folder: {path}")
    first = _first_line(path)
    found = None
    if _TXT_LINE.match(first):
        found = "charades-sta-txt"
    elif first.startswith("{") and (path.suffix.lower() == ".jsonl" or len(first) < 100_000):
        found = _jsonl_format(first)  # one JSON object per line (a whole-file object rarely fits on one short line)
    if found is None and first[:1] in "[{":
        try:
            found = shape_of(load_json(path), path)
        except Timer1Error:
            found = None
    if found is None or found not in known:
        raise Timer1Error(f"cannot tell the format of {path}; name it with --format, one of {', '.join(known)}")
    return found


def format_hint(fmt: str, path: str | Path, report, known: tuple[str, ...]) -> str:
    """For an ingest that kept nothing: the format (of ``known``) the file looks like when that is another
    one, or a plain doubt about ``fmt`` when its records were malformed (empty when neither helps)."""
    try:
        looks_like = detect_format(path, known)
    except Timer1Error:
        looks_like = None
    if looks_like is not None and looks_like != fmt:
        return f"; the file looks like --format {looks_like}"
    top = report.rejected.most_common(1)
    return f"; is --format {fmt} right?" if top and top[0][0] == "malformed_record" else ""

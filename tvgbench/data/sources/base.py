"""What every source adapter returns, and the JSON reader they share."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tvgbench.core.errors import Timer1Error
from tvgbench.core.schema import Sample
from tvgbench.core.validate import IngestReport


@dataclass
class Ingested:
    samples: list[Sample]
    report: IngestReport
    window_mode: str = "crop"
    default_split: str = "test"
    source_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _int_or_float(text: str) -> int | float:
    # past Python's digit limit int() raises; such a number is far past any time, so read it as ±inf
    # and let validation reject the record (non_finite_time) rather than the whole file
    return int(text) if len(text) <= 4000 else float(text)


def text_of(value: Any, default: str = "") -> str:
    """A record's name-like field as text: strings as they are, numbers spelled out, anything else ``default``."""
    if isinstance(value, str):
        return value
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def load_json(path: Path) -> Any:
    if not path.exists():
        raise Timer1Error(f"file not found: {path}")
    if path.is_dir():
        raise Timer1Error(f"expected a file, got a folder: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f, parse_int=_int_or_float)
    except json.JSONDecodeError as e:
        raise Timer1Error(f"{path} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except UnicodeDecodeError:
        raise Timer1Error(f"{path} is not UTF-8 text") from None
    except RecursionError:
        raise Timer1Error(f"{path} is nested too deeply to read (arrays or objects inside each other "
                          f"more than about {sys.getrecursionlimit()} levels)") from None

"""What every source adapter returns, and the JSON reader they share."""

from __future__ import annotations

import json
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


def load_json(path: Path) -> Any:
    if not path.exists():
        raise Timer1Error(f"file not found: {path}")
    if path.is_dir():
        raise Timer1Error(f"expected a file, got a folder: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise Timer1Error(f"{path} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except UnicodeDecodeError:
        raise Timer1Error(f"{path} is not UTF-8 text") from None

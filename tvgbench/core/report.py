"""Human-readable score tables (rich) and atomic text/JSON output."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def open_temp_beside(path: Path) -> tuple[int, str]:
    """A new temporary file next to ``path``, with the mode a plain open gives (0666 less the umask).

    tempfile.mkstemp makes 0600 files, which would leave run.json and scores.json private while the
    predictions beside them are readable.
    """
    for _ in range(100):
        tmp = str(path.parent / f"{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write a text file so that a killed process never leaves a half-written file behind."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = open_temp_beside(p)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int = 2) -> None:
    """Write JSON atomically (see :func:`write_text_atomic`)."""
    write_text_atomic(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def _fmt(metric: str, result: dict) -> str:
    v = result["metrics"][metric]
    ci = result.get("ci95", {}).get(metric)
    return f"{v:.2f}" + (f" [{ci[0]:.1f}, {ci[1]:.1f}]" if ci else "")


def print_score_table(result: dict[str, Any], console=None) -> None:
    console = console or Console()
    metrics = list(result["metrics"])
    head = Table(title=f"{result['split']['name']}: {result['mode']} ({result['hit_rule']})")
    head.add_column("metric")
    head.add_column("value [95% CI]", justify="right")
    for m in metrics:
        head.add_row(m, _fmt(m, result))
    console.print(head)
    c = result["counts"]
    console.print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in c.items()))
    if result.get("ci95"):
        b = result["bootstrap"]
        console.print(f"95% CI: {b['samples']} bootstrap resamples of videos (seed {b['seed']})")
    for key, groups in result["breakdowns"].items():
        t = Table(title=f"by {key}")
        t.add_column(key)
        t.add_column("n", justify="right")
        for m in ("R1@0.3", "R1@0.5", "R1@0.7", "mIoU"):
            t.add_column(m, justify="right")
        for name, g in groups.items():
            t.add_row(name, str(g["n"]), *(f"{g[m]:.2f}" for m in ("R1@0.3", "R1@0.5", "R1@0.7", "mIoU")))
        console.print(t)

"""Original Charades-STA text annotations: ``vid start end##sentence`` lines plus Charades_v1_*.csv durations."""

from __future__ import annotations

import csv
from pathlib import Path

from tvgbench.core.errors import Timer1Error
from tvgbench.core.validate import IngestReport, Verdict, check_record
from tvgbench.data.sources.base import Ingested


def _find_durations_csv(txt: Path) -> Path:
    split = "train" if "train" in txt.name else "test"
    for candidate in (txt.parent / f"Charades_v1_{split}.csv", *sorted(txt.parent.glob("Charades_v1_*.csv"))):
        if candidate.exists():
            return candidate
    raise Timer1Error(f"no Charades_v1_*.csv beside {txt}; pass --durations CSV")


def read_durations(csv_path: Path) -> dict[str, float]:
    durations: dict[str, float] = {}
    for path in [csv_path] + sorted(p for p in csv_path.parent.glob("Charades_v1_*.csv") if p != csv_path):
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or "id" not in reader.fieldnames or "length" not in reader.fieldnames:
                raise Timer1Error(f"{path}: expected Charades CSV columns 'id' and 'length'")
            for row in reader:
                try:
                    durations.setdefault(row["id"], float(row["length"]))
                except (TypeError, ValueError):
                    continue
    return durations


def read(path: Path, *, end_tolerance: float, durations: str | Path | None = None) -> Ingested:
    if not path.exists():
        raise Timer1Error(f"file not found: {path}")
    csv_path = Path(durations) if durations else _find_durations_csv(path)
    if not csv_path.exists():
        raise Timer1Error(f"durations CSV not found: {csv_path}")
    lengths = read_durations(csv_path)
    report = IngestReport()
    samples = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise Timer1Error(f"{path} is not UTF-8 text") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        head, sep, sentence = line.partition("##")
        fields = head.split()
        if not sep or len(fields) != 3:
            report.add(Verdict(None, "malformed_record", "expected 'vid start end##sentence'"), f"line {n}")
            continue
        vid, start, end = fields
        if vid not in lengths:
            report.add(Verdict(None, "unknown_duration", f"{vid} is not in {csv_path.name}"), f"line {n}")
            continue
        v = check_record(source="charades", video=f"{vid}.mp4", query=sentence, span=[start, end],
                         duration=lengths[vid], end_tolerance=end_tolerance, source_id=f"{vid}_line{n}")
        report.add(v, f"line {n}")
        if v.sample is not None:
            samples.append(v.sample)
    split = "train" if "train" in path.name else "test"
    return Ingested(samples, report, window_mode="crop", default_split=split, source_name="charades")

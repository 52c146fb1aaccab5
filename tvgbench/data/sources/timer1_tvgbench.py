"""The official TVGBench release of Time-R1 (``tvgbench.json``: 800 queries, 462 videos, 5 sources)."""

from __future__ import annotations

import reprlib
from pathlib import Path

from tvgbench.core.errors import Timer1Error
from tvgbench.core.schema import QTYPES, compute_bins
from tvgbench.core.validate import FLAG_BINS_DIFFER, IngestReport, Verdict, check_record
from tvgbench.data.sources.base import Ingested, load_json, text_of


def _timer1_qid(source_file: str, index: int) -> str:
    # Time-R1's loader id: raw-annotation file stem with '.'/'-' as '_', then the item's index
    stem = Path(source_file).name.rsplit(".", 1)[0].replace(".", "_").replace("-", "_")
    return f"{stem}_{index}"


def _parse_answer(answer) -> list:
    if isinstance(answer, str) and answer.count("-") == 1:
        a, b = answer.split("-")
        return [a, b]
    return [None, None] if not isinstance(answer, (list, tuple)) else list(answer)


def read(path: Path, *, end_tolerance: float) -> Ingested:
    items = load_json(path)
    if not isinstance(items, list):
        raise Timer1Error(f"{path}: a TVGBench release is a JSON list of records")
    report = IngestReport()
    samples = []
    bin_diffs = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "answer" not in item or "path" not in item:
            report.add(Verdict(None, "malformed_record", "not a TVGBench record"), f"item {i}")
            continue
        bins_rel = item.get("bins") if isinstance(item.get("bins"), dict) else {}  # released bins: compared only
        source = item.get("dataset_name") or bins_rel.get("dataset") or "unknown"
        qtype = item.get("qsemtype")
        known_qtype = isinstance(qtype, str) and qtype in QTYPES
        flags = []
        window = None
        if item.get("start") is not None or item.get("end") is not None:
            window = [item.get("start"), item.get("end")]
        v = check_record(
            source=source,
            video=Path(text_of(item["path"])).name,
            query=item.get("question"),
            span=_parse_answer(item["answer"]),
            duration=item.get("duration"),
            window=window,
            end_tolerance=end_tolerance,
            qtype=qtype if known_qtype else None,
            source_id=_timer1_qid(text_of(item.get("source", "tvgbench"), "tvgbench"), i),
            flags=flags,
            meta={"released_bins": bins_rel, "released_path": item["path"]},
        )
        if v.sample is not None:
            ours = compute_bins(v.sample.span, v.sample.duration)
            theirs = {k: bins_rel.get(k) for k in ("videolen", "qcenter", "qlen")}
            if ours != theirs:
                v.sample.flags.append(FLAG_BINS_DIFFER)
                bin_diffs.append({"qid": v.sample.qid, "index": i, "released": theirs, "recomputed": ours})
            if not known_qtype:
                report.notes.append(f"item {i}: unknown query type {reprlib.repr(qtype)} (kept with qtype null)")
        report.add(v, f"item {i}")
        if v.sample is not None:
            samples.append(v.sample)
    report.notes.extend(
        f"bins differ for item {d['index']} ({d['qid']}): released {d['released']}, recomputed {d['recomputed']}"
        for d in bin_diffs
    )
    # TVGBench's files are raw videos: 52 of them appear with several different windows, so they
    # cannot be per-query clips
    return Ingested(samples, report, window_mode="crop", default_split="test", source_name="tvgbench",
                    extra={"bin_differences": bin_diffs})

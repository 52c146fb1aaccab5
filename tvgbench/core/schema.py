"""The canonical grounding sample, declared once.

Every part of timer1 (ingestion, builders, scorer, harness, leaderboard, trainer) reads and writes
this one record type. :func:`features` is the Hugging Face ``datasets`` declaration; the forms the
writers need (:func:`arrow_schema`, :func:`features_dict`, :func:`features_yaml`) are derived from it.
Importing ``datasets`` costs about half a second, so those derived forms are also stored in
``schema_data/derived.json`` (``python -m tvgbench.core.schema`` regenerates it; tests/test_schema.py fails
if it no longer equals what :func:`features` gives). ``Sample`` is the typed Python view of one row.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

# The 11 TVGBench query types, with the abbreviations TVGBench stores in ``bins.qsemtype``.
QTYPES: dict[str, str] = {
    "Human Action (Simple)": "HAS",
    "Human Action (Procedural)": "HAP",
    "Human Action (Complex)": "HAC",
    "Human Pose": "HP",
    "Object Existence (Simple)": "OES",
    "Object Existence (Complex)": "OEC",
    "Object Attribute": "OA",
    "Object Counting": "OC",
    "Object Transition": "OT",
    "Environment State": "ES",
    "Environment Change": "EC",
}
QTYPE_BY_ABBREV = {v: k for k, v in QTYPES.items()}

# Bin widths as TVGBench's released ``bins`` have them: videolen = floor(duration / 20 s),
# qcenter = floor(10 * centre / duration), qlen = floor(15 * length / duration).
VIDEOLEN_BIN_SECONDS = 20.0
QCENTER_BINS = 10
QLEN_BINS = 15

COLUMNS = (
    "qid", "video", "query", "span", "duration", "window", "source", "qtype", "bins",
    "difficulty", "pred", "source_id", "flags", "meta",
)
# Columns only multi-window sources write (QVHighlights): every true window of the query (``span`` stays the
# first) and per-clip saliency. A split whose rows all lack them has none of them, so single-window splits keep
# the bytes they had before these columns existed.
OPTIONAL_COLUMNS = ("windows", "saliency")


@lru_cache(maxsize=2)
def features(optional: bool = False):
    """The schema as ``datasets.Features`` (imported lazily: ``datasets`` is slow to import); ``optional``
    adds :data:`OPTIONAL_COLUMNS` after the others."""
    from datasets import Features, List, Value

    extra = {
        "windows": List(List(Value("float64"), length=2)),
        # moment_detr's highlight labels: clips of clip_seconds, the ids of the labelled ones, 3 annotators' 0-4 scores
        "saliency": {
            "clip_seconds": Value("float64"),
            "clip_ids": List(Value("int32")),
            "scores": List(List(Value("int32"), length=3)),
        },
    } if optional else {}
    return Features(
        {
            "qid": Value("string"),
            "video": Value("string"),
            "query": Value("string"),
            "span": List(Value("float64"), length=2),
            "duration": Value("float64"),
            "window": List(Value("float64"), length=2),
            "source": Value("string"),
            "qtype": Value("string"),
            "bins": {
                "videolen": Value("int32"),
                "qcenter": Value("int32"),
                "qlen": Value("int32"),
            },
            "difficulty": Value("float64"),
            "pred": List(Value("float64"), length=2),
            "source_id": Value("string"),
            "flags": List(Value("string")),
            "meta": Value("string"),  # JSON object, kept as text so any keys survive parquet
            **extra,
        }
    )


DERIVED_PATH = Path(__file__).parent / "schema_data" / "derived.json"


def _forms(feats) -> dict[str, Any]:
    return {
        "features": feats.to_dict(),
        "yaml": feats._to_yaml_list(),
        "arrow_schema": base64.b64encode(feats.arrow_schema.serialize().to_pybytes()).decode("ascii"),
    }


def derive_forms() -> dict[str, Any]:
    """What the writers need from :func:`features`: its dict (parquet metadata), its Hub YAML list and
    its pyarrow schema (IPC bytes, base64), computed with ``datasets``; under ``"optional"`` the same
    three with :data:`OPTIONAL_COLUMNS`."""
    return {**_forms(features()), "optional": _forms(features(optional=True))}


def _forms_of(optional: bool) -> dict[str, Any]:
    return _derived()["optional"] if optional else _derived()


@lru_cache(maxsize=1)
def _derived() -> dict[str, Any]:
    try:
        return json.loads(DERIVED_PATH.read_text(encoding="utf-8"))
    except FileNotFoundError:  # e.g. a source tree without package data: derive it (slower, same result)
        return derive_forms()


def features_dict(optional: bool = False) -> dict[str, Any]:
    """``features(optional).to_dict()``: what ``datasets`` reads back from a parquet file's metadata."""
    return copy.deepcopy(_forms_of(optional)["features"])  # callers may edit it; the cache stays as stored


def features_yaml(optional: bool = False) -> list:
    """``dataset_info.features`` in the Hub's YAML form."""
    return copy.deepcopy(_forms_of(optional)["yaml"])


@lru_cache(maxsize=2)
def arrow_schema(optional: bool = False):
    """The pyarrow schema of a split file, derived from :func:`features`."""
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(_forms_of(optional)["arrow_schema"])))


def write_derived(path: Path = DERIVED_PATH) -> Path:
    """Regenerate ``schema_data/derived.json`` from :func:`features`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # key order is meaningful (it is the column order), so it is kept as features() gives it
    path.write_text(json.dumps(derive_forms(), indent=1) + "\n", encoding="utf-8")
    return path


def compute_bins(span: tuple[float, float], duration: float) -> dict[str, int]:
    """TVGBench bins: ``floor(duration/20)``, ``floor(10*center/duration)``, ``floor(15*length/duration)``."""
    start, end = span
    if duration <= 0:
        return {"videolen": 0, "qcenter": 0, "qlen": 0}
    return {
        "videolen": int(math.floor(duration / VIDEOLEN_BIN_SECONDS)),
        "qcenter": int(math.floor(QCENTER_BINS * ((start + end) / 2.0) / duration)),
        "qlen": int(math.floor(QLEN_BINS * (end - start) / duration)),
    }


def _canonical_number(x: float) -> str:
    # repr round-trips floats exactly; normalise -0.0 and integral floats so 12 and 12.0 hash alike
    x = float(x) + 0.0
    return repr(x)


def _compact_json(obj) -> bytes:
    """Compact UTF-8 JSON, byte-identical to ``json.dumps(obj, ensure_ascii=False, separators=(",", ":"))``.

    orjson is several times faster (ingesting 70K candidates hashes 70K payloads); it refuses lone
    surrogates, which the standard encoder writes, so those fall back to it.
    """
    try:
        return orjson.dumps(obj)
    except TypeError:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")


def make_qid(source: str, video: str, window, query: str, span) -> str:
    """A stable id that depends only on the record's own content, never on file order or disk state."""
    payload = _compact_json(
        [
            source,
            video,
            None if window is None else [_canonical_number(v) for v in window],
            query,
            [_canonical_number(v) for v in span],
        ]
    )
    return f"{source}-{hashlib.sha256(payload).hexdigest()[:16]}"


@dataclass
class Sample:
    """Typed view of one canonical record (times in seconds, relative to the clip the model sees)."""

    video: str
    query: str
    span: tuple[float, float]
    duration: float
    source: str
    window: tuple[float, float] | None = None
    qtype: str | None = None
    bins: dict[str, int] | None = None
    difficulty: float | None = None
    pred: tuple[float, float] | None = None
    source_id: str | None = None
    flags: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    qid: str = ""
    windows: list[tuple[float, float]] | None = None  # every true window, span first (multi-window sources)
    saliency: dict[str, Any] | None = None  # {"clip_seconds", "clip_ids", "scores"}: see features()

    def __post_init__(self) -> None:
        self.span = (float(self.span[0]), float(self.span[1]))
        if self.window is not None:
            self.window = (float(self.window[0]), float(self.window[1]))
        if self.pred is not None:
            self.pred = (float(self.pred[0]), float(self.pred[1]))
        if self.windows is not None:
            self.windows = [(float(w[0]), float(w[1])) for w in self.windows]
        if not self.qid:
            self.qid = make_qid(self.source, self.video, self.window, self.query, self.span)
        if self.bins is None:
            self.bins = compute_bins(self.span, self.duration)

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["span"] = list(self.span)
        row["window"] = None if self.window is None else list(self.window)
        row["pred"] = None if self.pred is None else list(self.pred)
        row["meta"] = json.dumps(self.meta, ensure_ascii=False, sort_keys=True) if self.meta else None
        out = {k: row[k] for k in COLUMNS}
        if self.windows is not None:  # absent, not null, elsewhere: single-window rows (and hashes) stay as they were
            out["windows"] = [list(w) for w in self.windows]
        if self.saliency is not None:
            out["saliency"] = row["saliency"]
        return out

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Sample":
        meta = row.get("meta")
        return cls(
            qid=row["qid"],
            video=row["video"],
            query=row["query"],
            span=tuple(row["span"]),
            duration=row["duration"],
            source=row["source"],
            window=None if row.get("window") is None else tuple(row["window"]),
            qtype=row.get("qtype"),
            bins=dict(row["bins"]) if row.get("bins") else None,
            difficulty=row.get("difficulty"),
            pred=None if row.get("pred") is None else tuple(row["pred"]),
            source_id=row.get("source_id"),
            flags=list(row.get("flags") or []),
            meta=json.loads(meta) if meta else {},
            windows=None if row.get("windows") is None else [tuple(w) for w in row["windows"]],
            saliency=row.get("saliency"),
        )


if __name__ == "__main__":  # python -m tvgbench.core.schema: regenerate the derived forms after editing features()
    print(f"wrote {write_derived()}")

"""Splits on disk, in Hugging Face layout.

A split folder holds ``data/<split>-00000-of-00001.parquet``, a ``README.md`` data card and
``timer1.json`` (what timer1 itself needs: split names, content hashes, how windows are handled, the
ingestion report). ``datasets.load_dataset("parquet", data_files=...)`` reads the parquet files;
:func:`load_split` reads them without importing ``datasets``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from tvgbench.core.errors import Timer1Error
from tvgbench.core.outdir import Owned, owned_files, safe_relative
from tvgbench.core.report import write_text_atomic
from tvgbench.core.schema import COLUMNS, OPTIONAL_COLUMNS, Sample, arrow_schema, features_dict, features_yaml

SIDECAR = "timer1.json"
FORMAT_VERSION = 1

# How a record's ``window`` relates to the video file (Time-R1 crops inconsistently: its RL training
# never crops, its difficulty pass always does, its TVGBench eval never does):
#   "crop"       - the file is the raw video; decode only [window[0], window[1]]
#   "pretrimmed" - the file already is the clip; the window is provenance only
WINDOW_MODES = ("crop", "pretrimmed")


def content_hash(rows: Iterable[dict[str, Any]]) -> str:
    """sha256 over canonical JSON lines of the rows, in order: independent of parquet versions."""
    h = hashlib.sha256()
    for row in rows:
        h.update(json.dumps(row, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode())
        h.update(b"\n")
    return "sha256:" + h.hexdigest()


# The minimal data card every split folder gets (tvgbench.data.cards fills the richer templates): it lives here
# so that writing a split needs nothing above this module.
SIZE_CATEGORIES = [
    (1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
]


def size_category(n: int) -> str:
    for bound, label in SIZE_CATEGORIES:
        if n < bound:
            return label
    return "n>1T"


def card_metadata(sidecar: dict[str, Any], *, license: str = "other", pretty_name: str | None = None,
                  source_datasets: list[str] | None = None) -> dict[str, Any]:
    splits = sidecar.get("splits", {})
    total = sum(int(s.get("n", 0)) for s in splits.values())
    # dataset_info.features in the Hub's YAML form, derived from the one schema declaration
    # a split with multi-window rows declares the optional columns (timer1.json "optional_columns")
    yaml_features = features_yaml(any(s.get("optional_columns") for s in splits.values()))
    return {
        "license": license,
        "pretty_name": pretty_name or "timer1 temporal video grounding split",
        "task_categories": ["video-text-to-text"],
        "tags": ["temporal-video-grounding", "video", "timer1"],
        "language": ["en"],
        "size_categories": [size_category(total)],
        "source_datasets": source_datasets or sorted({"original"}),
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": name, "path": f"data/{name}-*"} for name in sorted(splits)],
            }
        ],
        "dataset_info": {
            "features": yaml_features,
            "splits": [{"name": name, "num_examples": int(s.get("n", 0))} for name, s in sorted(splits.items())],
        },
    }


def render_card(split_dir: str | Path, sidecar: dict[str, Any], body: str | None = None, **meta_kwargs) -> str:
    meta = card_metadata(sidecar, **meta_kwargs)
    if body is None:
        lines = ["# timer1 split", "", "Canonical temporal-video-grounding records written by `timer1`.", ""]
        for name, s in sorted(sidecar.get("splits", {}).items()):
            lines.append(f"- **{name}**: {s.get('n', 0)} records, content hash `{s.get('content_hash', '')}`, "
                         f"windows: `{s.get('window_mode', 'crop')}`")
            if s.get("build"):
                lines.append(f"  - built with: `{json.dumps(s['build'], sort_keys=True)}`")
        body = "\n".join(lines) + "\n"
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n\n" + body


def parquet_name(split: str, shard: int = 0, n_shards: int = 1) -> str:
    return f"data/{split}-{shard:05d}-of-{n_shards:05d}.parquet"


@dataclass
class SplitInfo:
    """The sidecar: what a split is and how it was made."""

    name: str
    n: int
    content_hash: str
    window_mode: str = "crop"
    files: list[str] = field(default_factory=list)
    build: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)


def write_split(
    samples: list[Sample],
    out_dir: str | os.PathLike,
    split: str = "test",
    *,
    window_mode: str = "crop",
    build: dict[str, Any] | None = None,
    report: dict[str, Any] | None = None,
    card: str | None = None,
    benchmark: dict[str, str] | None = None,
) -> SplitInfo:
    """Write one split (parquet + card + sidecar) into ``out_dir``, atomically per file.

    Other splits already in ``out_dir`` are kept, so train and test can share a folder. ``benchmark``
    (e.g. ``{"pretty_name": "Charades-TimeLens", "convention": "timelens"}``) is what the split declares
    about itself beside the sidecar entry (the leaderboard titles and scores its board by it); splits
    that declare nothing are written as before.
    """
    if window_mode not in WINDOW_MODES:
        raise Timer1Error(f"window_mode must be one of {WINDOW_MODES}, got {window_mode!r}")
    out = Path(out_dir)
    try:
        (out / "data").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise Timer1Error(f"cannot create output folder {out}: {e.strerror}") from None
    if not os.access(out, os.W_OK):
        raise Timer1Error(f"output folder {out} is not writable")
    rows = [s.to_row() for s in samples]
    qids = [r["qid"] for r in rows]
    if len(set(qids)) != len(qids):
        raise Timer1Error(f"split {split!r} has duplicate qids; deduplicate before writing")
    optional = sorted({k for r in rows for k in OPTIONAL_COLUMNS if k in r})
    schema = arrow_schema(bool(optional))
    table = pa.Table.from_pylist(rows, schema=schema) if rows else schema.empty_table()
    # datasets reads its features back from this metadata key
    meta = {b"huggingface": json.dumps({"info": {"features": features_dict(bool(optional))}}).encode()}
    table = table.replace_schema_metadata(meta)
    rel = parquet_name(split)
    for old in (out / "data").glob(f"{split}-*.parquet"):
        if old.name != Path(rel).name:
            old.unlink()
    tmp = out / (rel + ".tmp")
    try:
        pq.write_table(table, tmp, compression="zstd", row_group_size=100_000)
        os.replace(tmp, out / rel)
    finally:
        tmp.unlink(missing_ok=True)

    info = SplitInfo(
        name=split, n=len(rows), content_hash=content_hash(rows), window_mode=window_mode, files=[rel],
        build=build or {}, report=report or {},
    )
    sidecar = read_sidecar(out) if (out / SIDECAR).exists() else {"format_version": FORMAT_VERSION, "splits": {}}
    sidecar["splits"][split] = {**info.__dict__, **(benchmark or {})}
    if optional:  # only multi-window splits carry the key: single-window sidecars keep their bytes
        sidecar["splits"][split]["optional_columns"] = optional
    write_text_atomic(out / SIDECAR, json.dumps(sidecar, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    if card is None:
        named = (benchmark or {}).get("pretty_name")
        card = render_card(out, sidecar, **({"pretty_name": named} if named else {}))
    write_text_atomic(out / "README.md", card)
    return info


def read_sidecar(split_dir: str | os.PathLike) -> dict[str, Any]:
    p = Path(split_dir) / SIDECAR
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"format_version": FORMAT_VERSION, "splits": {}}
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise Timer1Error(f"{p} is not valid JSON: {e}") from None


def split_ownership(split_dir: Path, split: str, extra: Iterable[str] = ()) -> Owned:
    """What a split writer owns in an existing folder: the files of a timer1 split folder.

    Only a folder whose ``timer1.json`` reads as a sidecar is one; its splits' parquet files, plots,
    card and sidecar are owned (plus ``extra``, e.g. the synthetic videos). Writing split ``split``
    again replaces it, which needs ``--overwrite``; adding another split does not.
    """
    try:
        names = sorted(json.loads((split_dir / SIDECAR).read_text(encoding="utf-8"))["splits"])
    except (OSError, ValueError, KeyError, TypeError):
        return Owned()
    names = [n for n in names if isinstance(n, str) and safe_relative(n)]
    candidates = [SIDECAR, "README.md", *extra]
    for name in names:
        candidates += [p.relative_to(split_dir).as_posix() for pattern in (f"data/{name}-*-of-*.parquet",
                                                                           f"plots/{name}_*.png")
                       for p in split_dir.glob(pattern)]
    exists = split in names or any((split_dir / "data").glob(f"{split}-*-of-*.parquet"))
    return Owned(owned_files(split_dir, candidates), replaces=f"split '{split}'" if exists else "", seed=True)


def list_splits(split_dir: str | os.PathLike) -> list[str]:
    d = Path(split_dir)
    names = sorted({p.name.split("-00")[0] for p in (d / "data").glob("*-*-of-*.parquet")})
    return names


def resolve_split(split_dir: str | os.PathLike, split: str | None = None) -> tuple[Path, str, list[Path]]:
    """Find the parquet files of ``split`` (or of the only split) under ``split_dir``."""
    d = Path(split_dir)
    if not d.exists():
        raise Timer1Error(f"split folder not found: {d}")
    if d.is_file() and d.suffix == ".parquet":
        return d.parent, d.name.split("-00")[0], [d]
    names = list_splits(d)
    if not names:
        raise Timer1Error(f"{d} holds no split (expected data/<split>-00000-of-0000N.parquet)")
    if split is None:
        if len(names) > 1:
            raise Timer1Error(f"{d} holds several splits ({', '.join(names)}); choose one with --split-name")
        split = names[0]
    if split not in names:
        raise Timer1Error(f"{d} has no split {split!r} (it has {', '.join(names)})")
    return d, split, sorted((d / "data").glob(f"{split}-*-of-*.parquet"))


def read_split_table(split_dir: str | os.PathLike, split: str | None = None, columns: list[str] | None = None):
    """The split as a pyarrow Table (fast; no ``datasets`` import)."""
    _, _, files = resolve_split(split_dir, split)
    try:
        tables = [pq.read_table(f, columns=columns) for f in files]
    except (pa.ArrowInvalid, OSError) as e:
        raise Timer1Error(f"cannot read split parquet under {split_dir}: {e}") from None
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


@dataclass
class Split:
    """A loaded split: its name, sidecar info and samples."""

    name: str
    path: Path
    samples: list[Sample]
    info: dict[str, Any]

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def window_mode(self) -> str:
        return self.info.get("window_mode", "crop")

    @property
    def content_hash(self) -> str:
        return self.info.get("content_hash") or content_hash(s.to_row() for s in self.samples)


def load_split(split_dir: str | os.PathLike, split: str | None = None) -> Split:
    d, name, _ = resolve_split(split_dir, split)
    table = read_split_table(d, name)
    missing = [c for c in ("qid", "video", "query", "span", "duration", "source") if c not in table.column_names]
    if missing:
        raise Timer1Error(f"split {name!r} under {d} lacks columns: {', '.join(missing)}")
    samples = [Sample.from_row(r) for r in table.to_pylist()]
    info = read_sidecar(d).get("splits", {}).get(name, {})
    return Split(name=name, path=d, samples=samples, info=info)


__all__ = [
    "COLUMNS", "Split", "SplitInfo", "WINDOW_MODES", "content_hash", "list_splits", "load_split",
    "read_split_table", "read_sidecar", "resolve_split", "write_split",
]

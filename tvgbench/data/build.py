"""Balanced TVGBench-style benchmark builder (TVGBench balances the nine 20-s video-length bins).

From candidate queries of several sources: drop invalid and unusable ones, give each a query type,
then select N that are

1. uniform over the nine 20-second duration bins (videos of 180 s or more are excluded; bins 0-8 cover
   [0, 180) s), a bin short of supply giving what it has and the rest spread over the others;
2. spread as evenly as supply allows across sources within each bin;
3. covering every query type with at least ``min_per_type`` queries where supply and (1-2) allow;
4. spread over the ten query-centre deciles within each (bin, source) cell, every decile with supply
   holding at least one query (small builds trade queries within a bin for it: small_builds.py).

Every tie is broken by a seeded random rank drawn over the candidates in qid order, so the result depends
only on the candidates' content and the seed, never on file order: the same inputs and seed give the same
rows in the same order, hence byte-identical parquet and the same content hash.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tvgbench.core.errors import Timer1Error
from tvgbench.core.hashing import sha256_file
from tvgbench.core.schema import QCENTER_BINS, QTYPES, Sample, VIDEOLEN_BIN_SECONDS
from tvgbench.core.splits import load_split
from tvgbench.core.validate import FLAG_END_PAST_DURATION, FLAG_ZERO_LENGTH
from tvgbench.data import qtype as qt
from tvgbench.data.small_builds import Candidates, cover_deciles, scaled_minimum, type_plan
from tvgbench.data.sources import FORMATS, ingest
from tvgbench.data.sources.detect import detect_format

N_DURATION_BINS = 9
MAX_DURATION_S = N_DURATION_BINS * VIDEOLEN_BIN_SECONDS  # 180 s
DEFAULT_SIZE = 800
DEFAULT_MIN_PER_TYPE = 20
# Flags that make a record unusable as a benchmark item: a zero-length GT scores IoU 0 for every prediction,
# and a GT past the end of the video cannot be predicted faithfully.
DEFAULT_DROP_FLAGS = (FLAG_ZERO_LENGTH, FLAG_END_PAST_DURATION)
QTYPE_NAMES = tuple(QTYPES)

EXCLUDE_TOO_LONG = "duration_180s_or_more"
EXCLUDE_AMBIGUOUS = "ambiguous_query"  # same video, window and text, different spans
EXCLUDE_NO_QTYPE = "no_query_type"
EXCLUDE_DUPLICATE = "duplicate_across_inputs"


@dataclass
class BuildConfig:
    size: int = DEFAULT_SIZE
    seed: int = 0
    min_per_type: int = DEFAULT_MIN_PER_TYPE
    drop_flags: tuple[str, ...] = DEFAULT_DROP_FLAGS
    drop_ambiguous: bool = True
    # a bin short of supply: spread its shortfall over the other bins (exactly `size` rows), or leave the
    # split smaller so that every stocked bin stays at the uniform target
    redistribute: bool = True


@dataclass
class BuildResult:
    samples: list[Sample]
    report: dict[str, Any]
    config: BuildConfig
    excluded: Counter = field(default_factory=Counter)


def water_fill(total: int, supply: Sequence[int], order: Sequence[int] | None = None) -> np.ndarray:
    """Split ``total`` over cells as evenly as possible, no cell above its supply.

    Cells short of supply get all they have; the others share the rest equally, the remainder going one
    each to open cells in ``order`` (default: index order). Returns the quota per cell.
    """
    supply = np.asarray(supply, dtype=np.int64)
    quota = np.zeros(len(supply), dtype=np.int64)
    total = int(min(total, supply.sum()))
    open_cells = np.ones(len(supply), dtype=bool)
    remaining = total
    while remaining > 0 and open_cells.any():
        level = remaining // int(open_cells.sum())
        short = open_cells & (supply - quota <= level)
        if short.any():  # cells that cannot reach the level take everything and close
            remaining -= int((supply[short] - quota[short]).sum())
            quota[short] = supply[short]
            open_cells &= ~short
            continue
        quota[open_cells] += level
        remaining -= level * int(open_cells.sum())
        for i in (order if order is not None else range(len(supply))):
            if remaining == 0:
                break
            if open_cells[i] and quota[i] < supply[i]:
                quota[i] += 1
                remaining -= 1
    return quota


def _ambiguous(samples: Sequence[Sample]) -> np.ndarray:
    """Mask of queries whose text occurs again on the same clip with a different span (cannot be graded)."""
    keys = [(s.source, s.video, s.window, " ".join(s.query.lower().split())) for s in samples]
    first_span: dict[tuple, tuple] = {}
    ambiguous: set[tuple] = set()
    for key, s in zip(keys, samples):
        if first_span.setdefault(key, s.span) != s.span:
            ambiguous.add(key)
    return np.fromiter((k in ambiguous for k in keys), dtype=bool, count=len(keys))


def eligibility(samples: Sequence[Sample], config: BuildConfig) -> tuple[np.ndarray, Counter]:
    """Which candidates may be selected, and how many were excluded for each reason."""
    excluded: Counter = Counter()
    keep = np.ones(len(samples), dtype=bool)
    videolen = np.array([s.bins["videolen"] for s in samples], dtype=np.int64)
    too_long = videolen >= N_DURATION_BINS
    excluded[EXCLUDE_TOO_LONG] = int(too_long.sum())
    keep &= ~too_long
    drop = set(config.drop_flags)
    for i, s in enumerate(samples):
        if keep[i] and drop.intersection(s.flags):
            keep[i] = False
            for f in sorted(drop.intersection(s.flags))[:1]:
                excluded[f"flag:{f}"] += 1
    if config.drop_ambiguous:  # among all valid records: a repeat is ambiguous even if its twin was dropped
        amb = keep & _ambiguous(samples)
        excluded[EXCLUDE_AMBIGUOUS] = int(amb.sum())
        keep &= ~amb
    return keep, Counter({k: v for k, v in excluded.items() if v})


@dataclass
class _Pool:
    """Column view of the eligible candidates (indices into the candidate list)."""

    index: np.ndarray
    bin: np.ndarray
    source: np.ndarray  # index into ``sources``
    qcenter: np.ndarray
    qtype: np.ndarray  # index into QTYPE_NAMES
    rank: np.ndarray  # seeded random rank; lower is picked first
    sources: list[str]


def _pool(samples: Sequence[Sample], keep: np.ndarray, seed: int) -> _Pool:
    idx = np.flatnonzero(keep)
    rows = [samples[i] for i in idx.tolist()]
    sources = sorted({s.source for s in rows})
    src_index = {s: k for k, s in enumerate(sources)}
    type_index = {t: k for k, t in enumerate(QTYPE_NAMES)}
    cols = np.array([(s.bins["videolen"], src_index[s.source], s.bins["qcenter"], type_index[s.qtype]) for s in rows],
                    dtype=np.int64).reshape(-1, 4)
    # the rank is drawn over the candidates in qid order, so it does not depend on input order
    rank = np.empty(len(idx), dtype=np.int64)
    rank[np.argsort(np.array([s.qid for s in rows], dtype=object), kind="stable")] = \
        np.random.default_rng([seed, 1]).permutation(len(idx))
    return _Pool(index=idx, bin=cols[:, 0], source=cols[:, 1], qcenter=np.clip(cols[:, 2], 0, QCENTER_BINS - 1),
                 qtype=cols[:, 3], rank=rank, sources=sources)


def _cell_quotas(pool: _Pool, size: int, rng: np.random.Generator,
                 redistribute: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Quota per duration bin (uniform, water-filled) and per (bin, source) cell."""
    n_src = len(pool.sources)
    supply = np.zeros((N_DURATION_BINS, n_src), dtype=np.int64)
    np.add.at(supply, (pool.bin, pool.source), 1)
    if redistribute:
        bin_quota = water_fill(size, supply.sum(axis=1))
    else:
        bin_quota = np.minimum(water_fill(size, np.full(N_DURATION_BINS, size)), supply.sum(axis=1))
    cell_quota = np.zeros_like(supply)
    for b in range(N_DURATION_BINS):
        # the +1 remainders rotate over sources at random, so no source is always favoured
        cell_quota[b] = water_fill(int(bin_quota[b]), supply[b], order=rng.permutation(n_src))
    return bin_quota, cell_quota


def _pick_in_cell(pool: _Pool, candidates: np.ndarray, taken_deciles: np.ndarray,
                  overall: np.ndarray | None = None) -> int:
    """The candidate from the least-filled query-centre decile of its cell, lowest rank first.

    With ``overall`` (decile counts over the whole selection), ties in the cell go to the decile least
    filled overall: in a small build a cell holds a query or two, so only the split can spread deciles.
    """
    deciles = pool.qcenter[candidates]
    keys = (pool.rank[candidates],) + (() if overall is None else (overall[deciles],)) + (taken_deciles[deciles],)
    return int(candidates[np.lexsort(keys)[0]])


def _small_build_plan(pool: _Pool, cell_of: np.ndarray, cell_quota: np.ndarray, bin_quota: np.ndarray,
                      minimum: int, rng: np.random.Generator) -> tuple[list[tuple[int, int, int]], np.ndarray]:
    """The type plan of a small build, and the cell quotas it keeps (flattened).

    First within the cells' quotas; where that leaves a type short, the sources of each bin are chosen with
    the types (the bins keep their quotas, the sources fill the rest as evenly as supply allows).
    """
    quota = cell_quota.ravel()
    plan = type_plan(pool.qtype, cell_of, len(QTYPE_NAMES), len(pool.sources), quota, bin_quota, minimum)
    type_supply = np.bincount(pool.qtype, minlength=len(QTYPE_NAMES))
    if sum(n for _, _, n in plan) == int(np.minimum(type_supply, minimum).sum()):
        return plan, quota.copy()
    cell_supply = np.bincount(cell_of, minlength=len(quota))
    plan = type_plan(pool.qtype, cell_of, len(QTYPE_NAMES), len(pool.sources), cell_supply, bin_quota, minimum)
    planned = np.zeros(len(quota), dtype=np.int64)
    for _, c, n in plan:
        planned[c] += n
    n_src = len(pool.sources)
    per_bin = planned.reshape(N_DURATION_BINS, n_src)
    free = (cell_supply - planned).reshape(N_DURATION_BINS, n_src)
    rest = [water_fill(int(bin_quota[b] - per_bin[b].sum()), free[b], order=rng.permutation(n_src))
            for b in range(N_DURATION_BINS)]
    return plan, (per_bin + np.array(rest)).ravel()


def select_balanced(samples: Sequence[Sample], keep: np.ndarray, config: BuildConfig) -> tuple[np.ndarray, dict]:
    """Indices (into ``samples``) of the selected queries, and the quotas used."""
    pool = _pool(samples, keep, config.seed)
    if len(pool.index) < config.size:
        raise Timer1Error(f"only {len(pool.index)} eligible candidates for --size {config.size}; "
                          "add sources or lower --size")
    rng = np.random.default_rng([config.seed, 2])
    bin_quota, cell_quota = _cell_quotas(pool, config.size, rng, config.redistribute)
    n_src = len(pool.sources)
    cell_of = pool.bin * n_src + pool.source
    remaining = cell_quota.ravel().copy()
    taken = np.zeros(len(pool.index), dtype=bool)
    deciles_taken = np.zeros((N_DURATION_BINS * n_src, QCENTER_BINS), dtype=np.int64)
    type_count = np.zeros(len(QTYPE_NAMES), dtype=np.int64)
    type_supply = np.bincount(pool.qtype, minlength=len(QTYPE_NAMES))
    minimum = scaled_minimum(config.size, config.min_per_type, type_supply)
    small = minimum < config.min_per_type  # a small build: planned type minimums, split-wide decile spread
    overall = deciles_taken.sum(axis=0) if small else None

    def take(j: int) -> None:
        taken[j] = True
        c = cell_of[j]
        remaining[c] -= 1
        deciles_taken[c, pool.qcenter[j]] += 1
        type_count[pool.qtype[j]] += 1
        if overall is not None:
            overall[pool.qcenter[j]] += 1

    # 1. minimum per query type: rarest type first, each pick into the cell with the most quota left;
    # planned in a small build, or where that greedy pass (it cannot backtrack: the cells its picks filled
    # may be the only ones a rarer type had left) left a stocked type short of what its supply allows
    if not small:
        for t in np.argsort(type_supply, kind="stable"):
            while type_count[t] < config.min_per_type:
                open_of_type = np.flatnonzero((pool.qtype == t) & ~taken & (remaining[cell_of] > 0))
                if len(open_of_type) == 0:
                    break
                cells = np.unique(cell_of[open_of_type])
                cell = cells[np.lexsort((rng.random(len(cells)), -remaining[cells]))[0]]
                in_cell = open_of_type[cell_of[open_of_type] == cell]
                take(_pick_in_cell(pool, in_cell, deciles_taken[cell]))
        small = minimum > 0 and bool((type_count < np.minimum(type_supply, minimum)).any())
        if small:  # start again from nothing, planned
            taken[:], deciles_taken[:], type_count[:] = False, 0, 0
            overall = deciles_taken.sum(axis=0)
    if small:
        plan, remaining = _small_build_plan(pool, cell_of, cell_quota, bin_quota, minimum, rng)
        cell_quota = remaining.reshape(cell_quota.shape).copy()  # the sources may have moved with the types
        for t, cell, n in plan:
            for _ in range(n):
                in_cell = np.flatnonzero((pool.qtype == t) & ~taken & (cell_of == cell))
                take(_pick_in_cell(pool, in_cell, deciles_taken[cell], overall))

    # 2. fill every cell to its quota, spreading over query-centre deciles
    order = np.lexsort((pool.rank, cell_of))
    starts = np.searchsorted(cell_of[order], np.arange(N_DURATION_BINS * n_src + 1))
    for cell in range(N_DURATION_BINS * n_src):
        if remaining[cell] <= 0:
            continue
        members = order[starts[cell]:starts[cell + 1]]
        members = members[~taken[members]]
        by_decile = [list(members[pool.qcenter[members] == d]) for d in range(QCENTER_BINS)]  # rank order kept
        while remaining[cell] > 0:
            open_d = [d for d in range(QCENTER_BINS) if by_decile[d]]
            d = min(open_d, key=lambda k: (deciles_taken[cell, k], 0 if overall is None else overall[k],
                                           pool.rank[by_decile[k][0]]))
            take(by_decile[d].pop(0))

    # 3. a stocked query-centre decile left empty (the planned cells of a small build lacked it): trade
    # queries within their duration bins until every decile has one
    columns = Candidates(bin=pool.bin, cell=cell_of, qcenter=pool.qcenter, qtype=pool.qtype, rank=pool.rank)
    if cover_deciles(columns, taken, QCENTER_BINS, minimum, len(QTYPE_NAMES)):
        cell_quota = np.bincount(cell_of[taken], minlength=cell_quota.size).reshape(cell_quota.shape)

    chosen = pool.index[taken]
    quotas = {"bin_quota": bin_quota.tolist(), "cell_quota": cell_quota.tolist(), "sources": pool.sources,
              "bin_supply": np.bincount(pool.bin, minlength=N_DURATION_BINS).tolist(),
              "type_supply": dict(zip(QTYPE_NAMES, type_supply.tolist())), "min_per_type": minimum}
    return chosen, quotas


def balance_report(selected: Sequence[Sample], quotas: dict, config: BuildConfig,
                   candidates: int, excluded: Counter) -> dict[str, Any]:
    """Counts per bin x source x type, deviation from the uniform target, and what lacked supply."""
    n = len(selected)
    uniform = config.size / N_DURATION_BINS
    per_bin = Counter(s.bins["videolen"] for s in selected)
    bins = list(range(N_DURATION_BINS))
    supply = quotas["bin_supply"]
    lacked = [b for b in bins if supply[b] < int(np.ceil(config.size / N_DURATION_BINS))]
    dev = {b: per_bin.get(b, 0) - uniform for b in bins}
    with_supply = [b for b in bins if b not in lacked]
    cube: dict[str, dict[str, dict[str, int]]] = {}
    for s in selected:
        cell = cube.setdefault(str(s.bins["videolen"]), {}).setdefault(s.source, {})
        cell[QTYPES[s.qtype]] = cell.get(QTYPES[s.qtype], 0) + 1
    types = Counter(s.qtype for s in selected)
    minimum = quotas["min_per_type"]
    type_short = {t: {"selected": types.get(t, 0), "supply": quotas["type_supply"][t]}
                  for t in QTYPE_NAMES if types.get(t, 0) < minimum}
    return {
        "size": n,
        "candidates": candidates,
        "eligible": int(sum(supply)),
        "excluded": dict(sorted(excluded.items())),
        "duration_bins": {
            "uniform_target": uniform,
            "quota": dict(zip(map(str, bins), quotas["bin_quota"])),
            "selected": {str(b): per_bin.get(b, 0) for b in bins},
            "supply": dict(zip(map(str, bins), supply)),
            "lacked_supply": lacked,
            "max_abs_deviation": float(max(abs(v) for v in dev.values())) if n else 0.0,
            "max_abs_deviation_bins_with_supply": float(max((abs(dev[b]) for b in with_supply), default=0.0)),
            # against the per-bin quota (uniform, plus any redistributed shortfall): at most 1 by construction
            "max_abs_deviation_from_quota": int(max((abs(per_bin.get(b, 0) - q) for b, q in enumerate(quotas["bin_quota"])),
                                                    default=0)),
            "shortfall_redistributed": config.redistribute,
        },
        "sources": dict(sorted(Counter(s.source for s in selected).items())),
        "bin_source": {str(b): {src: int(q) for src, q in zip(quotas["sources"], row) if q}
                       for b, row in enumerate(quotas["cell_quota"])},
        "qtypes": {t: types.get(t, 0) for t in QTYPE_NAMES},
        "min_per_type": minimum,
        # only when scaled down (the stocked types times --min-per-type exceed --size): what was asked
        **({"min_per_type_requested": config.min_per_type} if minimum != config.min_per_type else {}),
        "qtypes_below_minimum": type_short,
        "qcenter": {str(d): c for d, c in sorted(Counter(s.bins["qcenter"] for s in selected).items())},
        "bin_source_qtype": {b: {src: dict(sorted(t.items())) for src, t in sorted(v.items())}
                             for b, v in sorted(cube.items(), key=lambda kv: int(kv[0]))},
    }


def assign_qtypes(samples: list[Sample], mask: np.ndarray | None = None, *, reclassify: bool = False,
                  progress: bool = False) -> Counter:
    """Give the samples in ``mask`` a query type; released labels are kept unless ``reclassify``.

    Returns how many types were released with the data and how many were predicted (by model version).
    """
    where = range(len(samples)) if mask is None else np.flatnonzero(mask).tolist()
    todo = [i for i in where if reclassify or samples[i].qtype not in QTYPES]
    origin = Counter(released=len(where) - len(todo))
    if todo:
        chunk = 20_000
        bar = None
        if progress and len(todo) >= 5000:  # a bar only where the wait is noticeable
            from tqdm import tqdm

            bar = tqdm(total=len(todo), desc="classifying query types", unit="query", leave=False)
        for k in range(0, len(todo), chunk):
            part = todo[k:k + chunk]
            labels = qt.classify([samples[i].query for i in part], [samples[i].source for i in part])
            for i, lab in zip(part, labels):
                samples[i].qtype = lab
                samples[i].meta = {**samples[i].meta, "qtype_by": qt.MODEL_VERSION}  # predicted, not released
            if bar:
                bar.update(len(part))
        if bar:
            bar.close()
        origin[qt.MODEL_VERSION] = len(todo)
    return origin


def build_balanced(candidates: list[Sample], config: BuildConfig, *, classify: bool = True,
                   reclassify: bool = False, progress: bool = False) -> BuildResult:
    """Select ``config.size`` balanced queries from the candidates (see the module docstring).

    Candidates without a query type are classified first (only those that survive the other filters);
    with ``classify=False`` they are excluded instead.
    """
    if config.size < 1:
        raise Timer1Error("--size must be at least 1")
    if config.min_per_type < 0:
        raise Timer1Error("--min-per-type must be >= 0")
    if not candidates:
        raise Timer1Error("no candidate queries: every source was empty or rejected")
    keep, excluded = eligibility(candidates, config)
    seen: set[str] = set()
    for i, s in enumerate(candidates):  # the same record from two inputs (e.g. a file given twice) counts once
        if s.qid in seen:
            if keep[i]:
                excluded[EXCLUDE_DUPLICATE] += 1
            keep[i] = False
        seen.add(s.qid)
    origin = Counter()
    if classify:
        origin = assign_qtypes(candidates, keep, reclassify=reclassify, progress=progress)
    untyped = keep & np.array([s.qtype not in QTYPES for s in candidates], dtype=bool)
    if untyped.any():
        excluded[EXCLUDE_NO_QTYPE] = int(untyped.sum())
        keep &= ~untyped
    chosen, quotas = select_balanced(candidates, keep, config)
    selected = sorted((candidates[i] for i in chosen), key=lambda s: (s.bins["videolen"], s.source, s.qid))
    report = balance_report(selected, quotas, config, len(candidates), excluded)
    report["qtype_origin"] = dict(origin)
    return BuildResult(selected, report, config, excluded)


def with_source(samples: list[Sample], name: str) -> list[Sample]:
    """Samples renamed to source ``name`` (their qids follow, since a qid hashes the source)."""
    out = []
    for s in samples:
        if s.source == name:
            out.append(s)
            continue
        meta = dict(s.meta)
        meta.setdefault("original_source", s.source)
        out.append(replace(s, source=name, qid="", meta=meta))
    return out


def format_balance(report: dict[str, Any]) -> list[str]:
    """The balance report as plain text lines (what the CLI prints)."""
    db = report["duration_bins"]
    lines = [f"selected {report['size']} of {report['eligible']} eligible candidates ({report['candidates']} read)"]
    if report["excluded"]:
        lines.append("excluded: " + ", ".join(f"{k} {v}" for k, v in report["excluded"].items()))
    lines.append(f"duration bins (20 s; uniform target {db['uniform_target']:.2f}):")
    srcs = sorted(report["sources"])
    lines.append("  bin  " + "".join(f"{s[:10]:>11}" for s in srcs) + "   total  supply")
    for b in map(str, range(N_DURATION_BINS)):
        row = report["bin_source"].get(b, {})
        lines.append(f"  {int(b) * 20:>3}s" + "".join(f"{row.get(s, 0):>11}" for s in srcs)
                     + f"{db['selected'][b]:>8}{db['supply'][b]:>8}")
    lines.append(f"largest deviation from uniform: {db['max_abs_deviation']:.2f} "
                 f"(bins with enough supply: {db['max_abs_deviation_bins_with_supply']:.2f})")
    lines.append("bins that lacked supply: " + (", ".join(map(str, db["lacked_supply"])) or "none")
                 + ("" if not db["lacked_supply"] else
                    "; their shortfall was spread over the other bins" if db["shortfall_redistributed"] else
                    "; the split is smaller than --size instead (--no-redistribute)"))
    lines.append("query types: " + ", ".join(f"{QTYPES[t]} {n}" for t, n in report["qtypes"].items()))
    short = report["qtypes_below_minimum"]
    if "min_per_type_requested" in report:
        lines.append(f"--min-per-type {report['min_per_type_requested']} for every stocked type exceeds "
                     f"--size {report['size']}: scaled down to {report['min_per_type']} per type")
    lines.append(f"types below the minimum of {report['min_per_type']}: "
                 + (", ".join(f"{QTYPES[t]} {v['selected']} (supply {v['supply']})" for t, v in short.items())
                    or "none"))
    lines.append("query-centre deciles: " + " ".join(f"{d}:{c}" for d, c in report["qcenter"].items()))
    return lines


# ---- sources given on the command line -------------------------------------------------------------

SPLIT_FORMAT = "split"  # a canonical split folder written by timer1


@dataclass
class SourceSpec:
    name: str | None  # None: keep each record's own source
    path: str
    fmt: str | None  # None: infer from the file


def parse_source_spec(spec: str) -> SourceSpec:
    """``NAME=PATH[:FORMAT]`` or ``PATH[:FORMAT]``; a ``:`` is a format only if the text after it names one."""
    name = None
    rest = spec
    head, eq, tail = spec.partition("=")
    if eq and head and "/" not in head and ":" not in head:
        name, rest = head.strip(), tail
    if not rest:
        raise Timer1Error(f"--source {spec!r}: expected NAME=PATH[:FORMAT]")
    path, fmt = rest, None
    before, colon, after = rest.rpartition(":")
    if colon and after and "/" not in after and not Path(rest).exists():
        if after not in FORMATS + (SPLIT_FORMAT,):
            raise Timer1Error(f"--source {spec!r}: unknown source format {after!r}; "
                              f"choose one of {', '.join(FORMATS + (SPLIT_FORMAT,))}")
        path, fmt = before, after
    return SourceSpec(name=name, path=path, fmt=fmt)


# formats whose layout alone names them (their keys differ from Charades-STA's); the older ones keep the name hints
LAYOUT_NAMED = ("charades-cd", "timelens", "ego4d-nlq", "qvhighlights")


def _layout_only_format(path: Path) -> str | None:
    try:
        found = detect_format(path, FORMATS)
    except Timer1Error:
        return None
    return found if found in LAYOUT_NAMED else None


def infer_format(path, name: str | None) -> str:
    """Guess a source file's format from its name and first bytes."""
    p = Path(path)
    if not p.exists():
        raise Timer1Error(f"source file not found: {p}")
    if p.is_dir():
        if any((p / "data").glob("*.parquet")):
            return SPLIT_FORMAT
        raise Timer1Error(f"{p} is a folder without data/*.parquet; give a file or a timer1 split folder")
    if p.suffix == ".txt":
        return "charades-sta-txt"
    shaped = _layout_only_format(p)
    if shaped:
        return shaped
    with open(p, "rb") as f:
        head = f.read(8192).decode("utf-8", errors="replace")
    first = head.lstrip()[:1]
    if first == "[":
        if re.search(r'"answer"\s*:', head) and re.search(r'"path"\s*:', head):
            return "timer1-tvgbench"
        if re.search(r'"timestamp"\s*:', head):
            return "timer1-timerft"
    if first == "{":
        hint = f"{name or ''} {p}".lower()
        if "activitynet" in hint or "anet" in hint:
            return "activitynet"
        if "charades" in hint:
            return "charades-sta"
        if name:  # the {video: {duration, timestamps, sentences}} reader; the records take NAME as source
            return "charades-sta"
        raise Timer1Error(f"cannot tell which dataset {p} holds; write it as NAME=PATH or PATH:FORMAT")
    raise Timer1Error(f"cannot tell the format of {p}; write it as PATH:FORMAT")


@dataclass
class LoadedSource:
    spec: SourceSpec
    fmt: str
    samples: list[Sample]
    window_mode: str
    report: dict[str, Any]
    sha256: str | None


def _sha256(path) -> str | None:
    """The build record's digest of a source file; None for a source that is a folder."""
    return "sha256:" + sha256_file(path) if Path(path).is_file() else None


def load_source(spec: SourceSpec) -> LoadedSource:
    """Read and validate one source into canonical samples (renamed to ``spec.name`` when given)."""
    fmt = spec.fmt or infer_format(spec.path, spec.name)
    if fmt == SPLIT_FORMAT:
        split = load_split(spec.path)
        samples, mode = split.samples, split.window_mode
        report = {"kept": len(samples), "content_hash": split.content_hash}
        sha = None
    else:
        res = ingest(fmt, spec.path)
        samples, mode, report = res.samples, res.window_mode, res.report.to_dict()
        report.pop("notes", None)
        report.pop("examples", None)
        sha = _sha256(spec.path)
    if spec.name:
        samples = with_source(samples, spec.name)
    return LoadedSource(spec, fmt, samples, mode, report, sha)

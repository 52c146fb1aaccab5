"""``timer1 eval report``: a run (or two, side by side) as Markdown + PNG plots.

Per-item IoU is the canonical scorer's own join (:data:`tvgbench.core.join.REPORT`: numeric ``pred`` first,
reversed spans swapped, else the raw text through the canonical parser; missing and failed queries are
0), so the report's numbers are the ones in ``scores.json``. Intervals are percentile bootstraps over videos (a video's
queries are resampled together), as in :func:`tvgbench.core.scoring.bootstrap_ci`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from tvgbench.core.errors import Timer1Error
from tvgbench.core.join import REPORT, SCORED, STATUSES, join
from tvgbench.core.metrics import THRESHOLDS, hits, recall_at
from tvgbench.core.outdir import NOTHING_OWNED, Owned, owned_files, staged_output
from tvgbench.core.predictions import columns_from_records
from tvgbench.core.report import write_text_atomic
from tvgbench.core.schema import QTYPES
from tvgbench.core.scoring import MODES, bootstrap_ci, read_split_columns, score
from tvgbench.core.splits import read_split_table
from tvgbench.data.published import PublishedResult, published_results
from tvgbench.harness.jsonl import recover
from tvgbench.harness.runner import PREDICTIONS, RUN_JSON, SCORES

METRICS = ("R1@0.3", "R1@0.5", "R1@0.7", "mIoU")


@dataclass
class RunView:
    name: str
    path: Path
    run: dict
    scores: dict
    qid: list
    video: list
    qtype: list
    gt: np.ndarray  # (N, 2)
    duration: np.ndarray
    pred: np.ndarray  # (N, 2), NaN where none
    status: list  # "parsed" | "unparsed" | "missing" | "error:<reason>"
    iou: np.ndarray


# the join's statuses as the report names them; a line with an error is "error:<reason>"
_STATUS_WORDS = {"scored": "parsed", "unparseable": "unparsed", "missing": "missing"}


def load_run(run_dir, bootstrap: int = 1000) -> RunView:
    d = Path(run_dir)
    try:
        run = json.loads((d / RUN_JSON).read_text())
    except FileNotFoundError:
        raise Timer1Error(f"{d} is not a run folder (no {RUN_JSON})") from None
    settings = run.get("settings", {})
    split_dir = Path(settings.get("split", ""))
    subset = d / "scored_subset"
    if subset.exists():
        split_dir = subset
    if not split_dir.exists():
        raise Timer1Error(f"the run's split {split_dir} is not there any more; cannot report")
    if (d / SCORES).exists():
        scores = json.loads((d / SCORES).read_text())
    else:
        scores = score(d / PREDICTIONS, split_dir, split_name=settings.get("split_name"), bootstrap=bootstrap)
    table = read_split_table(split_dir, settings.get("split_name"),
                             columns=["qid", "video", "qtype", "span", "duration"])
    qids = table.column("qid").to_pylist()
    gt = np.array(table.column("span").to_pylist(), dtype=np.float64).reshape(-1, 2)
    duration = np.asarray(table.column("duration").to_pylist(), dtype=np.float64)
    records = recover(d / PREDICTIONS, truncate=False)  # a torn last line (a run still going) is left out
    joined = join(columns_from_records(records), read_split_columns(split_dir, settings.get("split_name")), REPORT)
    status = [_STATUS_WORDS[STATUSES[c]] for c in joined.status]
    failed = np.zeros(len(qids), dtype=bool)
    for q in np.flatnonzero(joined.line >= 0):
        error = records[joined.line[q]].get("error")
        if error:
            status[q] = f"error:{error.get('reason', 'error')}"
            failed[q] = True
    ok = (joined.status == SCORED) & ~failed
    pred = np.where(ok[:, None], np.stack([joined.start, joined.end], 1), np.nan)
    iou = np.where(ok, joined.iou, 0.0)
    name = d.name if d.name not in ("", ".") else str(d)
    return RunView(name, d, run, scores, qids, table.column("video").to_pylist(),
                   [q or "(none)" for q in table.column("qtype").to_pylist()], gt, duration, pred, status, iou)


def _metrics(iou: np.ndarray) -> dict[str, float]:
    out = {f"R1@{t}": recall_at(iou, t) for t in THRESHOLDS}
    out["mIoU"] = float(iou.mean() * 100) if len(iou) else 0.0
    return out


def group_table(view: RunView, bootstrap: int) -> dict[str, dict]:
    """Per query type: n, headline metrics and their 95% intervals."""
    out = {}
    qtypes = np.asarray(view.qtype, dtype=object)
    videos = np.asarray(view.video, dtype=object)
    for q in sorted(set(view.qtype)):
        m = qtypes == q
        sub = view.iou[m]
        ci = bootstrap_ci(sub, pa.array(list(videos[m]), pa.string()), strict=False, samples=bootstrap, seed=0)
        out[q] = {"n": int(m.sum()), **_metrics(sub), "ci95": ci}
    return out


def paired_difference(a: RunView, b: RunView, bootstrap: int, seed: int = 0) -> dict:
    """B − A on the queries both runs cover, with a video-level paired bootstrap interval."""
    common = sorted(set(a.qid) & set(b.qid))
    ia = {q: i for i, q in enumerate(a.qid)}
    ib = {q: i for i, q in enumerate(b.qid)}
    xa = np.array([a.iou[ia[q]] for q in common])
    xb = np.array([b.iou[ib[q]] for q in common])
    vids = [a.video[ia[q]] for q in common]
    if not common:
        return {"n": 0}
    _, codes = np.unique(np.asarray(vids, dtype=object).astype(str), return_inverse=True)
    n_units = int(codes.max()) + 1
    cols = {"mIoU": (xb - xa) * 100, "R1@0.5": (hits(xb, 0.5).astype(float) - hits(xa, 0.5)) * 100}
    rng = np.random.default_rng(seed)
    counts = np.bincount(codes, minlength=n_units).astype(float)
    out = {"n": len(common)}
    for name, col in cols.items():
        sums = np.bincount(codes, weights=col, minlength=n_units)
        w = rng.multinomial(n_units, np.full(n_units, 1 / n_units), size=max(bootstrap, 1)).astype(float)
        stats = (w @ sums) / np.maximum(w @ counts, 1)
        out[name] = {"delta": float(col.mean()), "ci95": [float(np.percentile(stats, 2.5)), float(np.percentile(stats, 97.5))]}
    return out


# -- plots ------------------------------------------------------------------------------------------

def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)


def plot_qtype_bars(views: list[RunView], groups: list[dict], path: Path, metric: str = "R1@0.5") -> None:
    import matplotlib.pyplot as plt

    names = sorted(set().union(*[g.keys() for g in groups]))
    x = np.arange(len(names))
    width = 0.8 / len(views)
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(names) * len(views) + 2), 4))
    for k, (view, g) in enumerate(zip(views, groups)):
        vals = np.array([g.get(n, {}).get(metric, np.nan) for n in names])
        lo = np.array([g.get(n, {}).get("ci95", {}).get(metric, [np.nan, np.nan])[0] for n in names])
        hi = np.array([g.get(n, {}).get("ci95", {}).get(metric, [np.nan, np.nan])[1] for n in names])
        err = np.vstack([np.clip(vals - lo, 0, None), np.clip(hi - vals, 0, None)])
        ax.bar(x + k * width - 0.4 + width / 2, vals, width, yerr=np.nan_to_num(err), capsize=3, label=view.name)
    ax.set_xticks(x, [_abbrev(n) for n in names], rotation=45, ha="right")
    ax.set_ylabel(f"{metric} (%) with 95% CI")
    ax.set_ylim(0, 100)
    ax.set_title(f"{metric} by query type")
    if len(views) > 1:
        ax.legend()
    _save(fig, path)


def _abbrev(qtype: str) -> str:
    return QTYPES.get(qtype, qtype)


def plot_iou_hist(views: list[RunView], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    bins = np.linspace(0, 1, 21)
    for v in views:
        ax.hist(v.iou, bins=bins, alpha=0.6 if len(views) > 1 else 0.9, label=v.name)
    ax.set_xlabel("IoU")
    ax.set_ylabel("queries")
    ax.set_title("IoU distribution (misses at 0)")
    if len(views) > 1:
        ax.legend()
    _save(fig, path)


def plot_scatter(views: list[RunView], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 4))
    for v in views:
        ok = np.isfinite(v.pred).all(1)
        dur = np.where(v.duration > 0, v.duration, 1.0)
        tc = v.gt.mean(1) / dur
        tl = (v.gt[:, 1] - v.gt[:, 0]) / dur
        pc = v.pred.mean(1) / dur
        pl = (v.pred[:, 1] - v.pred[:, 0]) / dur
        a1.scatter(tc[ok], pc[ok], s=10, alpha=0.6, label=f"{v.name} ({ok.sum()} parsed)")
        a2.scatter(tl[ok], pl[ok], s=10, alpha=0.6, label=v.name)
    for ax, what in ((a1, "centre"), (a2, "length")):
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, max(1.0, ax.get_ylim()[1]))
        ax.set_xlabel(f"true {what} / duration")
        ax.set_ylabel(f"predicted {what} / duration")
    a1.legend(fontsize=8)
    fig.suptitle("predicted vs true span (parsed predictions)")
    _save(fig, path)


def status_counts(view: RunView) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in view.status:
        out[s] = out.get(s, 0) + 1
    return out


def plot_parse(views: list[RunView], path: Path) -> None:
    import matplotlib.pyplot as plt

    kinds = sorted(set().union(*[status_counts(v).keys() for v in views]), key=lambda k: (k != "parsed", k))
    fig, ax = plt.subplots(figsize=(6, 1.2 + 0.5 * len(views)))
    for row, v in enumerate(views):
        counts = status_counts(v)
        left = 0.0
        for k in kinds:
            frac = counts.get(k, 0) / max(1, len(v.status)) * 100
            ax.barh(row, frac, left=left, label=k if row == 0 else None,
                    color={"parsed": "tab:green", "unparsed": "tab:orange", "missing": "tab:grey"}.get(k, "tab:red"))
            left += frac
    ax.set_yticks(range(len(views)), [v.name for v in views])
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of queries")
    ax.set_title("parsed / unparseable / missing / failed")
    ax.legend(fontsize=8, ncol=min(4, len(kinds)), loc="upper center", bbox_to_anchor=(0.5, -0.45))
    _save(fig, path)


# -- markdown ---------------------------------------------------------------------------------------

def _fmt(v: float, ci=None) -> str:
    return f"{v:.2f}" + (f" [{ci[0]:.1f}, {ci[1]:.1f}]" if ci else "")


def _settings_lines(view: RunView) -> list[str]:
    s = view.run.get("settings", {})
    b = view.run.get("backend", {})
    p = s.get("prompt", {})
    g = s.get("generation", {})
    smp = s.get("sampling", {})
    lib = view.run.get("libraries", {})
    return [
        f"| model | `{s.get('model')}` (weights {str(b.get('weights_sha256'))[:19]}) |",
        f"| backend | {b.get('backend')} ({b.get('device', '')} {b.get('dtype', '')}) |",
        f"| prompt | {p.get('name')} (sha256 {str(p.get('sha256'))[:12]}), layout {p.get('layout')}, parser {s.get('parser')} |",
        f"| generation | {'greedy' if g.get('greedy') else 'T=' + str(g.get('temperature'))}, max_new_tokens {g.get('max_new_tokens')} |",
        f"| video | fps {smp.get('fps')}, frames [{smp.get('min_frames')}, {smp.get('max_frames')}], "
        f"pixels min {smp.get('min_pixels')} / max {smp.get('max_pixels')} / total {smp.get('total_pixels')}, decoder {smp.get('decoder')} |",
        f"| split | `{s.get('split')}` ({s.get('split_content_hash', '')[:19]}) |",
        f"| versions | timer1 {view.run.get('project_version')}, torch {lib.get('torch')}, transformers {lib.get('transformers')}, vllm {lib.get('vllm')} |",
        f"| status | {view.run.get('status')} |",
    ]


PUBLISHED_METRICS = ("R1@0.3", "R1@0.5", "R1@0.7", "mIoU", "mAP")


def run_split(view: RunView) -> tuple[Path, str | None]:
    """The split a run was scored on (its scored subset when it has one) and the split's name."""
    settings = view.run.get("settings", {})
    subset = view.path / "scored_subset"
    return (subset if subset.exists() else Path(settings.get("split", ""))), settings.get("split_name")


def scores_by_convention(view: RunView, conventions) -> dict[str, dict | None]:
    """The run's predictions scored in each convention (None where this timer1 has no such mode)."""
    split_dir, split_name = run_split(view)
    return {c: score(view.path / PREDICTIONS, split_dir, mode=c, split_name=split_name, bootstrap=0)["metrics"]
            if c in MODES else None for c in dict.fromkeys(conventions)}


def _cells(metrics: dict | None) -> list[str]:
    return ["–" if metrics is None or m not in metrics else f"{metrics[m]:.2f}" for m in PUBLISHED_METRICS]


def published_lines(view: RunView, benchmark: str) -> list[str]:
    """A Markdown table: the benchmark's published rows, each followed by this run in that row's convention."""
    rows: list[PublishedResult] = published_results(benchmark)
    ours = scores_by_convention(view, [r.convention for r in rows])
    smp, p = view.run.get("settings", {}).get("sampling", {}), view.run.get("settings", {}).get("prompt", {})
    mine = f"fps {smp.get('fps')}, total_pixels {smp.get('total_pixels')}, prompt {p.get('name')}"
    lines = [f"## Beside published results: {benchmark}", "",
             "Each published row, then this run scored in that row's convention (`eval score --compat`). "
             "Settings differ where the columns say so; numbers are comparable only where they agree.", "",
             "| model | setting | convention | " + " | ".join(PUBLISHED_METRICS) + " | fps | pixels | prompt | source |",
             "|---" * (8 + len(PUBLISHED_METRICS)) + "|"]
    shown = set()
    for r in rows:
        lines.append(f"| {r.model} | {r.setting} | {r.convention} | " + " | ".join(_cells(r.metrics))
                     + f" | {r.fps if r.fps is not None else '–'} | {r.pixels or '–'} | {r.prompt or '–'} | {r.source} |")
        if r.convention not in shown:
            shown.add(r.convention)
            note = "" if ours[r.convention] is not None else " (this timer1 has no such mode)"
            lines.append(f"| **{view.name}** (this run) | – | {r.convention}{note} | " + " | ".join(_cells(ours[r.convention]))
                         + f" | {smp.get('fps')} | {mine} | {p.get('name')} | run.json |")
    return lines + [""]


REPORT_MD = "report.md"
REPORT_TITLE = "# timer1 evaluation report: "
REPORT_PNGS = ("qtype_r1_0.5.png", "qtype_miou.png", "iou_hist.png", "centre_length_scatter.png", "parse_status.png")


def report_owned(target: Path) -> Owned:
    """An earlier report in ``target`` (its report.md starts with the title this module writes): its files."""
    try:
        with open(target / REPORT_MD, encoding="utf-8") as f:
            ours = f.read(len(REPORT_TITLE)) == REPORT_TITLE
    except (OSError, UnicodeDecodeError):
        ours = False
    return Owned(files=owned_files(target, (REPORT_MD, *REPORT_PNGS))) if ours else NOTHING_OWNED


def write_report(run_dir, out_dir=None, *, other=None, bootstrap: int = 1000, overwrite: bool = False,
                 vs_published: str | None = None) -> Path:
    """Write ``report.md`` and its PNGs (staged: a folder holding other files is refused); returns the Markdown path.

    ``vs_published``: a benchmark of :mod:`tvgbench.data.published` whose rows the run is put beside.
    """
    if vs_published is not None:
        published_results(vs_published)  # an unknown benchmark fails before anything is written
    import matplotlib

    matplotlib.use("Agg")
    views = [load_run(run_dir, bootstrap)]
    if other is not None:
        views.append(load_run(other, bootstrap))
        if views[1].name == views[0].name:
            views[1].name += " (B)"
    target = Path(out_dir) if out_dir else Path(run_dir) / "report"
    with staged_output(target, overwrite=overwrite, command="eval report", owned=report_owned) as out:
        path = _render_report(views, out, bootstrap)
        if vs_published is not None:
            text = path.read_text(encoding="utf-8")
            write_text_atomic(path, text + "\n".join(published_lines(views[0], vs_published)) + "\n")
    return target / REPORT_MD


def _render_report(views: list, out: Path, bootstrap: int) -> Path:
    groups = [group_table(v, bootstrap) for v in views]
    plot_qtype_bars(views, groups, out / "qtype_r1_0.5.png", "R1@0.5")
    plot_qtype_bars(views, groups, out / "qtype_miou.png", "mIoU")
    plot_iou_hist(views, out / "iou_hist.png")
    plot_scatter(views, out / "centre_length_scatter.png")
    plot_parse(views, out / "parse_status.png")

    lines = [REPORT_TITLE + " vs ".join(v.name for v in views), ""]
    lines += ["## Headline (canonical scorer: IoU ≥ θ, every split query counted)", ""]
    header = "| metric | " + " | ".join(v.name for v in views) + (" | Δ (B − A) [95% CI, paired by video] |" if len(views) > 1 else " |")
    lines += [header, "|---" * (len(views) + 1 + (len(views) > 1)) + "|"]
    diff = paired_difference(views[0], views[1], bootstrap) if len(views) > 1 else None
    for m in METRICS:
        row = f"| {m} | " + " | ".join(_fmt(v.scores["metrics"][m], v.scores.get("ci95", {}).get(m)) for v in views)
        if diff is not None:
            d = diff.get(m)
            row += " | " + (f"{d['delta']:+.2f} [{d['ci95'][0]:+.1f}, {d['ci95'][1]:+.1f}]" if d else
                            f"{views[1].scores['metrics'][m] - views[0].scores['metrics'][m]:+.2f}")
        lines.append(row + " |")
    if diff is not None:
        lines += ["", f"Paired on {diff['n']} queries present in both splits."]
    lines += ["", "## Coverage and parsing", ""]
    for v in views:
        c = status_counts(v)
        total = len(v.status)
        parts = ", ".join(f"{k} {n} ({n / total * 100:.1f}%)" for k, n in sorted(c.items(), key=lambda kv: (kv[0] != "parsed", kv[0])))
        lines.append(f"- **{v.name}**: {total} queries: {parts}")
    lines += ["", "![parse status](parse_status.png)", ""]
    lines += ["## By query type (R1@0.5 and mIoU, 95% CI over videos)", ""]
    names = sorted(set().union(*[g.keys() for g in groups]))
    lines.append("| query type | " + " | ".join(f"n | R1@0.5 ({v.name}) | mIoU ({v.name})" for v in views) + " |")
    lines.append("|---" * (1 + 3 * len(views)) + "|")
    for n in names:
        cells = []
        for g in groups:
            r = g.get(n)
            if r is None:
                cells += ["0", "–", "–"]
            else:
                cells += [str(r["n"]), _fmt(r["R1@0.5"], r["ci95"].get("R1@0.5")), _fmt(r["mIoU"], r["ci95"].get("mIoU"))]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    lines += ["", "![R1@0.5 by query type](qtype_r1_0.5.png)", "", "![mIoU by query type](qtype_miou.png)", ""]
    lines += ["## IoU distribution and span geometry", "", "![IoU histogram](iou_hist.png)", "",
              "![centre and length](centre_length_scatter.png)", ""]
    for key in ("source", "videolen"):
        lines += [f"## By {key}", "", "| " + key + " | " + " | ".join(f"n | R1@0.5 | mIoU ({v.name})" for v in views) + " |",
                  "|---" * (1 + 3 * len(views)) + "|"]
        keys = sorted(set().union(*[v.scores.get("breakdowns", {}).get(key, {}).keys() for v in views]),
                      key=lambda s: (not s.lstrip("-").isdigit(), int(s) if s.lstrip("-").isdigit() else 0, s))
        for k in keys:
            cells = []
            for v in views:
                r = v.scores.get("breakdowns", {}).get(key, {}).get(k)
                cells += ["0", "–", "–"] if r is None else [str(r["n"]), f"{r['R1@0.5']:.2f}", f"{r['mIoU']:.2f}"]
            label = f"{int(k) * 20}-{int(k) * 20 + 20} s" if key == "videolen" and k.isdigit() else k
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    for v in views:
        lines += [f"## Settings: {v.name}", "", "| setting | value |", "|---|---|", *_settings_lines(v), ""]

    return write_text_atomic(out / REPORT_MD, "\n".join(lines) + "\n")

"""Benchmark: `timer1 data build tvgbench` on ~70K real candidates (Charades-STA + ActivityNet, train + test).

Times each stage, best of N, in one run, beside a reference measured in the same run (``json.load`` of
the same four files: the least any builder must do to read its inputs):
  * ingest    - validate the four files into canonical samples (tvgbench.data.sources)
  * classify  - query types for the candidates that survive the filters (shipped qtype model)
  * select    - the balanced selection (bins, sources, type minimums, deciles) and its report
  * write     - parquet + sidecar + full card with balance plots
  * cli       - `timer1 data build tvgbench` end to end in a fresh process (imports included)
Goal (issue #3): build <= 3 s for ~70K candidates.

    python bench/bench_build.py [--data ../shared/data] [--size 800] [--repeat 3] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FILES = (("charades", "charades-sta/train.json"), ("charades", "charades-sta/test.json"),
         ("activitynet", "activitynet/train.json"), ("activitynet", "activitynet/val_2.json"))


def best_of(repeat, fn):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--size", type=int, default=800)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", dest="json_out", default=None)
    args = ap.parse_args()


    from tvgbench.data.build import BuildConfig, assign_qtypes, build_balanced, eligibility, load_source, parse_source_spec
    from tvgbench.data.cards import write_build_card
    from tvgbench.core.splits import write_split

    paths = [(name, Path(args.data) / rel) for name, rel in FILES]
    missing = [str(p) for _, p in paths if not p.exists()]
    if missing:
        sys.exit(f"missing data files: {', '.join(missing)}")
    specs = [parse_source_spec(f"{name}={p}") for name, p in paths]

    t_ref, _ = best_of(args.repeat, lambda: [json.loads(p.read_bytes()) for _, p in paths])
    t_ingest, loaded = best_of(args.repeat, lambda: [load_source(s) for s in specs])
    candidates = [s for ls in loaded for s in ls.samples]
    config = BuildConfig(size=args.size, seed=0)

    def classify():
        for s in candidates:
            s.qtype = None
        keep, _ = eligibility(candidates, config)
        assign_qtypes(candidates, keep)
        return int(keep.sum())

    t_classify, n_classified = best_of(args.repeat, classify)
    t_select, result = best_of(args.repeat, lambda: build_balanced(candidates, config, classify=False))

    def write():
        with tempfile.TemporaryDirectory() as d:
            write_split(result.samples, d, "test", build={"seed": 0}, report={"balance": result.report})
            write_build_card(d, kind="tvgbench")

    t_write, _ = best_of(args.repeat, write)
    total = t_ingest + t_classify + t_select + t_write

    import subprocess

    def cli():  # the command end to end: process start, imports, every stage, card and plots
        with tempfile.TemporaryDirectory() as d:
            cmd = [str(Path(sys.executable).parent / "timer1"), "data", "build", "tvgbench",
                   *(x for name, p in paths for x in ("--source", f"{name}={p}")), "--size", str(args.size),
                   "--seed", "0", "-o", d]
            subprocess.run(cmd, check=True, capture_output=True)

    t_cli, _ = best_of(args.repeat, cli)
    db = result.report["duration_bins"]
    out = {
        "load_average_1m_at_end": round(__import__("os").getloadavg()[0], 2), "cpus": __import__("os").cpu_count(),
        "candidates": len(candidates), "classified": n_classified, "size": args.size, "repeat": args.repeat,
        "seconds": {"reference_json_load": round(t_ref, 3), "ingest": round(t_ingest, 3),
                    "classify": round(t_classify, 3), "select": round(t_select, 3), "write_with_card": round(t_write, 3),
                    "build_total": round(total, 3), "cli_end_to_end": round(t_cli, 3)},
        "ratio_to_reference": {"build_total": round(total / t_ref, 2), "select": round(t_select / t_ref, 2)},
        "goal_build_total_le_3s": total <= 3.0,
        "goal_cli_end_to_end_le_3s": t_cli <= 3.0,
        "balance": {"per_bin": db["selected"], "max_abs_deviation": db["max_abs_deviation"],
                    "lacked_supply": db["lacked_supply"], "qtypes": result.report["qtypes"]},
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.json_out:
        Path(args.json_out).write_text(text + "\n")


if __name__ == "__main__":
    main()

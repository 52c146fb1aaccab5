"""Benchmark: the query-type classifier, 5-fold held out on the 800 labelled TVGBench queries.

In one run, on the same stratified folds (seeds 0, 1, 2): timer1's classifier, the plain TF-IDF +
logistic-regression baseline with a source token (the ~0.72 / 0.63 reference of issue #3), the same
without the source token, and the majority class. Prints accuracy, macro-F1, per-class F1 and the
confusion matrix (seed 0), then prediction throughput of the shipped model vs the baseline pipeline.
Goal: >= 0.75 accuracy and >= 0.65 macro-F1, ahead of the baseline.

    python bench/bench_qtype.py [--labels ../shared/data/timer1/tvgbench.json] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labels", default=str(REPO.parent / "shared" / "data" / "timer1" / "tvgbench.json"))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--json", dest="json_out", default=None)
    args = ap.parse_args()

    import numpy as np

    from tvgbench.data.qtype import (
        baseline_pipeline, baseline_text, cross_validate, default_model, labelled_queries,
    )
    from tvgbench.core.schema import QTYPES
    from tvgbench.data.sources import ingest

    q, s, y = labelled_queries(ingest("timer1-tvgbench", args.labels).samples)
    runs = [cross_validate(q, s, y, folds=5, seed=int(seed)) for seed in args.seeds.split(",")]
    summary = {}
    for name in runs[0]["models"]:
        acc = [r["models"][name]["accuracy"] for r in runs]
        f1 = [r["models"][name]["macro_f1"] for r in runs]
        summary[name] = {"accuracy": [round(a, 4) for a in acc], "macro_f1": [round(f, 4) for f in f1],
                         "accuracy_mean": round(float(np.mean(acc)), 4), "macro_f1_mean": round(float(np.mean(f1)), 4)}
    first = runs[0]
    print(f"{len(q)} labelled queries, 5-fold, seeds {args.seeds}; majority class {first['majority_class_accuracy']:.3f}")
    for name, v in summary.items():
        print(f"  {name:16s} accuracy {v['accuracy_mean']:.3f} {v['accuracy']}  macro-F1 {v['macro_f1_mean']:.3f} {v['macro_f1']}")
    abbrev = [QTYPES[c] for c in first["classes"]]
    print("confusion matrix of timer1 (seed 0; rows = truth, columns = predicted):")
    print("      " + "".join(f"{a:>5}" for a in abbrev))
    for a, row in zip(abbrev, first["models"]["timer1"]["confusion"]):
        print(f"  {a:>4}" + "".join(f"{v:>5}" for v in row))
    print("per-class F1 (seed 0): " + ", ".join(
        f"{QTYPES[c]} {first['models']['timer1']['per_class_f1'][c]:.2f}" for c in first["classes"]))

    big_q, big_s = q * 25, s * 25  # 20K queries
    model = default_model()
    t = time.perf_counter()
    model.decision(big_q, big_s)
    t_ours = time.perf_counter() - t
    base = baseline_pipeline(True).fit(baseline_text(q, s), y)
    t = time.perf_counter()
    base.predict(baseline_text(big_q, big_s))
    t_base = time.perf_counter() - t
    print(f"throughput on {len(big_q)} queries: timer1 {len(big_q) / t_ours:,.0f}/s, baseline {len(big_q) / t_base:,.0f}/s "
          f"(ratio {t_ours / t_base:.2f})")
    out = {"n": len(q), "seeds": args.seeds, "majority_class_accuracy": first["majority_class_accuracy"],
           "models": summary, "confusion_seed0": {"classes": first["classes"], "timer1": first["models"]["timer1"]["confusion"]},
           "throughput_per_s": {"timer1": len(big_q) / t_ours, "baseline": len(big_q) / t_base}}
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()

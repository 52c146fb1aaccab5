"""Leaderboard cost against its reference, measured in the same run.

Reference: `timer1 eval score`'s path (core reader + canonical scorer) on the same file. Measured:
strict validation alone, and the full submit (validate + canonical + compat scoring + one SQLite
transaction + rank). Prints JSON with seconds per call and the ratios to the reference.

    .venv/bin/python bench/leaderboard_bench.py [--split SPLIT_DIR] [--repeat 20]

Without --split it ingests ../shared/data/timer1/tvgbench.json (800 queries) into a temp folder.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path


def best_of(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default=None)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--bootstrap", type=int, default=1000)
    args = ap.parse_args()

    from leaderboard.service import submit
    from leaderboard.store import open_store
    from leaderboard.validate import SplitIndex, validate_bytes
    from tvgbench.core.scoring import score

    work = Path(tempfile.mkdtemp(prefix="timer1-lb-bench-"))
    split_dir = args.split
    if split_dir is None:
        from tvgbench.data.sources import ingest
        from tvgbench.core.splits import write_split

        src = Path(__file__).resolve().parents[2] / "shared" / "data" / "timer1" / "tvgbench.json"
        res = ingest("timer1-tvgbench", src)
        split_dir = work / "split"
        write_split(res.samples, split_dir, "test", window_mode=res.window_mode)
    idx = SplitIndex.from_dir(split_dir)
    rng = random.Random(0)
    lines = [json.dumps({"qid": q, "pred": [rng.uniform(0, 20), rng.uniform(20, 60)],
                         "output_text": "<answer>... </answer>"}) for q in idx.qids]
    data = ("\n".join(lines) + "\n").encode()
    pred_path = work / "preds.jsonl"
    pred_path.write_bytes(data)

    ref = best_of(lambda: score(pred_path, split_dir, bootstrap=args.bootstrap), args.repeat)
    val = best_of(lambda: validate_bytes(data, idx), args.repeat)
    store = open_store(work / "lb.sqlite3")
    counter = iter(range(10**9))

    def one_submit():
        i = next(counter)  # trailing blanks make a distinct file each time, so every call stores a row
        submit(store, data + b" " * (i + 1), split_dir, model_name=f"m{i}", bootstrap=args.bootstrap, split=idx)

    full = best_of(one_submit, args.repeat)
    out = {
        "queries": idx.n, "file_bytes": len(data), "repeat": args.repeat, "bootstrap": args.bootstrap,
        "reference_eval_score_s": {"min": round(ref[0], 4), "median": round(ref[1], 4)},
        "validate_s": {"min": round(val[0], 4), "median": round(val[1], 4)},
        "submit_s": {"min": round(full[0], 4), "median": round(full[1], 4)},
        "validate_over_reference": round(val[1] / ref[1], 3),
        "submit_over_reference": round(full[1] / ref[1], 3),
        "rows_stored": store.count(),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

"""``timer1 eval merge``: join shard runs (same settings, disjoint shards) into one scored run."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tvgbench.core.errors import Timer1Error
from tvgbench.core.outdir import foreign_files
from tvgbench.harness.jsonl import DurableLog, recover
from tvgbench.harness.config import fingerprint
from tvgbench.harness.runner import PREDICTIONS, RUN_JSON, RUN_FORMAT, finalize_run, project_version


def _load_run(d: Path) -> dict:
    try:
        return json.loads((d / RUN_JSON).read_text())
    except FileNotFoundError:
        raise Timer1Error(f"{d} is not a run folder (no {RUN_JSON})") from None
    except ValueError:
        raise Timer1Error(f"{d / RUN_JSON} is not valid JSON") from None


def _same_weights(a: dict, b: dict) -> bool:
    """Both runs' backends recorded the same weights and config hashes (local checkpoints only)."""
    first, second = a.get("backend") or {}, b.get("backend") or {}
    return bool(first.get("weights_sha256")) and all(first.get(k) == second.get(k)
                                                       for k in ("weights_sha256", "config_sha256"))


def merge_runs(shard_dirs, out_dir, *, allow_missing: bool = False, bootstrap: int = 1000) -> dict:
    """Check the shards belong together, concatenate their lines in shard order, score the whole split."""
    dirs = [Path(d) for d in shard_dirs]
    runs = [_load_run(d) for d in dirs]
    base = {k: v for k, v in fingerprint(runs[0]["settings"]).items() if k != "shard"}
    for d, r in zip(dirs[1:], runs[1:]):
        other = {k: v for k, v in fingerprint(r["settings"]).items() if k != "shard"}
        diff = sorted(k for k in set(base) | set(other) if base.get(k) != other.get(k))
        if "model" in diff and _same_weights(runs[0], r):
            diff.remove("model")  # one checkpoint, its path spelled differently (relative vs absolute)
        if diff:
            raise Timer1Error(f"{d} was run with different settings from {dirs[0]} ({', '.join(diff[:4])})")
    shards = [tuple(r["settings"]["shard"]) for r in runs]
    n = shards[0][1]
    if len({s[1] for s in shards}) != 1:
        raise Timer1Error(f"the runs use different shard counts: {sorted(shards)}")
    if len(set(shards)) != len(shards):
        raise Timer1Error(f"a shard appears twice: {sorted(shards)}")
    missing_shards = sorted(set(range(n)) - {s[0] for s in shards})
    if missing_shards and not allow_missing:
        raise Timer1Error(f"shards {missing_shards} of {n} are missing (pass --allow-missing to merge anyway)")
    unfinished = [str(d) for d, r in zip(dirs, runs) if r.get("status") == "running"]
    if unfinished and not allow_missing:
        raise Timer1Error(f"unfinished shard runs (resume them first): {', '.join(unfinished)}")

    out = Path(out_dir)
    if out.is_dir() and foreign_files(out, frozenset()):  # it writes run.json, scores.json… straight into out
        raise Timer1Error(f"{out} is not empty ({', '.join(foreign_files(out, frozenset()))}); "
                          "merge into a new or empty folder")
    if out.exists() and not out.is_dir():
        raise Timer1Error(f"{out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    seen: dict[str, str] = {}
    order = sorted(range(len(dirs)), key=lambda k: shards[k][0])
    tmp = out / (PREDICTIONS + ".tmp")
    tmp.unlink(missing_ok=True)
    with DurableLog(tmp) as log:
        for k in order:
            for rec in recover(dirs[k] / PREDICTIONS, truncate=False):
                if rec["qid"] in seen:
                    raise Timer1Error(f"qid {rec['qid']} is in both {seen[rec['qid']]} and {dirs[k]}")
                seen[rec["qid"]] = str(dirs[k])
                log.append(rec)
    tmp.replace(out / PREDICTIONS)

    settings = dict(runs[0]["settings"])
    settings["shard"] = [0, 1]
    run = {
        "format": RUN_FORMAT, "status": "running", "project_version": project_version(), "settings": settings,
        "backend": runs[0].get("backend"), "libraries": runs[0].get("libraries"),
        "merged_from": [{"dir": str(dirs[k]), "shard": list(shards[k]), "status": runs[k].get("status"),
                         "libraries": runs[k].get("libraries"), "backend": runs[k].get("backend")} for k in order],
        "started_at": min(r.get("started_at", "") for r in runs),
        "queries": sum(r.get("queries", 0) for r in runs),
        "merged_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    summary = finalize_run(out, run, split_dir=settings["split"], split_name=settings.get("split_name"), subset=None,
                           window_mode=settings.get("window_mode", "crop"), shard=(0, 1), loop=None, score=True,
                           bootstrap=bootstrap)
    if settings.get("limit"):
        summary["note"] = "the shards were limited (--limit): missing queries count as misses"
    return summary

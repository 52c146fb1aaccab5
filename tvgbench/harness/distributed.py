"""Distributed eval: one shard per rank of torchrun / accelerate launch / Slurm, merged into one run folder.

    torchrun --nproc_per_node 2 --no-python timer1 eval run --split S --model M --out RUN

Each rank reads its rank and the world size from the launcher's environment (``RANK``/``WORLD_SIZE``
of torchrun and accelerate, else Slurm's ``SLURM_PROCID``/``SLURM_NTASKS``; no torch.distributed: the
shards are independent) and evaluates its share into its own ordinary run folder,
``RUN/shards/rank-K-of-N`` (its own lock, resumable with ``--resume`` like any run). The share is what
``--shard K/N`` takes of the queries one process would evaluate (``--limit`` first, then Time-R1's
contiguous chunks), so the shards concatenated in rank order are that process's lines, in its order.

The last rank to finish merges: under a blocking lock (``RUN/shards/.merge.lock``) every rank that
finishes looks at all N shard folders and, when all are finished, writes RUN's one predictions.jsonl,
run.json (``settings.world_size`` = N) and scores.json, which equal a 1-process run's (the lines but
their ``timing``). Nobody waits: a rank killed or refused leaves the run unmerged, and rerunning the
launch with ``--resume`` finishes the missing shard and merges. Outside ``--resume``, a shard counts only
when this launch wrote it (its ``launch.json`` names this launch's id: torchrun's run id, Slurm's job and
step), so a shard left by an earlier run is never merged with new ones.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from tvgbench.core.errors import Timer1Error
from tvgbench.core.report import write_json_atomic
from tvgbench.core.splits import load_split
from tvgbench.harness.config import RunConfig, fingerprint, shard_slice
from tvgbench.harness.jsonl import DurableLog, recover
from tvgbench.harness.runner import PREDICTIONS, RUN_FORMAT, RUN_JSON, SCORES, finalize_run, project_version, run_eval

SHARDS = "shards"
LAUNCH_JSON = "launch.json"
FINISHED = ("clean", "partial")  # a shard run's status once its loop has written every query


@dataclass(frozen=True)
class Launch:
    """This process's place in a multi-process launch, as the launcher's environment says."""

    rank: int
    world_size: int
    launcher: str  # torchrun (accelerate launch runs torchrun's agent too) or slurm
    local_rank: int | None = None  # the GPU of this node a rank should use
    launch_id: str | None = None  # one id for all ranks of one launch (None: the launcher gives none)


def _int_env(env: Mapping[str, str], name: str) -> int:
    try:
        return int(env[name])
    except ValueError:
        raise Timer1Error(f"environment variable {name}={env[name]!r} is not a whole number") from None


def launch_from_env(env: Mapping[str, str] | None = None) -> Launch | None:
    """The rank and world size of torchrun / accelerate (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``) or, without
    them, of Slurm (``SLURM_PROCID``, ``SLURM_NTASKS``, ``SLURM_LOCALID``); None outside a launch of 2+ processes.

    torchrun's variables win: torchrun started by srun sets them for every worker of every node."""
    env = os.environ if env is None else env
    for rank_var, world_var, local_var, launcher in (("RANK", "WORLD_SIZE", "LOCAL_RANK", "torchrun"),
                                                      ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "slurm")):
        if rank_var not in env and world_var not in env:
            continue
        if rank_var not in env or world_var not in env:
            given, absent = (rank_var, world_var) if rank_var in env else (world_var, rank_var)
            raise Timer1Error(f"{given} is set but {absent} is not; a distributed launch sets both")
        rank, world = _int_env(env, rank_var), _int_env(env, world_var)
        if world < 1 or not 0 <= rank < world:
            raise Timer1Error(f"{rank_var}={rank} with {world_var}={world}: need 0 <= rank < world size")
        if world == 1:
            return None
        local = _int_env(env, local_var) if local_var in env else None
        return Launch(rank, world, launcher, local, _launch_id(env, launcher))
    return None


def _launch_id(env: Mapping[str, str], launcher: str) -> str | None:
    run_id = env.get("TORCHELASTIC_RUN_ID", "none")  # torchrun's --rdzv-id: a fresh uuid unless given
    if launcher == "torchrun" and run_id != "none":
        return f"torchelastic:{run_id}"
    if "SLURM_JOB_ID" in env and "SLURM_STEP_ID" in env:  # one srun step: the same for all its tasks
        return f"slurm:{env['SLURM_JOB_ID']}.{env['SLURM_STEP_ID']}"
    return None


def refuse_explicit_shard(shard, launch: Launch) -> None:
    """``--shard`` and a launcher's ranks both choose the shard: refused (one line)."""
    if shard is not None:
        raise Timer1Error(f"--shard {shard} under a {launch.world_size}-process {launch.launcher} launch: each rank "
                          f"takes its own shard (this is rank {launch.rank}); drop --shard")


def refuse_launch(command: str) -> None:
    """A command that does not shard across processes, started by a launcher of 2+: refused (one line)."""
    launch = launch_from_env()
    if launch is not None:
        raise Timer1Error(f"{command} does not split its work across processes, and this is rank {launch.rank} of a "
                          f"{launch.world_size}-process {launch.launcher} launch; run it as one process")


def shard_dir(run_dir: Path, rank: int, world_size: int) -> Path:
    return Path(run_dir) / SHARDS / f"rank-{rank}-of-{world_size}"


def rank_share_sizes(n_queries: int, limit: int | None, world_size: int) -> list[int]:
    """How many queries each rank evaluates: its shard of the first ``limit`` queries."""
    total = n_queries if limit is None else min(limit, n_queries)
    return [len(range(total)[shard_slice(total, (k, world_size))]) for k in range(world_size)]


def check_shares(n_queries: int, limit: int | None, world_size: int) -> None:
    """Every rank must have a query (an empty shard would be a run of nothing)."""
    sizes = rank_share_sizes(n_queries, limit, world_size)
    if 0 in sizes:
        raise Timer1Error(f"{world_size} processes for {sum(sizes)} queries: rank {sizes.index(0)} would have none "
                          f"(contiguous chunks of ceil(queries / processes)); launch fewer processes")


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


def check_run_folder(run_dir: Path, world_size: int, *, resume: bool, overwrite: bool) -> None:
    """What RUN already holds must be this launch's kind of run: refuse a 1-process run or another world size's
    merged run (unless ``--overwrite``), and a merged run without ``--resume`` or ``--overwrite``."""
    run_dir = Path(run_dir)
    if overwrite or not (run_dir / PREDICTIONS).exists():
        return
    if not resume:
        raise Timer1Error(f"{run_dir} already holds a run; pass --resume to continue it or --overwrite to replace it")
    settings = (_read_json(run_dir / RUN_JSON) or {}).get("settings")
    before = None if settings is None else settings.get("world_size", 1)  # None: a merge killed before run.json
    if before not in (None, world_size):
        raise Timer1Error(f"cannot resume {run_dir} with {world_size} processes: it holds a {before}-process run; "
                          f"resume it as it was launched, or start again with --overwrite")


@contextmanager
def merge_lock(run_dir: Path):
    """A blocking exclusive lock: the ranks that finish look at the shards (and merge) one at a time."""
    path = Path(run_dir) / SHARDS / ".merge.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # released when the file closes (and when a process dies)
        yield


def shared_launch_id(launch: Launch) -> str:
    """One id for all ranks of this launch: the launcher's, or (accelerate, torchrun --rdzv-id none) rank 0's
    uuid broadcast over gloo, the one collective distributed eval needs, and only for ``--overwrite``."""
    if launch.launch_id is not None:
        return launch.launch_id
    if "MASTER_ADDR" not in os.environ:
        raise Timer1Error("--overwrite with several processes needs the launch's id (torchrun's TORCHELASTIC_RUN_ID, "
                          "Slurm's SLURM_JOB_ID) or MASTER_ADDR/MASTER_PORT for a gloo broadcast; none is set")
    import torch.distributed as dist

    dist.init_process_group("gloo", rank=launch.rank, world_size=launch.world_size)
    try:
        box = [uuid.uuid4().hex if launch.rank == 0 else None]
        dist.broadcast_object_list(box, src=0)
    finally:
        dist.destroy_process_group()
    return f"gloo:{box[0]}"


def _clear_merged(run_dir: Path) -> None:
    """``--overwrite``: the previous merged files go before any shard of this launch can be merged."""
    with merge_lock(run_dir):
        for name in (PREDICTIONS, RUN_JSON, SCORES):
            (Path(run_dir) / name).unlink(missing_ok=True)


def rank_config(config: RunConfig, launch: Launch) -> RunConfig:
    """This rank's run: shard K/N of the launch into RUN/shards/rank-K-of-N, its GPU when there are GPUs."""
    options = dict(config.backend_options)
    if config.backend == "hf" and options.get("device", "auto") in ("auto", "cuda") and launch.local_rank is not None:
        import torch

        if torch.cuda.is_available():  # one GPU per rank, not every rank on cuda:0
            options["device"] = f"cuda:{launch.local_rank % torch.cuda.device_count()}"
    return replace(config, out_dir=shard_dir(config.out_dir, launch.rank, launch.world_size),
                   shard=(launch.rank, launch.world_size), world_size=launch.world_size, backend_options=options)


def run_rank(config: RunConfig, launch: Launch) -> dict:
    """Evaluate this rank's shard, then merge if it is the last to finish. Returns ``{"rank", "shard", "merged"}``
    (``merged``: the merged run's summary when this rank merged, else None; ``waiting_for``: unfinished ranks)."""
    run_dir = Path(config.out_dir)
    check_run_folder(run_dir, launch.world_size, resume=config.resume, overwrite=config.overwrite)
    check_shares(len(load_split(config.split_dir, config.split_name)), config.limit, launch.world_size)
    this_launch = shared_launch_id(launch) if config.overwrite else launch.launch_id
    if config.overwrite:
        _clear_merged(run_dir)
    mine = rank_config(config, launch)
    summary = run_eval(mine)
    write_json_atomic(Path(mine.out_dir) / LAUNCH_JSON, {"launch_id": this_launch, "launcher": launch.launcher,
                                                         "rank": launch.rank, "world_size": launch.world_size})
    merged, waiting = merge_if_complete(run_dir, launch.world_size, launch_id=None if config.resume else this_launch,
                                        split_dir=config.split_dir, bootstrap=config.bootstrap, score=config.score,
                                        merged_by=launch.rank)
    return {"rank": launch.rank, "world_size": launch.world_size, "shard": summary, "merged": merged,
            "waiting_for": waiting}


def _shard_state(d: Path) -> dict:
    pred = d / PREDICTIONS
    return {"dir": str(d.relative_to(d.parent.parent)), "bytes": pred.stat().st_size if pred.exists() else 0}


def unfinished_ranks(run_dir: Path, world_size: int, launch_id: str | None) -> list[int]:
    """Ranks whose shard is not finished (or, given ``launch_id``, was not written by that launch)."""
    waiting = []
    for k in range(world_size):
        d = shard_dir(run_dir, k, world_size)
        run = _read_json(d / RUN_JSON) or {}
        launched = (_read_json(d / LAUNCH_JSON) or {}).get("launch_id")
        if run.get("status") not in FINISHED or (launch_id is not None and launched != launch_id):
            waiting.append(k)
    return waiting


def merge_if_complete(run_dir: Path, world_size: int, *, launch_id: str | None, split_dir=None, bootstrap: int = 1000,
                      score: bool = True, merged_by: int | None = None) -> tuple[dict | None, list[int]]:
    """Merge the N shards into RUN when all are finished and RUN does not already hold exactly this merge.

    ``split_dir``: the split as this rank was given it (scores.json names it so, as a 1-process run's does).

    Returns (the merged run's summary, or None when this call did not merge; the ranks still unfinished)."""
    run_dir = Path(run_dir)
    with merge_lock(run_dir):
        waiting = unfinished_ranks(run_dir, world_size, launch_id)
        if waiting:
            return None, waiting
        dirs = [shard_dir(run_dir, k, world_size) for k in range(world_size)]
        states = [_shard_state(d) for d in dirs]
        merged_before = (_read_json(run_dir / RUN_JSON) or {}).get("distributed") or {}
        if (run_dir / PREDICTIONS).exists() and merged_before.get("shards_merged") == states:
            return None, []  # a rank before this one merged these very shards
        return merge_shards(run_dir, dirs, states, split_dir=split_dir, bootstrap=bootstrap, score=score,
                            merged_by=merged_by), []


def _check_same_settings(dirs: list[Path], runs: list[dict]) -> None:
    base = {k: v for k, v in fingerprint(runs[0]["settings"]).items() if k != "shard"}
    for d, r in zip(dirs[1:], runs[1:]):
        other = {k: v for k, v in fingerprint(r["settings"]).items() if k != "shard"}
        diff = sorted(k for k in set(base) | set(other) if base.get(k) != other.get(k))
        if diff:
            raise Timer1Error(f"cannot merge: {d} was run with different settings from {dirs[0]} ({', '.join(diff[:4])})")


def merged_run_record(runs: list[dict], states: list[dict], merged_by: int | None) -> dict:
    """run.json of the merged run before scoring: rank 0's records (its first query is the run's first), the
    settings of the whole run (shard 0/1, ``world_size`` N), and each shard's session under ``distributed``."""
    first = runs[0]
    settings = {**first["settings"], "shard": [0, 1]}
    run = {"format": RUN_FORMAT, "status": "running", "project_version": project_version(), "settings": settings,
           "backend": first.get("backend"), "libraries": first.get("libraries"),
           "started_at": min(r.get("started_at", "") for r in runs)}
    for key in ("family", "model_source"):
        run[key] = first.get(key)
    prompt = next((r["first_prompt"] for r in runs if r.get("first_prompt")), None)
    if prompt is not None:
        run["first_prompt"] = prompt
    run["resumed_at"] = sorted(t for r in runs for t in r.get("resumed_at", []))
    run["queries"] = sum(r.get("queries", 0) for r in runs)
    run["distributed"] = {
        "world_size": len(runs), "merged_by_rank": merged_by, "shards_merged": states,
        "shards": [{"dir": s["dir"], "status": r.get("status"), "queries": r.get("queries"),
                    "started_at": r.get("started_at"), "finished_at": r.get("finished_at"),
                    "last_session": r.get("last_session"), "backend_device": (r.get("backend") or {}).get("device")}
                   for s, r in zip(states, runs)],
    }
    return run


def merge_shards(run_dir: Path, dirs: list[Path], states: list[dict], *, split_dir=None, bootstrap: int = 1000,
                 score: bool = True, merged_by: int | None = None) -> dict:
    """Concatenate the shards' lines in rank order into RUN/predictions.jsonl (swapped in whole), write run.json
    and score as a 1-process run does (the ``--limit`` subset when limited)."""
    runs = [_read_json(d / RUN_JSON) for d in dirs]
    _check_same_settings(dirs, runs)
    tmp = run_dir / (PREDICTIONS + ".tmp")
    tmp.unlink(missing_ok=True)
    with DurableLog(tmp) as log:
        for d in dirs:
            for record in recover(d / PREDICTIONS, truncate=False):
                log.append(record)
    tmp.replace(run_dir / PREDICTIONS)
    run = merged_run_record(runs, states, merged_by)
    settings = run["settings"]
    split_dir = settings["split"] if split_dir is None else split_dir
    subset = None
    if settings.get("limit"):
        subset = load_split(split_dir, settings.get("split_name")).samples[:settings["limit"]]
    return finalize_run(run_dir, run, split_dir=split_dir, split_name=settings.get("split_name"), subset=subset,
                        window_mode=settings.get("window_mode", "crop"), shard=(0, 1), loop=None, score=score,
                        bootstrap=bootstrap)

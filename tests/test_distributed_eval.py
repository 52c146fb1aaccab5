"""Distributed eval (tvgbench.harness.distributed): ranks of torchrun / accelerate / Slurm evaluate their shards
into one run folder and the last to finish merges it; the merged run equals a 1-process run.

The real launch is a 2-process ``torchrun --nproc_per_node 2 --no-python timer1 eval run``; the other cases
run one rank at a time in this process with the launcher's variables set (what each rank sees), in orders a
launch can produce, and one rank killed for real (SIGKILL) and rerun with --resume.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tvgbench.cli.main import cli
from tvgbench.core.errors import Timer1Error
from tvgbench.harness.distributed import Launch, launch_from_env, rank_share_sizes

SETTINGS = ["--max-new-tokens", "16", "--batch-size", "2", "--quiet", "--bootstrap", "50"]
# every launcher variable a rank might see, unset unless a test sets it
LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "TORCHELASTIC_RUN_ID", "MASTER_ADDR", "MASTER_PORT",
               "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_JOB_ID", "SLURM_STEP_ID")
TIMER1 = Path(sys.executable).parent / "timer1"


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> Path:
    """A 1-video synthetic split (11 queries)."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg binary not on PATH (apt-get install ffmpeg)")
    from tvgbench.data.synth import make_synthetic

    out = tmp_path_factory.mktemp("dist_split") / "synth"
    make_synthetic(out, n_videos=1, seed=0)
    return out


def eval_args(split: Path, model: Path, *extra: str) -> list[str]:
    return ["eval", "run", "--split", str(split), "--model", str(model), "--out", "run", *SETTINGS, *extra]


def as_rank(cwd: Path, args: list[str], **env: str):
    """One rank of a launch, in this process, with exactly the launcher variables given."""
    full = {name: None for name in LAUNCH_VARS}
    full.update(env)
    here = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, args, env=full)
    finally:
        os.chdir(here)


def torchrun(rank: int, world: int = 2, run_id: str = "launch-a") -> dict:
    return {"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank), "TORCHELASTIC_RUN_ID": run_id}


@pytest.fixture(scope="module")
def single(tmp_path_factory, split, tiny_model_dir) -> Path:
    """The 1-process run every distributed run is compared with (cwd/run)."""
    cwd = tmp_path_factory.mktemp("single")
    res = as_rank(cwd, eval_args(split, tiny_model_dir))
    assert res.exit_code == 0, res.output
    return cwd / "run"


def lines_without_timing(run: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "timing"}
            for line in (run / "predictions.jsonl").read_text().splitlines()]


def assert_equals_single(run: Path, single: Path, world_size: int = 2, same_first_prompt: bool = True) -> None:
    assert lines_without_timing(run) == lines_without_timing(single)
    assert (run / "scores.json").read_bytes() == (single / "scores.json").read_bytes()
    ours, theirs = json.loads((run / "run.json").read_text()), json.loads((single / "run.json").read_text())
    assert ours["settings"].pop("world_size") == world_size
    assert ours["settings"] == theirs["settings"]
    assert ours["counts"]["lines"] == theirs["counts"]["lines"]
    assert (ours["first_prompt"] == theirs["first_prompt"]) is same_first_prompt
    assert ours["distributed"]["world_size"] == world_size and ours["status"] == "clean"


def test_torchrun_two_processes_equal_one_process(tmp_path, split, tiny_model_dir, single):
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARS}
    cmd = [str(Path(sys.executable).parent / "torchrun"), "--nproc_per_node", "2", "--no-python", str(TIMER1),
           *eval_args(split, tiny_model_dir)]
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert_equals_single(tmp_path / "run", single)
    shards = sorted(p.name for p in (tmp_path / "run" / "shards").iterdir() if p.is_dir())
    assert shards == ["rank-0-of-2", "rank-1-of-2"]
    sizes = [len((tmp_path / "run" / "shards" / s / "predictions.jsonl").read_text().splitlines()) for s in shards]
    assert sizes == [6, 5]  # contiguous chunks of ceil(11 / 2)
    assert "merged into run" in res.stdout


def test_killed_rank_resumes_its_shard_and_merges(tmp_path, split, tiny_model_dir, single):
    """Rank 0 is SIGKILLed after its first lines; rank 1 finishes (nothing to merge yet); rank 0 rerun with
    --resume keeps its written lines, completes its shard and, last to finish, merges."""
    env = {**{k: v for k, v in os.environ.items() if k not in LAUNCH_VARS}, **torchrun(0)}
    args = eval_args(split, tiny_model_dir)
    proc = subprocess.Popen([str(TIMER1), *args], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    shard = tmp_path / "run" / "shards" / "rank-0-of-2" / "predictions.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if shard.exists() and shard.read_text().count("\n") >= 1:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = shard.read_text().count("\n")
    assert 1 <= written < 6, f"rank 0 was killed after {written} of its 6 lines"
    assert json.loads(shard.with_name("run.json").read_text())["status"] == "running"

    res = as_rank(tmp_path, args, **torchrun(1))
    assert res.exit_code == 0, res.output
    assert "ranks [0] have not finished" in res.output and not (tmp_path / "run" / "predictions.jsonl").exists()
    res = as_rank(tmp_path, [*args, "--resume"], **torchrun(0, run_id="launch-b"))
    assert res.exit_code == 0, res.output
    assert "merged into run" in res.output
    rank0 = json.loads(shard.with_name("run.json").read_text())
    assert rank0["last_session"]["written"] == 6 - written and len(rank0["resumed_at"]) == 1
    # a run killed before its end records the prompt of the first query its resume decodes, as a 1-process one does
    assert_equals_single(tmp_path / "run", single, same_first_prompt=False)


def test_slurm_ranks_in_either_order_equal_one_process(tmp_path, split, tiny_model_dir, single):
    slurm = {"SLURM_NTASKS": "2", "SLURM_JOB_ID": "77", "SLURM_STEP_ID": "0"}
    first = as_rank(tmp_path, eval_args(split, tiny_model_dir), SLURM_PROCID="1", SLURM_LOCALID="1", **slurm)
    assert first.exit_code == 0, first.output
    assert "rank 1/2: shard finished, 5 predictions" in first.output
    last = as_rank(tmp_path, eval_args(split, tiny_model_dir), SLURM_PROCID="0", SLURM_LOCALID="0", **slurm)
    assert last.exit_code == 0, last.output
    assert_equals_single(tmp_path / "run", single)
    launch = json.loads((tmp_path / "run" / "shards" / "rank-0-of-2" / "launch.json").read_text())
    assert launch == {"launch_id": "slurm:77.0", "launcher": "slurm", "rank": 0, "world_size": 2}
    # a relaunch with --resume: both shards are done, and the merge already holds them: nothing is rewritten
    before = (tmp_path / "run" / "run.json").read_text()
    for rank in ("1", "0"):
        again = as_rank(tmp_path, [*eval_args(split, tiny_model_dir), "--resume"], SLURM_PROCID=rank, **slurm)
        assert again.exit_code == 0 and "another rank merged run" in again.output, again.output
    assert (tmp_path / "run" / "run.json").read_text() == before
    res = as_rank(tmp_path, [*eval_args(split, tiny_model_dir), "--resume"])  # one process: not this run
    assert res.exit_code == 2 and "settings differ (world_size: 2 -> None)" in res.output
    # a merge killed after predictions.jsonl and before run.json: the next --resume merges again
    (tmp_path / "run" / "run.json").unlink()
    res = as_rank(tmp_path, [*eval_args(split, tiny_model_dir), "--resume"], SLURM_PROCID="0", **slurm)
    assert res.exit_code == 0 and "merged into run" in res.output, res.output
    assert_equals_single(tmp_path / "run", single)


def test_overwrite_never_merges_a_shard_of_an_earlier_launch(tmp_path, split, tiny_model_dir, single):
    args = eval_args(split, tiny_model_dir, "--limit", "4")
    for rank in (0, 1):
        assert as_rank(tmp_path, args, **torchrun(rank)).exit_code == 0
    merged_a = lines_without_timing(tmp_path / "run")
    assert len(merged_a) == 4  # --limit 4 of the whole split, then 2 each
    refused = as_rank(tmp_path, args, **torchrun(0, run_id="launch-b"))
    assert refused.exit_code == 2 and "already holds a run; pass --resume" in refused.output
    # launch b: rank 0 overwrites; rank 1's shard is launch a's, so rank 0 does not merge it
    res = as_rank(tmp_path, [*args, "--overwrite"], **torchrun(0, run_id="launch-b"))
    assert res.exit_code == 0, res.output
    assert "ranks [1] have not finished" in res.output and not (tmp_path / "run" / "predictions.jsonl").exists()
    res = as_rank(tmp_path, [*args, "--overwrite"], **torchrun(1, run_id="launch-b"))
    assert res.exit_code == 0 and "merged into run" in res.output, res.output
    assert lines_without_timing(tmp_path / "run") == merged_a
    assert json.loads((tmp_path / "run" / "scores.json").read_text())["harness"]["subset"] is True
    # a 1-process --limit 4 run scores the same 4 queries the same way
    one = tmp_path / "one"
    one.mkdir()
    assert as_rank(one, args).exit_code == 0
    assert (one / "run" / "scores.json").read_bytes() == (tmp_path / "run" / "scores.json").read_bytes()


def test_refusals_are_one_line(tmp_path, split, tiny_model_dir, single):
    res = as_rank(tmp_path, eval_args(split, tiny_model_dir, "--shard", "0/2"), **torchrun(0))
    assert res.exit_code == 2 and "error: --shard 0/2 under a 2-process torchrun launch" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "run").exists()
    res = as_rank(tmp_path, eval_args(split, tiny_model_dir, "--limit", "2"), **torchrun(0, world=3))
    assert res.exit_code == 2 and "3 processes for 2 queries: rank 2 would have none" in res.output
    res = as_rank(tmp_path, eval_args(split, tiny_model_dir), WORLD_SIZE="2")
    assert res.exit_code == 2 and "WORLD_SIZE is set but RANK is not" in res.output
    res = as_rank(tmp_path, eval_args(split, tiny_model_dir, "--overwrite"), RANK="0", WORLD_SIZE="2")
    assert res.exit_code == 2 and "--overwrite with several processes needs the launch's id" in res.output
    res = as_rank(tmp_path, ["eval", "qa", "--dataset", "mvbench", "--root", str(split), "--model", "m", "--out", "qa"],
                  **torchrun(1))
    assert res.exit_code == 2 and "eval qa does not split its work across processes" in res.output
    # a 1-process run is not resumed by 2 processes
    shutil.copytree(single, tmp_path / "run")
    res = as_rank(tmp_path, [*eval_args(split, tiny_model_dir), "--resume"], **torchrun(0))
    assert res.exit_code == 2 and "it holds a 1-process run" in res.output


def test_launch_from_env():
    assert launch_from_env({}) is None
    assert launch_from_env({"RANK": "0", "WORLD_SIZE": "1"}) is None  # one process: a plain run
    assert launch_from_env({**torchrun(1), "SLURM_PROCID": "0", "SLURM_NTASKS": "4", "SLURM_JOB_ID": "9"}) == \
        Launch(1, 2, "torchrun", 1, "torchelastic:launch-a")  # torchrun under srun: torchrun's ranks
    assert launch_from_env({"SLURM_PROCID": "3", "SLURM_NTASKS": "4", "SLURM_JOB_ID": "9", "SLURM_STEP_ID": "2"}) == \
        Launch(3, 4, "slurm", None, "slurm:9.2")
    assert launch_from_env({"RANK": "1", "WORLD_SIZE": "2", "TORCHELASTIC_RUN_ID": "none"}).launch_id is None
    for bad, message in (({"RANK": "2", "WORLD_SIZE": "2"}, "need 0 <= rank < world size"),
                         ({"RANK": "x", "WORLD_SIZE": "2"}, "RANK='x' is not a whole number")):
        with pytest.raises(Timer1Error, match=message):
            launch_from_env(bad)
    assert rank_share_sizes(11, None, 2) == [6, 5] and rank_share_sizes(11, 4, 2) == [2, 2]


def test_preprocess_two_ranks_fill_the_cache_once(tmp_path):
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg binary not on PATH (apt-get install ffmpeg)")
    from tvgbench.data.synth import make_synthetic

    make_synthetic(tmp_path / "s2", n_videos=2, seed=0)
    args = ["data", "preprocess", "s2", "--video-root", "s2", "--cache", "cache", "--json", "--quiet"]
    reports = []
    for rank in (1, 0):
        res = as_rank(tmp_path, args, **torchrun(rank))
        assert res.exit_code == 0, res.output
        reports.append(json.loads(res.output))
    assert [r["shard"] for r in reports] == [[1, 2], [0, 2]]
    assert [r["cached_now"] for r in reports] == [1, 1] and [r["records"] for r in reports] == [11, 11]
    assert (tmp_path / "cache" / "preprocess_report.rank-0-of-2.json").is_file()
    whole = as_rank(tmp_path, args)  # one process afterwards: everything is already there
    assert whole.exit_code == 0
    assert (json.loads(whole.output)["already_cached"], json.loads(whole.output)["cached_now"]) == (2, 0)


def test_overwrite_without_a_launcher_id_shares_rank_0s_over_gloo(tmp_path):
    """accelerate launch sets TORCHELASTIC_RUN_ID=none: for --overwrite the ranks agree on rank 0's id over gloo."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = ("from tvgbench.harness.distributed import launch_from_env, shared_launch_id; "
            "print(shared_launch_id(launch_from_env()))")
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARS}
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              env={**env, "RANK": str(r), "WORLD_SIZE": "2", "TORCHELASTIC_RUN_ID": "none",
                                   "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}) for r in (0, 1)]
    ids = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert ids[0] == ids[1] and ids[0].startswith("gloo:") and len(ids[0]) == len("gloo:") + 32

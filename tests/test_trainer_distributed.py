"""GRPO training on several processes: 2 CPU processes (gloo) train what 1 process trains, resume as two
"machines", record the world size; the launch configs and the README's launch commands parse in accelerate."""

from __future__ import annotations

import inspect
import io
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from trainer.distributed import check_launch
from tvgbench.core.errors import Timer1Error

REPO = Path(__file__).resolve().parents[1]
FIXED = REPO / "tests" / "trainer_fixed_rollouts.py"
# one prompt group of G=8 per rank and step; completions of one length (tests/trainer_fixed_rollouts.py)
SETTINGS = ["trl.max_steps=2", "trl.save_steps=1", "trl.max_completion_length=32", "data.synthetic.n_videos=1"]
# float32 sums in another order (the DDP all-reduce averages two half-batch gradients where one process
# sums the whole batch): about 1e-7 relative per operation; 1e-5 leaves room and still fails on any real
# difference (an unsynced gradient, a rank on other prompts, a batch mean over half the tokens)
RTOL = 1e-5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def _accelerate(*args: str) -> list[str]:
    return [sys.executable, "-m", "accelerate.commands.launch", *args]


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines() if '"grad_norm"' in line]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same fixed-rollout run on 1 process × batch 16 and on 2 processes × batch 8."""
    base = tmp_path_factory.mktemp("dist")
    one, two = base / "one", base / "two"
    _run([sys.executable, str(FIXED), str(one), *SETTINGS, "trl.per_device_train_batch_size=16"])
    _run(_accelerate("--multi_gpu", "--num_processes", "2", "--main_process_port", str(_free_port()),
                     str(FIXED), str(two), *SETTINGS, "trl.per_device_train_batch_size=8"))
    return one, two


@pytest.mark.slow
def test_two_processes_train_what_one_process_trains(runs):
    one, two = runs
    run_one, run_two = (json.loads((d / "run.json").read_text()) for d in runs)
    assert (run_one["world_size"], run_one["backend"], run_one["global_batch_size"]) == (1, None, 16)
    assert (run_two["world_size"], run_two["backend"], run_two["global_batch_size"]) == (2, "gloo", 16)
    assert run_two["distributed_type"] == "MULTI_CPU"
    log_one, log_two = _log(one), _log(two)
    assert [e["step"] for e in log_one] == [e["step"] for e in log_two] == [1, 2]
    for a, b in zip(log_one, log_two, strict=True):
        # step 1's loss is ~0 (the group advantages sum to zero, ratio 1, KL 0): compared absolutely
        assert b["loss"] == pytest.approx(a["loss"], rel=RTOL, abs=1e-6)
        for key in ("grad_norm", "reward", "rewards/tags/mean", "entropy", "kl", "num_tokens"):
            assert b[key] == pytest.approx(a[key], rel=RTOL, abs=1e-7), key
    assert log_one[0]["grad_norm"] > 0.1 and log_one[1]["kl"] > 0  # a real gradient moved the policy
    # the weights after two Adam steps: each moves a weight by up to lr (3e-3, sign-like for tiny
    # gradients), so a difference under lr/10 means no weight took another step
    from safetensors.torch import load_file

    w_one, w_two = (load_file(d / "final" / "model.safetensors") for d in runs)
    assert w_one.keys() == w_two.keys()
    assert max((w_one[k] - w_two[k]).abs().max().item() for k in w_one) < 3e-4


@pytest.mark.slow
def test_resume_on_two_machines(runs):
    """The 2-process run goes on one step, launched as two machines of one process (machine_rank 0 and 1,
    main process on 127.0.0.1): the multi-node path of the README, real CLI, real sampling."""
    _, two = runs
    port = str(_free_port())
    settings = [a for s in [*SETTINGS[1:], "trl.max_steps=3", "trl.per_device_train_batch_size=8"] for a in ("--set", s)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    procs = [subprocess.Popen(
        _accelerate("--multi_gpu", "--num_machines", "2", "--num_processes", "2", "--machine_rank", str(rank),
                    "--main_process_ip", "127.0.0.1", "--main_process_port", port,
                    "-m", "trainer", "--recipe", "tiny-cpu", "-o", str(two), *settings, "--resume"),
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for rank in (0, 1)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs[0][-3000:]
    run = json.loads((two / "run.json").read_text())
    assert run["steps"] == 3 and run["world_size"] == 2 and run["resumed_from"].endswith("checkpoint-2")
    assert [e["step"] for e in _log(two)] == [1, 2, 3]
    assert (two / "checkpoint-3").is_dir() and (two / "final" / "model.safetensors").is_file()
    # killed after checkpoint-3 but before final/: a resume at the last step rebuilds it once (the writer)
    shutil.rmtree(two / "final")
    res = _run(_accelerate("--multi_gpu", "--num_processes", "2", "--main_process_port", str(_free_port()),
                           "-m", "trainer", "--recipe", "tiny-cpu", "-o", str(two), *settings, "--resume"))
    assert res.stderr.count("final/ rebuilt from it") == 1
    assert (two / "final" / "model.safetensors").is_file() and not (two / ".final.tmp").exists()


# -- launching -----------------------------------------------------------------------------------
def test_cpu_launch_of_several_processes_is_refused():
    # what accelerate 1.15's simple launcher sets for --cpu --num_processes 2 (one process, no WORLD_SIZE)
    one_of_two = {"ACCELERATE_USE_CPU": "True", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}
    with pytest.raises(Timer1Error, match="torchrun"):
        check_launch(one_of_two)
    check_launch({**one_of_two, "WORLD_SIZE": "2"})  # torchrun / accelerate --multi_gpu
    check_launch({"ACCELERATE_USE_CPU": "True"})  # accelerate launch --cpu, one process
    check_launch({})


def test_accelerate_cpu_launcher_still_starts_one_process():
    """Canary for check_launch: accelerate's --cpu launcher sets MASTER_ADDR for 2 processes but no
    WORLD_SIZE and starts one (if it starts them all some day, the refusal must go)."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_simple_launcher_cmd_env

    args = launch_command_parser().parse_args(["--cpu", "--num_processes", "2", "-m", "trainer"])
    args, _, _ = _validate_launch_command(args)
    cmd, env = prepare_simple_launcher_cmd_env(args)
    assert cmd[:3] == [sys.executable, "-m", "trainer"] and "WORLD_SIZE" not in env and "MASTER_ADDR" in env
    with pytest.raises(Timer1Error):
        check_launch(env)


def test_multi_cpu_resume_fix_is_still_needed():
    """Canary for VideoGRPOTrainer._load_optimizer_and_scheduler: transformers maps the optimizer state to
    args.device on several processes, torch.load cannot map to ``cpu:0``, and args.device is the cached
    _setup_devices (the fix swaps it for one call)."""
    import torch
    from transformers import Trainer, TrainingArguments

    source = inspect.getsource(Trainer._load_optimizer_and_scheduler)
    assert 'map_location = self.args.device if self.args.world_size > 1 else "cpu"' in source
    buf = io.BytesIO()
    torch.save({"x": torch.ones(2)}, buf)
    buf.seek(0)
    with pytest.raises(RuntimeError, match="cpu:0"):
        torch.load(buf, map_location=torch.device("cpu", 0), weights_only=True)
    assert "return self._setup_devices" in inspect.getsource(TrainingArguments.device.fget)


# -- launch configs and the README's commands, through accelerate's own loaders --------------------
LAUNCH = REPO / "trainer" / "launch"


@pytest.mark.parametrize("name,stage,offload", [("accelerate_zero2", 2, False), ("accelerate_zero3", 3, False),
                                                ("accelerate_zero3_offload", 3, True)])
def test_deepspeed_configs_load_in_accelerate(name, stage, offload):
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DeepSpeedPlugin, DistributedType

    cluster = load_config_from_file(str(LAUNCH / f"{name}.yaml"))
    assert cluster.distributed_type == DistributedType.DEEPSPEED
    ds_file = REPO / cluster.deepspeed_config["deepspeed_config_file"]
    plugin = DeepSpeedPlugin(hf_ds_config=str(ds_file), zero3_init_flag=cluster.deepspeed_config["zero3_init_flag"])
    assert plugin.zero_stage == stage and plugin.hf_ds_config.is_offload() == offload
    assert plugin.zero3_init_flag == (stage == 3)


def test_ddp_config_loads_in_accelerate():
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DistributedType

    assert load_config_from_file(str(LAUNCH / "accelerate_ddp.yaml")).distributed_type == DistributedType.MULTI_GPU


def readme_launches() -> list[str]:
    """The ``accelerate launch`` commands of trainer/README.md (continuations joined; inside Slurm's
    ``bash -c '...'`` with the node's variables given example values)."""
    text = (REPO / "trainer" / "README.md").read_text()
    lines = "\n".join(re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)).replace("\\\n", " ")
    found = []
    for line in lines.splitlines():
        line = line.strip()
        inner = re.search(r"bash -c '(.*)'", line)
        line = inner.group(1) if inner else line
        if line.startswith("accelerate launch"):
            line = line.replace("$SLURM_NODEID", "1").replace("$(scontrol show hostnames $SLURM_JOB_NODELIST | head -n 1)", "10.0.0.1")
            found.append(re.sub(r"\s+", " ", line))
    return found


def test_readme_launch_commands_parse_in_accelerate():
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    from trainer.cli import train

    commands = readme_launches()
    assert len(commands) >= 4 and any("--machine_rank 1" in c for c in commands)  # the Slurm line was found
    for command in commands:
        args = launch_command_parser().parse_args(shlex.split(command)[2:])
        args, _, _ = _validate_launch_command(args)
        assert args.module and args.training_script == "trainer", command
        if args.config_file:
            assert (REPO / args.config_file).is_file(), command
        if args.num_machines > 1:
            assert args.main_process_ip and args.main_process_port and args.num_processes % args.num_machines == 0
        # what follows `-m trainer` is a valid `timer1 train` command line
        res = train.main([*args.training_script_args, "--dry-run"], standalone_mode=False)
        assert res is None, command

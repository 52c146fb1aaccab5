"""One training run on several processes (``accelerate launch``, ``torchrun``, Slurm's ``srun``).

Every process trains (HF's Trainer and TRL shard the batches, DDP or DeepSpeed syncs the gradients);
one process writes what the run folder holds besides checkpoints: ``config.yaml``, the tiny model and
the synthetic split (the others wait for them), ``final/``, ``train_log.jsonl``, ``run.json`` and the
cards. "That process" is HF's ``should_save``: the first process of the job, or the first of each node
with ``trl.save_on_each_node`` (nodes without a shared filesystem).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Mapping

from tvgbench.core.errors import Timer1Error

# what a launcher sets when it starts several processes (torchrun / accelerate's torchrun, mpirun, MVAPICH)
WORLD_SIZE_VARS = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


def check_launch(env: Mapping[str, str]) -> None:
    """Refuse ``accelerate launch --cpu --num_processes N`` (N > 1) without mpirun: accelerate 1.15 then
    starts ONE process (its simple launcher sets MASTER_ADDR for N processes but starts none of the others),
    so the run would silently train with a world size of 1."""
    cpu_launch = env.get("ACCELERATE_USE_CPU", "").lower() in ("true", "1", "yes")
    if cpu_launch and "MASTER_ADDR" in env and not any(v in env for v in WORLD_SIZE_VARS):
        raise Timer1Error(
            "accelerate launch --cpu with several processes starts only one without mpirun; start them with "
            "torchrun instead: accelerate launch --multi_gpu --num_processes N -m trainer ... (the recipe's "
            "trl.use_cpu: true keeps every process on the CPU, on gloo) or torchrun --nproc_per_node N -m trainer ...")


# the trl settings that decide how the processes meet and which of them writes (TrainingArguments fields)
LAUNCH_FIELDS = ("use_cpu", "ddp_backend", "ddp_timeout", "save_on_each_node", "per_device_train_batch_size",
                 "gradient_accumulation_steps")


def process_args(trl: dict[str, Any], out) -> Any:
    """The run's place among the launched processes, before the trainer exists: TrainingArguments with the
    recipe's launch settings joins the process group exactly as the trainer's own arguments do later
    (accelerate's PartialState is one per process), so the run folder can be prepared by one of them."""
    from transformers import TrainingArguments

    args = TrainingArguments(output_dir=str(out), report_to="none", **{k: trl[k] for k in LAUNCH_FIELDS if k in trl})
    args.distributed_state  # noqa: B018 -- joins the process group now (gloo on CPU, NCCL on GPUs)
    return args


@contextmanager
def writer_first(args, what: str = "preparing the run folder"):
    """The writing process runs the block first, the others after it (they find its files and skip the work)."""
    with args.main_process_first(local=args.save_on_each_node, desc=what):
        yield


def is_writer(trl: dict[str, Any]) -> bool:
    """Whether this process writes the run folder (HF's ``should_save``), once the process group is up."""
    from accelerate import PartialState

    state = PartialState()
    return state.is_local_main_process if trl.get("save_on_each_node") else state.is_main_process


def world_record(args) -> dict[str, Any]:
    """What run.json records about the processes: how many, on what, with which batch per step."""
    state = args.distributed_state
    world = int(args.world_size)
    return {
        "world_size": world,
        "distributed_type": str(getattr(state, "distributed_type", "NO")).split(".")[-1],
        "backend": getattr(state, "backend", None) if world > 1 else None,
        "global_batch_size": int(args.per_device_train_batch_size) * world * int(args.gradient_accumulation_steps),
    }


def refuse_unsupported(cfg, world_size: int) -> None:
    """What timer1 does not run on several processes yet."""
    if world_size > 1 and cfg.sample_filter.enabled:
        raise Timer1Error(f"sample_filter on {world_size} processes: each round's scoring pass would run on every "
                          "process; run sample filtering on one process (its rounds may use vLLM)")

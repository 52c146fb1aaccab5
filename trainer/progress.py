"""What a person sees while training: one progress bar and one readable line per logging step.

transformers' Trainer shows a tqdm bar (``ProgressCallback``) and writes every log as a raw dict of
numbers formatted as strings, 30 keys wide; with ``disable_tqdm`` it prints the dicts
(``PrinterCallback``). :func:`show_progress` swaps either for :class:`TrainProgress` on one trainer
instance (nothing global changes): a bar counting optimizer steps and, per logging step, a line such as

    step 2/80  reward 0.167 (iou_v2 0.000, format 0.000, tags 0.167)  IoU 0.000  format 0%  KL 0.744  1.17 s/step

What the log holds is unchanged (``train_log.jsonl``, TensorBoard). ``quiet_library_bars`` silences
transformers' own bars (loading weights, writing checkpoint shards) for the length of a run, through its
documented switch, restored afterwards: they would break the training bar into pieces.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any, Iterator

from tqdm import tqdm
from transformers import PrinterCallback, ProgressCallback, TrainerCallback
from transformers.utils import logging as hf_logging

# (log key, label, how to show the value): the order of a line
_HEADLINE = (("reward", "reward", "{:.3f}"), ("loss", "loss", "{:.4g}"))
_AFTER_PARTS = (
    ("iou", "IoU", "{:.3f}"),  # mean temporal IoU of the step's completions (trainer.rewards logs it)
    ("rewards/format/mean", "format", "{:.0%}"),  # the format reward is 0 or 1: its mean is a rate
    ("kl", "KL", "{:.3g}"),
    ("step_time", "", "{:.2f} s/step"),
)


def reward_parts(logs: dict[str, Any]) -> list[tuple[str, float]]:
    """``(name, mean)`` of each reward function, in the order the trainer logged them."""
    return [(key[len("rewards/"):-len("/mean")], value) for key, value in logs.items()
            if key.startswith("rewards/") and key.endswith("/mean") and isinstance(value, (int, float))]


def _shown(value: Any, fmt: str) -> str | None:
    return fmt.format(value) if isinstance(value, (int, float)) else None


def format_log_line(logs: dict[str, Any], step: int, max_steps: int) -> str | None:
    """The readable line of one logging step; None for a log without training metrics."""
    pieces = []
    for key, label, fmt in _HEADLINE:
        shown = _shown(logs.get(key), fmt)
        if shown is not None:
            pieces.append(f"{label} {shown}")
            if key == "reward" and (parts := reward_parts(logs)):
                pieces[-1] += " (" + ", ".join(f"{name} {value:.3f}" for name, value in parts) + ")"
    for key, label, fmt in _AFTER_PARTS:
        shown = _shown(logs.get(key), fmt)
        if shown is not None:
            pieces.append(f"{label} {shown}".strip())
    if not pieces:
        return None
    return f"step {step}/{max_steps}  " + "  ".join(pieces)


def format_end_line(logs: dict[str, Any], step: int) -> str | None:
    """The closing line (the Trainer's last log: ``train_runtime``, ``train_loss``), or None."""
    runtime = logs.get("train_runtime")
    if not isinstance(runtime, (int, float)):
        return None
    loss = logs.get("train_loss")
    return f"trained to step {step} in {runtime:.1f} s" + (f" (mean loss {loss:.4g})" if isinstance(loss, float) else "")


class TrainProgress(TrainerCallback):
    """One tqdm bar over optimizer steps (from the resumed step on) and a readable line per log.

    ``bar=False`` (``disable_tqdm``) keeps the lines and drops the bar. Lines go through ``tqdm.write``
    so the bar is redrawn below them, never split.
    """

    def __init__(self, bar: bool = True, stream=None):
        self.bar_enabled, self.stream = bar, stream
        self.bar: tqdm | None = None

    def _out(self):
        return self.stream if self.stream is not None else sys.stderr

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero and self.bar_enabled:
            self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc="training", unit="step",
                            file=self._out(), dynamic_ncols=True)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        line = format_log_line(logs, state.global_step, state.max_steps) or format_end_line(logs, state.global_step)
        if line is None:
            return
        if self.bar is not None:
            self.bar.write(line, file=self._out())
        else:
            print(line, file=self._out(), flush=True)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def show_progress(trainer, stream=None) -> TrainProgress:
    """Replace this trainer's ``ProgressCallback`` / ``PrinterCallback`` with :class:`TrainProgress`."""
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    callback = TrainProgress(bar=not trainer.args.disable_tqdm, stream=stream)
    trainer.add_callback(callback)
    return callback


@contextlib.contextmanager
def quiet_library_bars() -> Iterator[None]:
    """transformers' progress bars off for the block (their switch, restored after), the training bar stays."""
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


__all__ = ["TrainProgress", "format_end_line", "format_log_line", "quiet_library_bars", "show_progress"]

"""A tiny random model of a supported family that builds and loads offline (``timer1 model tiny``).

Used by the tests, the quick start and the trainer's CPU recipe. Each family builds its own
(:meth:`tvgbench.models.ModelAdapter.build_tiny`; Qwen2.5-VL's is :mod:`tvgbench.models.qwen2_5_vl.tiny`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from tvgbench.core.outdir import Owned, make_readable, staged_output
from tvgbench.models import adapter_class

DEFAULT_MODEL_TYPE = "qwen2_5_vl"
TINY_MARKER = "timer1_tiny.json"  # what the builder wrote: marks the folder as an earlier tiny model


def greedy_generation(model, tok, stop_tokens: tuple[str, ...]) -> None:
    """The generation config every tiny model ships: stop on the chat's end tokens, pad id, greedy."""
    gen = model.generation_config
    gen.eos_token_id = [tok.convert_tokens_to_ids(t) for t in stop_tokens]
    gen.pad_token_id = tok.pad_token_id
    gen.do_sample = False  # greedy unless a caller asks otherwise


def save_tiny_model(out_dir, model, tok, *, files: dict[str, str], marker: dict,
                    owned: Callable[[Path], Owned], overwrite: bool) -> Path:
    """Write a built tiny model with its tokenizer, processor ``files`` and marker, all at once or not at all
    (:mod:`tvgbench.core.outdir`): files in ``out_dir`` that ``owned`` does not claim are never touched."""
    with staged_output(out_dir, overwrite=overwrite, command="timer1 model tiny", owned=owned) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        for name, text in files.items():
            (tmp / name).write_text(text)
        (tmp / TINY_MARKER).write_text(json.dumps(
            {**marker, "parameters": sum(p.numel() for p in model.parameters())}, indent=2) + "\n")
        for f in tmp.iterdir():
            make_readable(f)  # safetensors writes 0600; the model is meant to be shared
    return Path(out_dir)


def build_tiny_model(out_dir, seed: int = 0, hidden_size: int = 64, num_heads: int = 4,
                     model_type: str = DEFAULT_MODEL_TYPE) -> Path:
    """Build, save and return a tiny random model folder of ``model_type`` (replaces ``out_dir`` atomically)."""
    return adapter_class(model_type).build_tiny(out_dir, seed=seed, hidden_size=hidden_size, num_heads=num_heads)

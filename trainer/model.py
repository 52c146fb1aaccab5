"""Loading the policy: a supported family's weights, tokenizer, Time-R1's frozen vision tower, optional LoRA."""

from __future__ import annotations

from pathlib import Path

from tvgbench.core.errors import Timer1Error
from tvgbench.models import adapter_class, adapter_for

# LoRA on the language model only; the vision tower's linear layers share some of these names
LORA_TARGET_REGEX = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16", "auto": "auto"}


def freeze_vision(model, train_merger: bool = True) -> None:
    """Time-R1's ``--fix_vit``: the vision encoder is frozen, its projector (patch merger) and the LLM train."""
    encoder, projector = adapter_for(model.config).vision_parts(model)
    encoder.requires_grad_(False)
    if train_merger:
        projector.requires_grad_(True)


def load_policy(path: str, dtype: str = "float32", attn_implementation: str | None = None):
    """(model, tokenizer) from a local folder or Hub id; a clear one-line error when it cannot load."""
    import torch
    from transformers import AutoConfig, AutoTokenizer

    if dtype not in DTYPES:
        raise Timer1Error(f"model.dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    kwargs = {"dtype": dtype if dtype == "auto" else getattr(torch, dtype)}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    try:
        model_type = AutoConfig.from_pretrained(path).model_type
        tok = AutoTokenizer.from_pretrained(path)
        model = adapter_class(model_type, repr(path)).model_class().from_pretrained(path, **kwargs)
    except (OSError, ValueError) as e:
        where = "folder" if Path(path).exists() else "model id"
        raise Timer1Error(f"cannot load the model {where} {path!r}: {str(e).splitlines()[0]}") from None
    return model, tok


def lora_config(r: int, alpha: int, dropout: float, target_regex: str | None = None):
    from peft import LoraConfig

    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_regex or LORA_TARGET_REGEX,
                      task_type="CAUSAL_LM")

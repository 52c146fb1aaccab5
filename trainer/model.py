"""Loading the policy: a supported family's weights, tokenizer, Time-R1's frozen vision tower, optional LoRA."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from tvgbench.core.errors import Timer1Error
from tvgbench.models import adapter_class, adapter_for
from tvgbench.models.base import peft_base
from tvgbench.models.hub import parse_hub_spec, resolve_model

# LoRA on the language model only; the vision tower's linear layers share some of these names
LORA_TARGET_REGEX = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16", "auto": "auto"}


def freeze_vision(model, train_merger: bool = True) -> None:
    """Time-R1's ``--fix_vit``: the vision encoder is frozen, its projector (patch merger) and the LLM train."""
    encoder, projector = adapter_for(model.config).vision_parts(model)
    encoder.requires_grad_(False)
    if train_merger:
        projector.requires_grad_(True)


def check_model_source(path: str, cache_dir=None, offline: bool | None = None) -> None:
    """Fail in one line, before anything heavy loads, when ``model.path`` names no model: a folder needs
    a config.json; an ``ORG/NAME[@REVISION]`` that is no folder is resolved through the Hugging Face cache
    (downloaded when online: :func:`tvgbench.models.hub.resolve_model`, as ``eval run`` and ``predict`` do)."""
    folder = Path(path).expanduser()
    if folder.exists():
        if peft_base(folder) is not None:  # a LoRA adapter folder (an SFT-LoRA final/): its base must load
            return check_model_source(peft_base(folder), cache_dir, offline)
        if not (folder / "config.json").is_file():
            raise Timer1Error(f"model.path {path} is not a model folder (looked for {folder / 'config.json'})")
        return
    if parse_hub_spec(path) is None:
        raise Timer1Error(f"model folder not found: {path} (looked for {folder / 'config.json'})")
    snapshot = Path(resolve_model(path, what="model.path", cache_dir=cache_dir, offline=offline).path)
    if not (snapshot / "config.json").is_file():
        raise Timer1Error(f"model.path {path}: its snapshot {snapshot} has no config.json (looked for "
                          f"{snapshot / 'config.json'}); is it a model repository?")


def choose_attention(requested: str | None, *, cuda: bool, flash_attn_installed: bool) -> tuple[str | None, str | None]:
    """(attention implementation to load, notice or None). FlashAttention-2 runs on CUDA only: on a CPU
    the GPU recipes get SDPA (the same attention, computed differently) and a notice saying so."""
    if requested != "flash_attention_2":
        return requested, None
    if not cuda:
        return "sdpa", ("notice: model.attn_implementation=flash_attention_2 needs a CUDA GPU; using sdpa on this "
                        "machine (set model.attn_implementation=sdpa to keep this quiet)")
    if not flash_attn_installed:
        raise Timer1Error("model.attn_implementation=flash_attention_2 needs the flash-attn package "
                          "(pip install flash-attn), or pass --set model.attn_implementation=sdpa")
    return requested, None


def load_policy(path: str, dtype: str = "float32", attn_implementation: str | None = None):
    """(model, tokenizer) from a local folder or Hub id; a clear one-line error when it cannot load."""
    import torch
    from transformers import AutoConfig, AutoTokenizer

    if dtype not in DTYPES:
        raise Timer1Error(f"model.dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    kwargs = {"dtype": dtype if dtype == "auto" else getattr(torch, dtype)}
    has_flash_attn = importlib.util.find_spec("flash_attn") is not None
    attn_implementation, notice = choose_attention(attn_implementation, cuda=torch.cuda.is_available(),
                                                   flash_attn_installed=has_flash_attn)
    if notice:
        print(notice, file=sys.stderr)
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    path = resolve_model(path, what="model.path").path  # a Hub id: its snapshot folder in the HF cache
    try:
        model_type = AutoConfig.from_pretrained(path).model_type
        tok = AutoTokenizer.from_pretrained(path)
        model = adapter_class(model_type, repr(path)).model_class().from_pretrained(path, **kwargs)
    except (OSError, ValueError) as e:
        where = "folder" if Path(path).exists() else "model id"
        raise Timer1Error(f"cannot load the model {where} {path!r}: {str(e).splitlines()[0]}") from None
    return model, tok


def merge_adapter(adapter_dir, dest) -> Path:
    """A LoRA adapter folder merged into its base (adapter_config.json's ``base_model_name_or_path``) and saved
    whole in ``dest`` with the adapter folder's tokenizer: a plain checkpoint (vLLM, GRPO's reference model)."""
    from peft import PeftModel
    from transformers import AutoConfig, AutoTokenizer

    base = resolve_model(peft_base(adapter_dir), what=f"the base model of {adapter_dir}").path
    try:
        model_class = adapter_class(AutoConfig.from_pretrained(base).model_type, repr(base)).model_class()
        model = PeftModel.from_pretrained(model_class.from_pretrained(base, dtype="auto"), str(adapter_dir))
    except (OSError, ValueError) as e:
        raise Timer1Error(f"cannot load the adapter {adapter_dir} on {base}: {str(e).splitlines()[0]}") from None
    dest = Path(dest)
    model.merge_and_unload().save_pretrained(dest)
    AutoTokenizer.from_pretrained(adapter_dir).save_pretrained(dest)
    return dest


def lora_config(r: int, alpha: int, dropout: float, target_regex: str | None = None,
                modules_to_save: list[str] | None = None):
    """LoRA on ``target_regex``; ``modules_to_save``: modules trained whole beside the adapter (and saved in it)."""
    from peft import LoraConfig

    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_regex or LORA_TARGET_REGEX,
                      task_type="CAUSAL_LM", modules_to_save=modules_to_save or None)


def projector_names(model) -> list[str]:
    """Qualified names of the vision projector's modules (Qwen's merger, Qwen3-VL's deepstack mergers too):
    what LoRA trains whole, as full fine-tuning trains the merger (``freeze_vision(train_merger=True)``)."""
    _, projector = adapter_for(model.config).vision_parts(model)
    by_id = {id(module): name for name, module in model.named_modules()}
    import torch

    # a ModuleList built to hold several projectors (Qwen3-VL) is no submodule itself: its members are
    grouped = isinstance(projector, torch.nn.ModuleList) and id(projector) not in by_id
    parts = list(projector) if grouped else [projector]
    names = [by_id[id(p)] for p in parts if id(p) in by_id]
    if len(names) != len(parts):
        raise Timer1Error(f"{type(model).__name__}: the vision projector is not a submodule; cannot train it with LoRA")
    return names


def restore_full_checkpoint(target, checkpoint) -> bool:
    """Restore a full-model checkpoint through ``from_pretrained``'s key mapping; False when it is not one
    (an adapter checkpoint, or a PEFT model: the upstream Trainer path handles those).

    transformers 5.17's Trainer resumes with a plain ``load_state_dict(strict=False)``, but
    ``save_pretrained`` wrote Qwen2.5-VL's legacy key names (``model.layers.*``, ``visual.*``), so
    no weight matched and the run silently went on from the initial weights.
    ``tests/test_trainer_cli.py`` pins the upstream behaviour so this can go when it is fixed.
    """
    ckpt = Path(checkpoint)
    full_model = (ckpt / "model.safetensors").exists() or (ckpt / "model.safetensors.index.json").exists()
    if not full_model or hasattr(target, "peft_config"):
        return False
    dtype = next(target.parameters()).dtype
    restored = type(target).from_pretrained(ckpt, dtype=dtype).state_dict()
    result = target.load_state_dict(restored, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise Timer1Error(f"checkpoint {ckpt} does not match the model: missing {result.missing_keys[:3]}, "
                          f"unexpected {result.unexpected_keys[:3]}")
    return True

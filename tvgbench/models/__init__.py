"""Model families behind one adapter interface (:mod:`.base`), looked up by config.json's ``model_type``.

    from tvgbench.models import adapter_for
    adapter = adapter_for(model.config)          # Qwen25VLAdapter for a Qwen2.5-VL checkpoint
    video = adapter.video_inputs(sampled)         # pixels + what the prompt needs
    ids = tokenizer(adapter.expand_prompt(text, video)).input_ids
    out = model.generate(input_ids=..., **adapter.video_kwargs([video], input_ids))

Importing this package loads no family: each registers itself when first asked for (``base.FAMILIES``).
"""

from tvgbench.models.base import (
    FAMILIES, ChatTokens, ModelAdapter, adapter_class, adapter_for, model_types, read_model_type, register,
)


def __getattr__(name: str):
    # the family adapters by class name, loaded on first use
    if name == "Qwen25VLAdapter":
        return adapter_class("qwen2_5_vl")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FAMILIES", "ChatTokens", "ModelAdapter", "Qwen25VLAdapter", "adapter_class", "adapter_for", "model_types",
           "read_model_type", "register"]

"""Model families behind one adapter interface (:mod:`.base`), looked up by config.json's ``model_type``.

    from tvgbench.models import adapter_for
    adapter = adapter_for(model.config)          # Qwen25VLAdapter for a Qwen2.5-VL checkpoint
    video = adapter.video_inputs(sampled)         # pixels + what the prompt needs
    ids = tokenizer(adapter.expand_prompt(text, video)).input_ids
    out = model.generate(input_ids=..., **adapter.video_kwargs([video], input_ids))

Importing this package loads no heavy library; each family registers itself on import.
"""

from tvgbench.models.base import ChatTokens, ModelAdapter, adapter_class, adapter_for, model_types, read_model_type, register
from tvgbench.models.qwen2_5_vl import Qwen25VLAdapter

__all__ = ["ChatTokens", "ModelAdapter", "Qwen25VLAdapter", "adapter_class", "adapter_for", "model_types",
           "read_model_type", "register"]

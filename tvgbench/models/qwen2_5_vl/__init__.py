"""Qwen2.5-VL: chat layout (:mod:`.chat`), model inputs (:mod:`.inputs`, :mod:`.vllm_inputs`), the
transformers fixes (:mod:`.compat`), the tiny model (:mod:`.tiny`), all behind :mod:`.adapter`."""

from tvgbench.models.qwen2_5_vl.adapter import Qwen25VLAdapter
from tvgbench.models.qwen2_5_vl.chat import TOKENS, VIDEO_PAD
from tvgbench.models.qwen2_5_vl.inputs import expand_pad_ids, expand_video_pads, qwen_video_inputs

__all__ = ["TOKENS", "VIDEO_PAD", "Qwen25VLAdapter", "expand_pad_ids", "expand_video_pads", "qwen_video_inputs"]

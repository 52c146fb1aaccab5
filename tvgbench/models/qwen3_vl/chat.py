"""Qwen3-VL's chat layout: the Qwen2-VL special tokens, and a template without a default system turn.

The template renders one ``<|vision_start|><|video_pad|><|vision_end|>`` per video, as the official
one does; timer1 replaces the pad by the per-frame timestamps and pads itself (:mod:`.inputs`).
"""

from __future__ import annotations

from tvgbench.models.qwen2_5_vl.chat import TOKENS

# Qwen3-VL's template, dispatching only on ``content['type']`` (see qwen2_5_vl.chat for why); unlike
# Qwen2.5-VL's it adds no "You are a helpful assistant." system turn.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

__all__ = ["CHAT_TEMPLATE", "TOKENS"]

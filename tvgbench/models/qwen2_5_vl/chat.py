"""Qwen2.5-VL's chat layout: its special tokens and the chat template (the Qwen2-VL format).

The template renders one ``<|vision_start|><|video_pad|><|vision_end|>`` per video; timer1 expands
the pad to the video's token count itself (:mod:`.inputs`) instead of through the HF processor.
"""

from __future__ import annotations

from tvgbench.models.base import ChatTokens

VIDEO_PAD = "<|video_pad|>"
IMAGE_PAD = "<|image_pad|>"
VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"
IM_START, IM_END, END_OF_TEXT = "<|im_start|>", "<|im_end|>", "<|endoftext|>"

TOKENS = ChatTokens(video_pad=VIDEO_PAD, image_pad=IMAGE_PAD, vision_start=VISION_START, vision_end=VISION_END,
                    stop=(IM_END, END_OF_TEXT))

# Qwen2.5-VL's special tokens, in the order the real tokenizer adds them.
SPECIAL_TOKENS = [
    IM_START, IM_END, "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>",
    "<|quad_start|>", "<|quad_end|>", VISION_START, VISION_END, "<|vision_pad|>", IMAGE_PAD, VIDEO_PAD,
]

# The Qwen2-VL chat format, dispatching only on ``content['type']``: the official template's
# ``'video' in content`` test misfires on ``datasets`` rows where every part carries every key.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

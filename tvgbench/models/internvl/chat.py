"""InternVL3 / InternVL3.5's chat layout (the ``-hf`` checkpoints): special tokens and chat template.

The language model is Qwen2.5's (``<|im_start|>``/``<|im_end|>``); the vision tokens are InternVL's:
each image (here: each frame) is ``<img>`` + ``image_seq_length`` × ``<IMG_CONTEXT>`` + ``</img>``.
The template writes one ``<video>`` placeholder per video, as transformers' InternVL template does;
timer1 replaces it by the frames with their times (:mod:`.inputs`), where transformers'
``InternVLProcessor.replace_video_token`` writes ``Frame{i}: <img>…</img>`` with no time at all.
"""

from __future__ import annotations

from tvgbench.models.base import ChatTokens

VIDEO_TOKEN = "<video>"  # the one placeholder per video the template renders
IMAGE_CONTEXT = "<IMG_CONTEXT>"  # config.image_token_id: one per vision feature
IMAGE_START, IMAGE_END = "<img>", "</img>"
IM_START, IM_END, END_OF_TEXT = "<|im_start|>", "<|im_end|>", "<|endoftext|>"

TOKENS = ChatTokens(video_pad=VIDEO_TOKEN, image_pad=IMAGE_CONTEXT, vision_start=IMAGE_START,
                    vision_end=IMAGE_END, stop=(IM_END, END_OF_TEXT))

# InternVL's tokens on top of Qwen2.5's, in the order the -hf tokenizers add them (<video> last: the -hf
# conversion names it as the processor's video token)
SPECIAL_TOKENS = [IMAGE_START, IMAGE_END, IMAGE_CONTEXT, "<quad>", "</quad>", "<ref>", "</ref>", "<box>", "</box>",
                  VIDEO_TOKEN]
# what transformers' InternVLProcessor reads from the tokenizer (``tokenizer.start_image_token`` ...)
EXTRA_SPECIAL_TOKENS = {"start_image_token": IMAGE_START, "end_image_token": IMAGE_END,
                        "context_image_token": IMAGE_CONTEXT, "video_token": VIDEO_TOKEN}

# transformers' InternVL template (``<IMG_CONTEXT>\n`` / ``<video>\n`` per part), dispatching only on
# ``content['type']`` (``datasets`` rows carry every key in every part)
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}{{ '<IMG_CONTEXT>\n' }}"
    "{% elif content['type'] == 'video' %}{{ '<video>\n' }}"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

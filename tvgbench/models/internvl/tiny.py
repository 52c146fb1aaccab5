"""A tiny random-initialised InternVL (the ``-hf`` layout, Qwen2 text model) that builds and loads offline.

Same architecture, chat format and special tokens as InternVL3/3.5-hf: InternViT vision tower, pixel
shuffle (downsample 0.5), MLP projector, Qwen2 language model; the tokenizer is the Qwen2.5 one of
:mod:`tvgbench.models.qwen2_5_vl.tiny` (InternVL3's text model is Qwen2.5's) plus InternVL's tokens
(``<img>``, ``</img>``, ``<IMG_CONTEXT>``, ``<video>``...). The tile is 56×56 instead of 448×448
(4 vision tokens per frame instead of 256), so a video fits in a CPU test.

``head_dim`` is at least 32 (vLLM's attention kernels need it), whatever ``hidden_size / num_heads``
gives: Qwen2 takes an explicit ``head_dim``. The processor files (``preprocessor_config.json``,
``video_preprocessor_config.json``, ``processor_config.json``) are plain JSON for stacks that build
transformers' processor (vLLM, the equality test); timer1 itself never needs them.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from tvgbench.core.outdir import Owned, owned_files
from tvgbench.models.internvl.chat import CHAT_TEMPLATE, END_OF_TEXT, EXTRA_SPECIAL_TOKENS, IM_END, SPECIAL_TOKENS
from tvgbench.models.internvl.inputs import IMAGENET_MEAN, IMAGENET_STD
from tvgbench.models.qwen2_5_vl import tiny as qwen_tiny
from tvgbench.models.tiny import TINY_MARKER, greedy_generation, save_tiny_model
TINY_FILES = (*qwen_tiny.TINY_FILES, "processor_config.json")
TILE, PATCH_SIZE, DOWNSAMPLE = 56, 14, 0.5
IMAGE_SEQ_LENGTH = int((TILE // PATCH_SIZE) ** 2 * DOWNSAMPLE**2)  # 4 tokens per frame
MIN_HEAD_DIM = 32
INIT_RANGE = qwen_tiny.INIT_RANGE  # wide, so greedy text varies with the video


def build_tokenizer(seed: int = 0):
    """Qwen2.5's tiny byte-level BPE with InternVL's tokens, template and processor token names."""
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        qwen_tiny.build_tokenizer(seed).save_pretrained(tmp)
        # named tokens through from_pretrained, as transformers' InternVL conversion does: saved as
        # model_specific_special_tokens, read back as tokenizer.start_image_token etc. by InternVLProcessor
        tok = AutoTokenizer.from_pretrained(tmp, extra_special_tokens=EXTRA_SPECIAL_TOKENS)
    tok.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS}, replace_extra_special_tokens=False)
    tok.chat_template = CHAT_TEMPLATE
    return tok


def tiny_config(tok, hidden_size: int = 64, num_heads: int = 4):
    from transformers import InternVLConfig

    if hidden_size < 1 or num_heads < 1 or hidden_size % num_heads:
        raise ValueError(f"hidden_size {hidden_size} must be a multiple of num_heads {num_heads}")
    head_dim = max(MIN_HEAD_DIM, hidden_size // num_heads)
    ids = {t: tok.convert_tokens_to_ids(t) for t in (*SPECIAL_TOKENS, END_OF_TEXT, IM_END)}
    return InternVLConfig(
        vision_config=dict(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=1, intermediate_size=64,
            image_size=TILE, patch_size=PATCH_SIZE, initializer_range=INIT_RANGE,
        ),
        text_config=dict(
            model_type="qwen2", vocab_size=len(tok), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
            num_hidden_layers=2, num_attention_heads=num_heads, num_key_value_heads=max(1, num_heads // 2),
            head_dim=head_dim, max_position_embeddings=32768, rope_parameters={"rope_type": "default", "rope_theta": 1e6},
            bos_token_id=ids[END_OF_TEXT], eos_token_id=ids[IM_END], pad_token_id=ids[END_OF_TEXT],
            tie_word_embeddings=True, initializer_range=INIT_RANGE,
        ),
        image_token_id=ids["<IMG_CONTEXT>"], image_seq_length=IMAGE_SEQ_LENGTH, downsample_ratio=DOWNSAMPLE,
        video_token_id=ids["<video>"],  # not an InternVLConfig field: the adapter reads it when present
        tie_word_embeddings=True,
    )


def _processor_configs() -> dict[str, dict]:
    pixels = {"do_convert_rgb": True, "do_normalize": True, "do_rescale": True, "do_resize": True,
              "image_mean": list(IMAGENET_MEAN), "image_std": list(IMAGENET_STD), "rescale_factor": 1 / 255,
              "resample": 3, "size": {"height": TILE, "width": TILE}}
    return {
        "preprocessor_config.json": {**pixels, "image_processor_type": "GotOcr2ImageProcessor",
                                     "processor_class": "InternVLProcessor", "crop_to_patches": False,
                                     "min_patches": 1, "max_patches": 12},
        "video_preprocessor_config.json": {**pixels, "video_processor_type": "InternVLVideoProcessor",
                                           "processor_class": "InternVLProcessor", "do_sample_frames": False,
                                           "initial_shift": True},
        "processor_config.json": {"processor_class": "InternVLProcessor", "image_seq_length": IMAGE_SEQ_LENGTH},
    }


def tiny_ownership(out: Path) -> Owned:
    """An earlier tiny model in ``out`` (its marker file says so): its files are replaced."""
    if not (out / TINY_MARKER).is_file():
        return Owned()
    names = [*TINY_FILES, *(p.name for p in out.glob("model-*-of-*.safetensors"))]
    return Owned(owned_files(out, names), prune=True)


def build_tiny_model(out_dir, seed: int = 0, hidden_size: int = 64, num_heads: int = 4, *,
                     overwrite: bool = True) -> Path:
    """Build, save and return a tiny random InternVL folder (built beside, swapped in: :mod:`tvgbench.core.outdir`)."""
    import torch
    from transformers import InternVLForConditionalGeneration

    tok = build_tokenizer(seed)
    cfg = tiny_config(tok, hidden_size, num_heads)
    torch.manual_seed(seed)
    model = InternVLForConditionalGeneration(cfg).eval()
    greedy_generation(model, tok, (IM_END, END_OF_TEXT))
    files = {name: json.dumps(content, indent=2) + "\n" for name, content in _processor_configs().items()}
    files["chat_template.jinja"] = CHAT_TEMPLATE
    marker = {"family": "internvl", "seed": seed, "hidden_size": hidden_size, "num_heads": num_heads}
    return save_tiny_model(out_dir, model, tok, files=files, marker=marker, owned=tiny_ownership, overwrite=overwrite)

"""A tiny random-initialised Qwen2.5-VL that builds and loads fully offline.

Used by the tests, the quick start and the trainer's CPU recipe: same architecture, chat format and
special tokens as the real checkpoints, a few hundred KB on disk, no network and no torchvision.

What the folder holds (all loadable with ``from_pretrained`` and ``HF_HUB_OFFLINE=1``):
``config.json`` + ``generation_config.json`` + ``model.safetensors`` (the model), ``tokenizer.json`` +
``tokenizer_config.json`` + ``chat_template.jinja`` (a byte-level BPE trained here on generated
grounding text), and ``preprocessor_config.json`` / ``video_preprocessor_config.json`` (the Qwen2-VL
pixel settings, written as plain JSON so that GPU stacks such as vLLM can build their processor;
timer1's own pipeline does its pixel work in :mod:`.inputs` and never needs torchvision).

``head_dim = hidden_size / num_heads``: the default 64/4 gives 16, enough for transformers on CPU;
vLLM's attention kernels need ``head_dim >= 32`` (e.g. ``--hidden-size 128 --num-heads 2``).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from tvgbench.core.outdir import Owned, owned_files
from tvgbench.models.prompts import PRESETS, TIME_R1_PRESETS
from tvgbench.models.qwen2_5_vl.chat import (
    CHAT_TEMPLATE, END_OF_TEXT, IMAGE_PAD, IM_END, SPECIAL_TOKENS, VIDEO_PAD, VISION_END, VISION_START,
)
from tvgbench.models.qwen2_5_vl.inputs import CLIP_MEAN, CLIP_STD
from tvgbench.models.tiny import TINY_MARKER, greedy_generation, save_tiny_model

# what save_pretrained and this module write (plus files older transformers versions wrote)
TINY_FILES = (
    "config.json", "generation_config.json", "model.safetensors", "model.safetensors.index.json",
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json",
    "merges.txt", "chat_template.jinja", "chat_template.json", "preprocessor_config.json",
    "video_preprocessor_config.json", TINY_MARKER,
)
# Qwen2-VL pixel constants (shared by the image and the video processor config).
PIXEL_MEAN, PIXEL_STD = list(CLIP_MEAN), list(CLIP_STD)
PATCH_SIZE, TEMPORAL_PATCH_SIZE, MERGE_SIZE = 14, 2, 2
# Wider than transformers' 0.02 so the random model's greedy text varies with the video (at 0.02 it
# repeats one token whatever it sees, which would hide mixed-up outputs in tests).
INIT_RANGE = 0.2

_WORDS = (
    "person man woman girl boy dog cat ball door chair table cup phone book car red green blue "
    "opens closes walks runs sits stands picks puts takes holds turns plays eats drinks throws catches "
    "the a an in on at of to and with video event screen color scene time period seconds start end "
    "analysis thought process precise determine pinpoint accurately between during after before"
).split()


def _training_lines(rng: random.Random, n: int = 3000) -> list[str]:
    """Text shaped like what the tiny model will read and write: queries, reasoning, answers."""
    lines = [PRESETS[name].replace("{}", "a person opens the door") for name in TIME_R1_PRESETS]
    for _ in range(n):
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 9)))
        a = round(rng.uniform(0, 120), 2)
        b = round(a + rng.uniform(0.5, 30), 2)
        lines.append(
            f"<think>{words} <timestep>{a:.2f} to {b:.2f}</timestep></think> <answer>{a:.2f} to {b:.2f}</answer>"
        )
        lines.append(f"To accurately pinpoint the event \"{words}\" in the video. ({chr(65 + rng.randint(0, 4))}) {words}")
    return lines


def build_tokenizer(seed: int = 0, vocab_size: int = 512):
    """A byte-level BPE with Qwen's special tokens and chat template (any text encodes)."""
    from transformers import Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[END_OF_TEXT], show_progress=False,
    )
    bpe.train_from_iterator(_training_lines(random.Random(seed)), trainer=trainer)
    model = json.loads(bpe.to_str())["model"]
    # transformers 5 wants merges as tuples (strings raise "failed to extract enum PyMerges")
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    tok = Qwen2Tokenizer(vocab=model["vocab"], merges=merges, unk_token=END_OF_TEXT,
                         eos_token=IM_END, pad_token=END_OF_TEXT)
    tok.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS})
    tok.chat_template = CHAT_TEMPLATE
    return tok


def _mrope_section(head_dim: int) -> list[int]:
    """Qwen2.5-VL splits the rotary half-dimension 2:3:3 over (time, height, width)."""
    half = head_dim // 2
    t = half // 4
    h = (half - t) // 2
    return [t, h, half - t - h]


def tiny_config(tok, hidden_size: int = 64, num_heads: int = 4):
    from transformers import Qwen2_5_VLConfig

    if hidden_size < 1 or num_heads < 1 or hidden_size % num_heads or (hidden_size // num_heads) % 4:
        raise ValueError(f"hidden_size {hidden_size} / num_heads {num_heads} must give a head_dim divisible by 4")
    head_dim = hidden_size // num_heads
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS + [END_OF_TEXT]}
    return Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=len(tok), hidden_size=hidden_size, intermediate_size=2 * hidden_size, num_hidden_layers=2,
            num_attention_heads=num_heads, num_key_value_heads=max(1, num_heads // 2), max_position_embeddings=32768,
            rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": _mrope_section(head_dim)},
            bos_token_id=ids[END_OF_TEXT], eos_token_id=ids[IM_END], pad_token_id=ids[END_OF_TEXT],
            tie_word_embeddings=True, initializer_range=INIT_RANGE,
        ),
        vision_config=dict(
            depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=PATCH_SIZE,
            spatial_merge_size=MERGE_SIZE, temporal_patch_size=TEMPORAL_PATCH_SIZE, window_size=112,
            out_hidden_size=hidden_size, fullatt_block_indexes=[1], tokens_per_second=2, initializer_range=INIT_RANGE,
        ),
        image_token_id=ids[IMAGE_PAD], video_token_id=ids[VIDEO_PAD],
        vision_start_token_id=ids[VISION_START], vision_end_token_id=ids[VISION_END],
        tie_word_embeddings=True, initializer_range=INIT_RANGE,
    )


def _processor_configs() -> tuple[dict, dict]:
    common = {
        "do_convert_rgb": True, "do_normalize": True, "do_rescale": True, "do_resize": True,
        "image_mean": PIXEL_MEAN, "image_std": PIXEL_STD, "rescale_factor": 1 / 255, "resample": 3,
        "patch_size": PATCH_SIZE, "temporal_patch_size": TEMPORAL_PATCH_SIZE, "merge_size": MERGE_SIZE,
    }
    image = {**common, "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2_5_VLProcessor",
             "size": {"shortest_edge": 4 * 28 * 28, "longest_edge": 16384 * 28 * 28}}
    video = {**common, "video_processor_type": "Qwen2VLVideoProcessor", "processor_class": "Qwen2_5_VLProcessor",
             "size": {"shortest_edge": 128 * 28 * 28, "longest_edge": 768 * 28 * 28},
             "do_sample_frames": False, "fps": 2.0, "min_frames": 4, "max_frames": 768}
    return image, video


def tiny_ownership(out: Path) -> Owned:
    """An earlier tiny model in ``out`` (its ``timer1_tiny.json`` says so): its files are replaced."""
    if not (out / TINY_MARKER).is_file():
        return Owned()
    names = [*TINY_FILES, *(p.name for p in out.glob("model-*-of-*.safetensors"))]
    return Owned(owned_files(out, names), prune=True)  # deterministic from its settings: nothing is lost


def build_tiny_model(out_dir, seed: int = 0, hidden_size: int = 64, num_heads: int = 4, *,
                     overwrite: bool = True) -> Path:
    """Build, save and return a tiny random Qwen2.5-VL folder.

    The model's files appear together or not at all (:mod:`tvgbench.core.outdir`); files in ``out_dir``
    that are not an earlier tiny model's are never touched, and ``overwrite=False`` refuses a folder
    holding any.
    """
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    tok = build_tokenizer(seed)
    cfg = tiny_config(tok, hidden_size, num_heads)
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(cfg).eval()
    greedy_generation(model, tok, (IM_END, END_OF_TEXT))
    image_cfg, video_cfg = _processor_configs()
    files = {"preprocessor_config.json": json.dumps(image_cfg, indent=2) + "\n",
             "video_preprocessor_config.json": json.dumps(video_cfg, indent=2) + "\n",
             "chat_template.jinja": CHAT_TEMPLATE}
    marker = {"seed": seed, "hidden_size": hidden_size, "num_heads": num_heads}
    return save_tiny_model(out_dir, model, tok, files=files, marker=marker, owned=tiny_ownership, overwrite=overwrite)


"""The one place where timer1 corrects transformers' Qwen2.5-VL for video time (instance-level, never global).

transformers 5.17's ``Qwen2_5_VLModel.get_rope_index`` spaces video frames by
``tokens_per_second * int(second_per_grid_t)``: it truncates ``second_per_grid_t`` *before* scaling.
Qwen2.5-VL (and vLLM) compute ``floor(t * second_per_grid_t * tokens_per_second)``. The two agree
only when ``second_per_grid_t`` is a whole number. Time-R1's sampler often gives a ``sample_fps`` a
little above 2 (e.g. 22 frames from 10.5 s → 2.095 fps → 0.955 s per grid), where the truncation
gives 0 and puts *every* frame at the same time position; above 384 s (``sample_fps`` < 2) it
compresses time instead. It also resumes the text after a video at ``max(h, w) / merge`` past the
block start, while Qwen2.5-VL (and vLLM) resume at the block's largest position + 1, time included, so
every prompt token after a multi-frame video sits at a different position than in training.
:func:`use_exact_video_time` binds, on the loaded model's inner module only, a ``get_rope_index``
that computes the positions the real model was trained with.

:func:`use_linear_patch_embed` is a speed fix, not a correctness one: the vision patch embedding is a
``Conv3d`` whose kernel equals its stride, i.e. one matrix product over flattened patches, and
PyTorch's convolution path for it is slow (2.4x slower than the GEMM on CPU for the tiny model's
batches; far worse with some cuDNN/bf16 combinations, transformers issue #45750). vLLM runs it as a
GEMM too. transformers 5.17 offers the same through ``fusion_config={"patch_embeddings": True}``,
but that registers class replacements and weight converters process-wide; this stays on one instance
and keeps the weights where they are (state dicts and checkpoints are unchanged).

``tests/test_harness_qwen_compat.py`` fails when upstream changes either behaviour, so a fix can go.
"""

from __future__ import annotations

import itertools
import types


def exact_get_rope_index(self, input_ids, mm_token_type_ids, image_grid_thw=None, video_grid_thw=None,
                      second_per_grid_ts=None, attention_mask=None, **kwargs):
    """3-D M-RoPE positions: text advances by 1; a vision block takes (t, h, w) grid positions."""
    import torch

    merge = self.config.vision_config.spatial_merge_size
    tokens_per_second = self.config.vision_config.tokens_per_second
    positions = torch.zeros(3, *input_ids.shape, dtype=input_ids.dtype, device=input_ids.device)
    grids = {1: iter(image_grid_thw if image_grid_thw is not None else []),
             2: iter(video_grid_thw if video_grid_thw is not None else [])}
    seconds = iter(second_per_grid_ts.tolist() if second_per_grid_ts is not None else [])
    deltas = []
    for b in range(input_ids.shape[0]):
        keep = attention_mask[b].bool() if attention_mask is not None else torch.ones_like(input_ids[b], dtype=torch.bool)
        kinds = mm_token_type_ids[b][keep].tolist()
        parts, cursor = [], 0
        for kind, run in itertools.groupby(kinds):
            length = len(list(run))
            if kind == 0:
                parts.append(torch.arange(length, device=input_ids.device).expand(3, -1) + cursor)
                cursor += length
                continue
            t, h, w = (int(v) for v in next(grids[kind]))
            h, w = h // merge, w // merge
            step = next(seconds, 1.0) * tokens_per_second if kind == 2 else 1.0
            tt = (torch.arange(t, device=input_ids.device, dtype=torch.float64) * step).long()
            grid = torch.stack(torch.meshgrid(tt, torch.arange(h, device=input_ids.device),
                                              torch.arange(w, device=input_ids.device), indexing="ij"))
            block = grid.reshape(3, -1) + cursor
            parts.append(block)
            cursor = int(block.max()) + 1  # text resumes after the block's largest position, time included
        seq = torch.cat(parts, dim=1)
        positions[:, b, keep] = seq.to(positions.dtype)
        deltas.append(int(seq.max()) + 1 - len(kinds))
    return positions, torch.tensor(deltas, device=input_ids.device).unsqueeze(1)


def use_exact_video_time(model):
    """Give this loaded Qwen2.5-VL instance exact video time positions (no other model is touched).

    Finds the inner ``Qwen2_5_VL*Model`` through any wrapper (PEFT, accelerate, a training engine),
    so the trainer's policy and reference model get the same positions as the evaluation backends.
    """
    if model is None:
        return model
    for module in model.modules():
        if type(module).__name__.startswith("Qwen2_5_VL") and hasattr(type(module), "get_rope_index"):
            module.get_rope_index = types.MethodType(exact_get_rope_index, module)
    return model


def has_exact_video_time(module) -> bool:
    bound = module.__dict__.get("get_rope_index")
    return bound is not None and getattr(bound, "__func__", None) is exact_get_rope_index


def linear_patch_embed_forward(self, hidden_states):
    """The patch embedding as the GEMM it is: (N, C·T·P·P) @ W(D, C·T·P·P)^T, same weights as ``proj``."""
    import torch.nn.functional as F

    weight = self.proj.weight
    flat = hidden_states.reshape(-1, weight[0].numel()).to(weight.dtype)
    return F.linear(flat, weight.reshape(weight.shape[0], -1), self.proj.bias).view(-1, self.embed_dim)


def _is_patchify_conv(proj) -> bool:
    from torch import nn

    return (type(proj) is nn.Conv3d and tuple(proj.stride) == tuple(proj.kernel_size)
            and tuple(proj.padding) == (0, 0, 0) and tuple(proj.dilation) == (1, 1, 1) and proj.groups == 1)


def use_linear_patch_embed(model):
    """Run this loaded model's vision patch embedding as a linear layer (this instance only).

    Applies to modules named ``*PatchEmbed`` whose ``proj`` is a non-overlapping ``Conv3d``; anything
    else (a LoRA-wrapped ``proj``, a future upstream linear) is left as it is.
    """
    if model is None:
        return model
    for module in model.modules():
        if type(module).__name__.endswith("PatchEmbed") and _is_patchify_conv(getattr(module, "proj", None)):
            module.forward = types.MethodType(linear_patch_embed_forward, module)
    return model


def has_linear_patch_embed(model) -> bool:
    return any(getattr(m.__dict__.get("forward"), "__func__", None) is linear_patch_embed_forward
               for m in model.modules())

"""The exact video-time M-RoPE fix (tvgbench.models.qwen2_5_vl.compat) and the upstream behaviour it corrects."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from transformers import Qwen2_5_VLForConditionalGeneration

    return Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()


def _inputs(model, t=4):
    vid = model.config.video_token_id
    n = t * 4 * 4 // 4  # grid (t, 4, 4), merge 2 -> 4 tokens per temporal step
    ids = torch.tensor([[0, 0, 5, 6] + [vid] * n + [8, 9], [1, 2, 5, 6] + [vid] * n + [8, 9]])
    mask = torch.ones_like(ids)
    mask[0, :2] = 0  # left padding on row 0
    return ids, mask, (ids == vid).long() * 2, torch.tensor([[t, 4, 4], [t, 4, 4]])


def _time_positions(pos, ids, vid):
    return pos[0, 1][ids[1] == vid].view(-1, 4)[:, 0].tolist()  # first token of each temporal step, row 1


def test_upstream_still_truncates_second_per_grid(tiny):
    """Fails when transformers stops truncating: then tvgbench.models.qwen2_5_vl.compat can be revisited."""
    ids, mask, mm, thw = _inputs(tiny)
    pos, _ = type(tiny.model).get_rope_index(tiny.model, ids, mm, video_grid_thw=thw,
                                             second_per_grid_ts=torch.tensor([0.9545, 0.9545]), attention_mask=mask)
    # 2 fps·(22/21): Qwen2.5-VL puts frames at floor(t·0.9545·2) = 0, 1, 3, 5 after the text;
    # transformers 5.17 computes 2·int(0.9545) = 0 for every step
    steps = _time_positions(pos, ids, tiny.config.video_token_id)
    assert len(set(steps)) == 1, f"upstream changed: {steps}"


def test_upstream_still_resumes_text_inside_the_video_time_range(tiny):
    """Fails when transformers resumes text after the video's largest position (as Qwen2.5-VL and vLLM do)."""
    ids, mask, mm, thw = _inputs(tiny)
    pos, _ = type(tiny.model).get_rope_index(tiny.model, ids, mm, video_grid_thw=thw,
                                             second_per_grid_ts=torch.tensor([1.0, 1.0]), attention_mask=mask)
    vid = ids[1] == tiny.config.video_token_id
    after = pos[0, 1][-2]  # first text token after the video
    assert int(after) <= int(pos[:, 1][:, vid].max()), "upstream changed: text now starts after the video"


def test_exact_positions_follow_the_qwen_formula(tiny):
    from tvgbench.models.qwen2_5_vl.compat import exact_get_rope_index

    ids, mask, mm, thw = _inputs(tiny)
    for spg in (0.9545, 1.0, 1.5625, 2.0):
        pos, delta = exact_get_rope_index(tiny.model, ids, mm, video_grid_thw=thw,
                                          second_per_grid_ts=torch.tensor([spg, spg]), attention_mask=mask)
        steps = _time_positions(pos, ids, tiny.config.video_token_id)
        start = steps[0]
        assert [s - start for s in steps] == [int(t * spg * 2) for t in range(4)]
        # the text after the video starts right after the block's largest position
        vid = ids[1] == tiny.config.video_token_id
        assert int(pos[0, 1][-2]) == int(pos[:, 1][:, vid].max()) + 1
        # padded row 0 (2 pad tokens, 2 fewer real ones) is row 1 shifted by 2 on its real tokens
        assert torch.equal(pos[:, 0, 2:], pos[:, 1, 2:] - 2)
        assert delta.shape == (2, 1) and int(delta[0]) == int(delta[1])


def test_exact_class_equals_upstream_up_to_the_video_end_for_whole_seconds(tiny):
    """Where upstream is right (whole seconds per grid), the fix agrees up to the end of the video block."""
    from tvgbench.models.qwen2_5_vl.compat import exact_get_rope_index

    ids, mask, mm, thw = _inputs(tiny)
    for spg in (1.0, 2.0):
        kw = dict(video_grid_thw=thw, second_per_grid_ts=torch.tensor([spg, spg]), attention_mask=mask)
        a = type(tiny.model).get_rope_index(tiny.model, ids, mm, **kw)
        b = exact_get_rope_index(tiny.model, ids, mm, **kw)
        assert torch.equal(a[0][..., :-2], b[0][..., :-2])


def test_fix_is_per_instance(tiny_model_dir):
    from transformers import Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLModel

    from tvgbench.models.qwen2_5_vl.compat import has_exact_video_time, use_exact_video_time

    a = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_model_dir)
    b = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_model_dir)
    use_exact_video_time(a)
    assert has_exact_video_time(a.model) and not has_exact_video_time(b.model)
    assert type(a.model) is Qwen2_5_VLModel and type(b.model) is Qwen2_5_VLModel  # classes untouched
    # the fixed model's forward really uses the exact positions (an instance attribute wins over the class)
    assert a.model.get_rope_index.__self__ is a.model
    assert Qwen2_5_VLModel.get_rope_index.__module__.startswith("transformers")


# --- the vision patch embedding as a GEMM ------------------------------------------------------------


def _patch_input(model, n=96, seed=0):
    vision = model.config.vision_config
    width = 3 * vision.temporal_patch_size * vision.patch_size ** 2
    return torch.randn(n, width, generator=torch.Generator().manual_seed(seed))


def test_upstream_patch_embed_is_still_a_conv3d(tiny):
    """Fails when transformers runs the patch embedding as a linear layer itself: then the fix can go."""
    from tvgbench.models.qwen2_5_vl.compat import _is_patchify_conv

    embed = tiny.model.visual.patch_embed
    assert type(embed).forward.__module__.startswith("transformers")
    assert _is_patchify_conv(embed.proj), f"upstream changed: proj is {embed.proj!r}"


def test_linear_patch_embed_equals_the_conv3d(tiny_model_dir):
    from transformers import Qwen2_5_VLForConditionalGeneration

    from tvgbench.models.qwen2_5_vl.compat import has_linear_patch_embed, use_linear_patch_embed

    stock = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    fast = use_linear_patch_embed(Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_model_dir, dtype=torch.float32).eval())
    assert has_linear_patch_embed(fast) and not has_linear_patch_embed(stock)  # per instance
    assert type(fast.model.visual.patch_embed) is type(stock.model.visual.patch_embed)  # class untouched
    assert fast.state_dict().keys() == stock.state_dict().keys()  # weights stay in proj: checkpoints unchanged
    x = _patch_input(stock)
    with torch.no_grad():
        a, b = stock.model.visual.patch_embed(x), fast.model.visual.patch_embed(x)
        assert a.shape == b.shape == (96, stock.config.vision_config.hidden_size)
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)
        assert not torch.equal(a, torch.zeros_like(a))
        # and the whole vision tower on a (t=2, 4x12 patches) video
        grid = torch.tensor([[2, 4, 12]])
        torch.testing.assert_close(fast.model.visual(x, grid_thw=grid).pooler_output,
                                   stock.model.visual(x, grid_thw=grid).pooler_output, rtol=1e-4, atol=1e-5)


def test_linear_patch_embed_trains_the_same_weight(tiny_model_dir):
    """Gradients reach ``proj.weight`` as they do through the Conv3d (the trainer uses this too)."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    from tvgbench.models.qwen2_5_vl.compat import use_linear_patch_embed

    grads = []
    for fast in (False, True):
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_model_dir, dtype=torch.float32)
        if fast:
            use_linear_patch_embed(model)
        embed = model.model.visual.patch_embed
        embed(_patch_input(model, seed=1)).square().sum().backward()
        grads.append(embed.proj.weight.grad.clone())
    assert grads[0].abs().max() > 0
    # float32 sums in another order: equal up to rounding, relative to the gradient's scale
    assert (grads[1] - grads[0]).abs().max() <= 1e-5 * grads[0].abs().max()


def test_linear_patch_embed_leaves_other_projections_alone():
    from torch import nn

    from tvgbench.models.qwen2_5_vl.compat import _is_patchify_conv

    assert _is_patchify_conv(nn.Conv3d(3, 8, kernel_size=(2, 14, 14), stride=(2, 14, 14), bias=False))
    assert not _is_patchify_conv(nn.Conv3d(3, 8, kernel_size=(2, 14, 14), stride=(1, 14, 14)))  # overlapping
    assert not _is_patchify_conv(nn.Conv3d(3, 8, kernel_size=2, stride=2, padding=1))
    assert not _is_patchify_conv(nn.Linear(4, 4)) and not _is_patchify_conv(None)

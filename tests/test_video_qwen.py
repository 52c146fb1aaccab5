"""qwen_video_inputs equals transformers' own Qwen2.5-VL processor on the same frames.

transformers' Qwen2VLVideoProcessor needs torchvision, which exists here only as a CUDA build that
cannot load on CPU torch. The test therefore runs the real processor in a subprocess against a
small *test-only* torchvision stand-in written into a temp folder (torchvision's tensor
``normalize`` algorithm; everything else refuses to run). The frames are already at their final
size, so the processor's resize step is skipped (``do_resize=False``); rescale, normalisation,
temporal padding, patch order, grid, ``second_per_grid_ts`` and the number of ``<|video_pad|>``
tokens all come from transformers' code. Product code never patches anything.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from test_video_support import make_testsrc
from tvgbench.models.qwen2_5_vl import expand_video_pads, qwen_video_inputs
from tvgbench.video import SampledVideo, sample_video
from tvgbench.core.errors import Timer1Error

TV_STANDIN = {
    "__init__.py": '__version__ = "0.28.0"\nfrom . import io, transforms  # noqa\n',
    "io.py": """
        import enum
        class ImageReadMode(enum.Enum):
            UNCHANGED = 0
            GRAY = 1
            GRAY_ALPHA = 2
            RGB = 3
            RGB_ALPHA = 4
        def decode_image(*a, **k):
            raise NotImplementedError("test stand-in")
    """,
    "transforms/__init__.py": """
        import enum
        class InterpolationMode(enum.Enum):
            NEAREST = "nearest"
            NEAREST_EXACT = "nearest-exact"
            BILINEAR = "bilinear"
            BICUBIC = "bicubic"
            BOX = "box"
            HAMMING = "hamming"
            LANCZOS = "lanczos"
        from . import functional, v2  # noqa
    """,
    "transforms/functional.py": "from .v2.functional import pil_to_tensor, InterpolationMode  # noqa\n",
    "transforms/v2/__init__.py": "from . import functional  # noqa\n",
    "transforms/v2/functional.py": """
        import numpy as np
        import torch
        from .. import InterpolationMode
        def pil_to_tensor(pic):
            return torch.from_numpy(np.array(pic)).permute(2, 0, 1).contiguous()
        def normalize(tensor, mean, std, inplace=False):  # torchvision's tensor algorithm
            mean = torch.as_tensor(mean, dtype=tensor.dtype, device=tensor.device).view(-1, 1, 1)
            std = torch.as_tensor(std, dtype=tensor.dtype, device=tensor.device).view(-1, 1, 1)
            return (tensor if inplace else tensor.clone()).sub_(mean).div_(std)
        def grayscale_to_rgb(x):
            return x.expand(*x.shape[:-3], 3, *x.shape[-2:]) if x.shape[-3] == 1 else x
        def _refuse(*a, **k):
            raise NotImplementedError("test stand-in: not needed for frames already at their size")
        resize = pad = crop = _refuse
    """,
}

PROCESSOR_SCRIPT = """
import json, sys
import numpy as np, torch
from transformers import AutoProcessor
from transformers.video_utils import VideoMetadata

model_dir, case_dir = sys.argv[1], sys.argv[2]
proc = AutoProcessor.from_pretrained(model_dir)
cases = json.loads(open(f"{case_dir}/cases.json").read())
results = {}
for name, c in cases.items():
    frames = np.load(f"{case_dir}/{name}.npy")
    meta = VideoMetadata(total_num_frames=c["effective_frames"], fps=c["video_fps"],
                         frames_indices=c["indices"], width=frames.shape[2], height=frames.shape[1])
    text = "<|im_start|>user\\n<|vision_start|><|video_pad|><|vision_end|>When?<|im_end|>\\n"
    out = proc(text=[text], videos=[frames], video_metadata=[meta], do_resize=False, do_sample_frames=False,
               return_tensors="pt")
    torch.save({k: out[k] for k in ("pixel_values_videos", "video_grid_thw", "second_per_grid_ts", "input_ids")},
               f"{case_dir}/{name}.pt")
    results[name] = text
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def tv_standin(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tv_standin")
    for rel, text in TV_STANDIN.items():
        p = root / "torchvision" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return root


def _case(sampled: SampledVideo) -> dict:
    m = sampled.meta
    return {"effective_frames": m["effective_frames"], "video_fps": m["video_fps"], "indices": m["indices"]}


@pytest.fixture(scope="module")
def processor_outputs(tmp_path_factory, tv_standin, tiny_model_dir):
    d = tmp_path_factory.mktemp("qwen_cases")
    long_video = make_testsrc(d / "long.mp4", seconds=400, fps="4", size=(90, 160))  # 400 s > 384 s: fps < 2
    short_video = make_testsrc(d / "short.mp4", seconds=1, fps="30", size=(360, 640))  # 4 frames in 1 s: fps 4
    windowed = sample_video(make_testsrc(d / "win.mp4", seconds=12, fps="25", size=(240, 320)), (3.3, 9.1))
    # 5 frames (odd: the processor repeats the last one); fps as transformers derives it for 5 of the indices
    m = windowed.meta
    odd = SampledVideo(frames=windowed.frames[:5], timestamps=windowed.timestamps[:5],
                       sample_fps=5 / m["effective_frames"] * m["video_fps"], meta={**m, "indices": m["indices"][:5]})
    cases = {"long": sample_video(long_video), "short": sample_video(short_video), "windowed": windowed, "odd": odd}
    for name, s in cases.items():
        np.save(d / f"{name}.npy", s.frames)
    (d / "cases.json").write_text(json.dumps({n: _case(s) for n, s in cases.items()}))
    env = {"PYTHONPATH": str(tv_standin), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-c", PROCESSOR_SCRIPT, str(tiny_model_dir), str(d)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    texts = json.loads(run.stdout.strip().splitlines()[-1])
    return {n: (s, torch.load(d / f"{n}.pt"), texts[n]) for n, s in cases.items()}


@pytest.mark.parametrize("name", ["long", "short", "windowed", "odd"])
def test_equals_transformers_processor(processor_outputs, tiny_model_dir, name):
    from transformers import AutoTokenizer

    sampled, expected, text = processor_outputs[name]
    ours = qwen_video_inputs(sampled)
    assert ours["pixel_values_videos"].dtype == torch.float32
    assert torch.equal(ours["pixel_values_videos"], expected["pixel_values_videos"])
    assert torch.equal(ours["video_grid_thw"], expected["video_grid_thw"])
    assert ours["second_per_grid_ts"].shape == (1,)
    assert torch.equal(ours["second_per_grid_ts"], torch.as_tensor(expected["second_per_grid_ts"], dtype=torch.float32))
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    ids = tok(expand_video_pads(text, ours["num_video_tokens"]), return_tensors="pt")["input_ids"]
    assert torch.equal(ids, expected["input_ids"])


def test_time_scale_follows_sample_fps(processor_outputs):
    long_s = processor_outputs["long"][0]
    short_s = processor_outputs["short"][0]
    assert long_s.num_frames == 768 and long_s.sample_fps == pytest.approx(768 / 1600 * 4)
    assert qwen_video_inputs(long_s)["second_per_grid_ts"].item() == pytest.approx(2 / 1.92)
    assert short_s.sample_fps == 4.0 and qwen_video_inputs(short_s)["second_per_grid_ts"].item() == 0.5


def test_expand_video_pads():
    assert expand_video_pads("a<|video_pad|>b", 3) == "a" + "<|video_pad|>" * 3 + "b"
    with pytest.raises(Timer1Error):
        expand_video_pads("no pad", 3)
    with pytest.raises(Timer1Error):
        expand_video_pads("<|video_pad|><|video_pad|>", 3)


def test_rejects_frames_not_multiple_of_28():
    bad = SampledVideo(frames=np.zeros((2, 30, 56, 3), np.uint8), timestamps=np.zeros(2), sample_fps=2.0)
    with pytest.raises(Timer1Error, match="multiple of 28"):
        qwen_video_inputs(bad)

"""InternVL3 / InternVL3.5 (``-hf`` checkpoints, model_type ``internvl``): frames as images, time as interleaved text."""

from tvgbench.models.internvl.inputs import (expand_video_token, frames_text, internvl_video_inputs,
                                             normalize_frames)

__all__ = ["expand_video_token", "frames_text", "internvl_video_inputs", "normalize_frames"]

"""The video pipeline: Qwen2.5-VL-exact frame sampling and a frame cache (model inputs: :mod:`tvgbench.models`).

    from tvgbench.video import SamplingConfig, sample_video, sample_for_record

Names are loaded on first use, so importing this package (e.g. for the ``timer1`` CLI) costs nothing.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "SamplingConfig": "config",
    "SamplingPlan": "config",
    "plan_sampling": "config",
    "smart_resize": "config",
    "smart_nframes": "config",
    "SampledVideo": "sample",
    "sample_video": "sample",
    "sample_for_record": "records",
    "should_crop": "records",
    "record_cache_path": "records",
    "VideoError": "errors",
    "REASONS": "errors",
    "resize_reference": "resize",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__

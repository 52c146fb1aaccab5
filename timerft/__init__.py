"""timerft: TimeRFT-style training-data curation on top of the tvgbench core.

* :mod:`timerft.difficulty` - ``difficulty = 100 x IoU`` of a model's prediction per sample (Time-R1's
  definition: higher means easier), computed with :func:`tvgbench.core.metrics.temporal_iou_array`;
* :mod:`timerft.selection` - seeded Gaussian selection without replacement over IoU > 0, and the
  sample-filter rule that keeps 0 < IoU <= 0.7.
"""

__all__ = ["difficulty", "selection"]

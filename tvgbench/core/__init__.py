"""The record and scoring core: the sample schema and its validation, splits on disk, answer
parsing, IoU and the hit rule, the one join of predictions to a split, scoring and score files.

The bottom floor: it imports nothing else of timer1 and no deep-learning library."""

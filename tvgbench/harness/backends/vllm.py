"""vLLM backend (GPU; ``pip install timer1[vllm]``). vLLM is imported only when this backend is built.

One request per query, batched by the engine. Frames are timer1's own sampled frames (the same as
the hf backend sees); the family's adapter (:mod:`tvgbench.models`) builds the request, with the
*sampled* fps so vLLM places them in time as timer1 does (Qwen2.5-VL:
:mod:`tvgbench.models.qwen2_5_vl.vllm_inputs`). The multimodal processor cache is disabled (Time-R1
does the same: a cache hit could pair a video with another fps).
"""

from __future__ import annotations

import difflib
import inspect
import threading
from dataclasses import dataclass, fields

from tvgbench.core.errors import Timer1Error
from tvgbench.harness.backends.base import GenParams, Generation
from tvgbench.harness.provenance import model_identity
from tvgbench.models import ModelAdapter, adapter_for
from tvgbench.models.prompts import ensure_chat_template, render_prompt


def sampling_kwargs(params: GenParams, stop_token_ids: list[int]) -> dict:
    """``vllm.SamplingParams`` arguments equivalent to the hf backend's generation config."""
    return {
        "temperature": 0.0 if params.greedy else params.temperature,
        "top_p": 1.0 if params.greedy else params.top_p,
        "top_k": -1 if params.greedy or params.top_k <= 0 else params.top_k,
        "repetition_penalty": params.repetition_penalty,
        "max_tokens": params.max_new_tokens,
        "seed": None if params.greedy else params.seed,
        "stop_token_ids": list(stop_token_ids),
        "skip_special_tokens": True,
    }


def engine_kwargs(model: str, dtype: str, max_model_len: int, gpu_memory_utilization: float, seed: int,
                  tensor_parallel_size: int, mm_limits: dict | None = None, engine_args: dict | None = None) -> dict:
    """``vllm.LLM`` arguments; ``mm_limits``: the family adapter's media per prompt (default one video);
    ``engine_args`` (``--engine-arg KEY=VALUE``) replace or add to these."""
    return {
        "model": model,
        "dtype": dtype,
        "max_model_len": max_model_len,
        "gpu_memory_utilization": gpu_memory_utilization,
        "limit_mm_per_prompt": dict(mm_limits or ModelAdapter.vllm_mm_limits),
        "mm_processor_cache_gb": 0,
        "seed": seed,
        "tensor_parallel_size": tensor_parallel_size,
        **(engine_args or {}),
    }


# engine arguments that have their own timer1 option (the value would be recorded twice, differently)
OWN_OPTIONS = {"model": "--model", "dtype": "--dtype", "seed": "--seed"}


def check_engine_args(engine_args: dict, accepted: set[str]) -> None:
    """Refuse, before the engine starts, a key vLLM does not take (``accepted``: ``vllm.LLM``'s and
    ``vllm.EngineArgs``' parameter names) or one a timer1 option sets."""
    for key in engine_args:
        if key in OWN_OPTIONS:
            raise Timer1Error(f"--engine-arg {key}: use {OWN_OPTIONS[key]} instead")
        if key not in accepted:
            close = difflib.get_close_matches(key.replace("-", "_"), sorted(accepted), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise Timer1Error(f"--engine-arg {key}: not an argument of vllm.LLM / vllm.EngineArgs{hint}")


def accepted_engine_args(vllm) -> set[str]:
    """The keyword names ``vllm.LLM(...)`` accepts: its own parameters and ``vllm.EngineArgs``' fields."""
    names = {p for p in inspect.signature(vllm.LLM.__init__).parameters if p not in ("self", "kwargs")}
    return names | {f.name for f in fields(vllm.EngineArgs)}


def resolved_dtype(llm) -> str | None:
    """The dtype the engine runs (its model config's), e.g. "float32"; None when the engine does not say."""
    engine = getattr(llm, "llm_engine", None)
    config = getattr(engine, "model_config", None) or getattr(getattr(engine, "vllm_config", None), "model_config", None)
    dtype = getattr(config, "dtype", None)
    return None if dtype is None else str(dtype).removeprefix("torch.")


def engine_failure(model: str, error: Exception) -> Timer1Error:
    """One line for a vLLM engine that would not start (its root cause is in vLLM's log above it)."""
    text = " ".join(str(error).split()) or type(error).__name__
    return Timer1Error(f"vLLM could not start the engine for {model}: {type(error).__name__}: {text}")


_TOKENIZER_LOCK = threading.Lock()


@dataclass
class VLLMRequest:
    prompt: dict
    num_video_tokens: int


class VLLMBackend:
    name = "vllm"
    _tok_lock = _TOKENIZER_LOCK

    def __init__(self, model: str, params: GenParams, *, dtype: str = "auto", max_model_len: int = 16384,
                 gpu_memory_utilization: float = 0.9, tensor_parallel_size: int = 1, engine_args: dict | None = None,
                 **_ignored):
        try:
            import vllm
        except ImportError as e:
            raise Timer1Error(f"the vllm backend needs vLLM on a GPU machine (pip install 'timer1[vllm]'): {e}") from None
        from transformers import AutoConfig, AutoTokenizer


        self.model_path = str(model)
        self.params = params
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        ensure_chat_template(self.tokenizer, model)
        self.adapter = adapter_for(AutoConfig.from_pretrained(model), self.model_path)
        eos = {self.tokenizer.eos_token_id, *(self.tokenizer.convert_tokens_to_ids(t) for t in self.adapter.tokens.stop)}
        self.stop_ids = sorted(i for i in eos if isinstance(i, int) and i >= 0)
        self.engine_args = dict(engine_args or {})
        check_engine_args(self.engine_args, accepted_engine_args(vllm))
        kwargs = engine_kwargs(self.model_path, dtype, max_model_len, gpu_memory_utilization, params.seed,
                               tensor_parallel_size, self.adapter.vllm_mm_limits, self.engine_args)
        self.engine_kwargs = kwargs
        self.vllm_version = vllm.__version__
        try:
            self.llm = vllm.LLM(**kwargs)
        except Exception as e:  # a bad engine argument, too little memory, an unsupported model on this device...
            raise engine_failure(self.model_path, e) from e
        self.dtype = resolved_dtype(self.llm) or dtype
        self.sampling = vllm.SamplingParams(**sampling_kwargs(params, self.stop_ids))

    def prepare(self, messages: list[dict], assistant_prefix: str, sampled) -> VLLMRequest:
        with self._tok_lock:  # fast tokenizers are not safe to call from several threads at once
            text = render_prompt(self.tokenizer, messages, assistant_prefix)
            ids = self.tokenizer(text, add_special_tokens=False).input_ids
        pad = self.adapter.tokens.video_pad
        if text.count(pad) != 1:
            raise Timer1Error(f"expected one {pad} in the rendered prompt, found {text.count(pad)}")
        t, h, w = sampled.frames.shape[:3]
        return VLLMRequest(self.adapter.vllm_request(ids, sampled), self.adapter.num_video_tokens(t, h, w))

    def generate(self, requests: list[VLLMRequest]) -> list[Generation]:
        if not requests:
            return []
        try:
            outs = self.llm.generate([r.prompt for r in requests], self.sampling, use_tqdm=False)
        except Exception as e:  # the engine died or refused a request: one line (the run records it as failed)
            raise Timer1Error(f"vLLM failed to generate: {type(e).__name__}: {' '.join(str(e).split())}") from e
        return [Generation(o.outputs[0].text, len(o.outputs[0].token_ids), o.outputs[0].finish_reason) for o in outs]

    def settings(self) -> dict:
        return {
            **model_identity(self.name, self.model_path),
            "dtype": self.dtype,  # what the engine runs ("auto" resolved by vLLM)
            **({"dtype_requested": self.engine_kwargs["dtype"]} if self.engine_kwargs["dtype"] != self.dtype else {}),
            "vllm": self.vllm_version,
            "engine": {k: v for k, v in self.engine_kwargs.items() if k != "model"},
            "sampling_params": sampling_kwargs(self.params, self.stop_ids),
            "generation": self.params.to_dict(),
            "video_time_positions": "vLLM (floor(t * second_per_grid_t * tokens_per_second))",
        }

    def close(self) -> None:
        self.llm = None

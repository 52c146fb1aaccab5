"""OpenAI-compatible chat endpoint backend (API models or a vLLM server), on the official ``openai`` SDK.

The video goes as its sampled frames: each frame is a JPEG ``image_url`` preceded by a text part
giving its time (``"12.5s"``, clip time, the same clock the answer must use). A served model's family
is unknown to timer1; named (``family=``, ``--family``), the time text is that family's own, from its
adapter's ``frame_time_texts`` (the formula its hf prompt uses): Qwen3-VL ``<12.5 seconds>`` before
each temporal patch's first frame, InternVL ``Frame3 at 12.5 s: `` before each frame; a family whose
time is not text (Qwen2.5-VL) keeps timer1's ``"12.5s"``. The chat messages keep
timer1's layout (system text; video before or after the prompt). Requests in a batch run
concurrently over one SDK client (it is thread-safe). Transport and retries are the SDK's: it
retries connection errors, timeouts, 408, 409, 429 and 5xx with exponential backoff and honours
``Retry-After``; ``max_retries`` is passed to it. The key is read from an environment variable, never
from the command line, and is never written to run.json; an ``--api-base`` holding credentials (a
user name or password, an ``api_key=`` parameter) is refused, and its other query parameters are sent
as query parameters. The SDK is imported, and anything contacted, only when this backend is chosen.
"""

from __future__ import annotations

import base64
import io
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from PIL import Image

from tvgbench.core.errors import Timer1Error
from tvgbench.harness.backends.base import GenParams, Generation
from tvgbench.harness.provenance import redact_url, secret_query_names
from tvgbench.models.base import ModelAdapter, adapter_class

TIMESTAMP_FORMAT = "{t:.1f}s"
DEFAULT_API_BASE = "http://127.0.0.1:8000/v1"
# What a keyless local vLLM server is given (the SDK refuses an empty key; vLLM's docs use this one).
PLACEHOLDER_KEY = "EMPTY"


def encode_jpeg(frame, quality: int = 90) -> str:
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def frames_to_parts(sampled, quality: int = 90, time_texts: list[str] | None = None) -> list[dict]:
    """Timestamp text + JPEG image for every sampled frame. ``time_texts``: the text before each frame
    (a family's ``frame_time_texts``; "" sends none) instead of ``TIMESTAMP_FORMAT``."""
    if time_texts is None:
        time_texts = [TIMESTAMP_FORMAT.format(t=float(t)) for t in sampled.timestamps]
    if len(time_texts) != len(sampled.frames):
        raise Timer1Error(f"{len(time_texts)} time texts for {len(sampled.frames)} frames")
    parts = []
    for frame, text in zip(sampled.frames, time_texts):
        if text:
            parts.append({"type": "text", "text": text})
        parts.append({"type": "image_url", "image_url": {"url": encode_jpeg(frame, quality)}})
    return parts


def to_openai_messages(messages: list[dict], sampled, assistant_prefix: str = "", quality: int = 90,
                       time_texts: list[str] | None = None) -> list[dict]:
    """timer1 chat messages → OpenAI chat messages with the video expanded into timestamped frames."""
    out = []
    for m in messages:
        content = m["content"]
        if isinstance(content, str):
            out.append({"role": m["role"], "content": content})
            continue
        parts = []
        for part in content:
            if part["type"] == "video":
                parts.extend(frames_to_parts(sampled, quality, time_texts))
            elif part["type"] == "text":
                parts.append({"type": "text", "text": part["text"]})
        if m["role"] == "system" and all(p["type"] == "text" for p in parts):
            out.append({"role": "system", "content": "".join(p["text"] for p in parts)})
        else:
            out.append({"role": m["role"], "content": parts})
    if assistant_prefix:
        out.append({"role": "assistant", "content": assistant_prefix})
    return out


def split_api_base(api_base: str) -> tuple[str, dict[str, str]]:
    """``--api-base`` → (the base URL the SDK is given, the query parameters it sends with every request).

    Credentials in the URL are refused: they would be written to run.json and sent instead of the key
    (a user name/password becomes Basic auth, overriding ``--api-key-env``).
    """
    parts = urlsplit(str(api_base))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Timer1Error(f"--api-base must be an http(s) URL, got {redact_url(str(api_base))!r}")
    secret = secret_query_names(parts.query)
    if "@" in parts.netloc or secret:
        what = "a user name or password" if "@" in parts.netloc else f"the query parameter {secret[0]!r}"
        raise Timer1Error(f"--api-base {redact_url(api_base)} holds credentials ({what}); put the key in an "
                          f"environment variable and name it with --api-key-env (default OPENAI_API_KEY)")
    base = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
    return base, dict(parse_qsl(parts.query, keep_blank_values=True))


def build_body(model: str, messages: list[dict], params: GenParams, assistant_prefix: str = "") -> dict:
    """Keyword arguments for ``client.chat.completions.create``.

    Keys only a vLLM server knows (``top_k``, ``continue_final_message``, ``add_generation_prompt``) go under
    ``extra_body``: the SDK merges them into the JSON body as they are.
    """
    body = {
        "model": model,
        "messages": messages,
        "max_tokens": params.max_new_tokens,
        "temperature": max(params.temperature, 0.0),
        "top_p": params.top_p,
        "seed": params.seed,
    }
    extra = {}
    if params.top_k > 0:
        extra["top_k"] = params.top_k  # vLLM-server extension, sent only when set (OpenAI handles unknown keys poorly)
    if assistant_prefix:
        # continue the forced assistant start instead of opening a new turn (vLLM server semantics)
        extra["continue_final_message"] = True
        extra["add_generation_prompt"] = False
    if extra:
        body["extra_body"] = extra
    return body


class OpenAIBackend:
    name = "openai"

    def __init__(self, model: str, params: GenParams, *, api_base: str = DEFAULT_API_BASE,
                 api_key_env: str = "OPENAI_API_KEY", max_retries: int = 5, timeout_s: float = 600.0,
                 concurrency: int | None = None, jpeg_quality: int = 90, family: str | None = None, **_ignored):
        self.model = model
        self.family = family  # the served model's model_type, when named: its adapter writes the time text
        self.family_adapter = adapter_class(family, "--family").served() if family else None
        self.params = params
        self.api_base = api_base.rstrip("/")  # as given (recorded)
        base, query = split_api_base(self.api_base)
        self.url = base + "/chat/completions"  # in messages: no query string
        self.api_key_env = api_key_env
        self.max_retries = max_retries
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self.jpeg_quality = jpeg_quality
        self.retries_used = 0  # retries the SDK reports having made, over all requests
        self._count_lock = threading.Lock()
        import openai  # only now: `timer1 --help` and the other backends never load the SDK

        self._openai = openai
        # the query string goes as parameters of every request (spliced into base_url it would end up in the path)
        self.client = openai.OpenAI(base_url=base, default_query=query or None, max_retries=max_retries,
                                    api_key=os.environ.get(api_key_env) or PLACEHOLDER_KEY, timeout=timeout_s)

    def prepare(self, messages: list[dict], assistant_prefix: str, sampled) -> dict:
        time_texts = self.family_adapter.frame_time_texts(sampled) if self.family_adapter else None
        chat = to_openai_messages(messages, sampled, assistant_prefix, self.jpeg_quality, time_texts)
        return build_body(self.model, chat, self.params, assistant_prefix)

    def _count(self, retries: int) -> None:
        with self._count_lock:
            self.retries_used += retries

    def _attempts(self, err) -> int:
        """Attempts the SDK made for a failed request (it numbers each one in ``x-stainless-retry-count``)."""
        try:
            return int(err.request.headers["x-stainless-retry-count"]) + 1
        except (AttributeError, KeyError, TypeError, ValueError):
            return self.max_retries + 1

    def _one(self, body: dict) -> Generation:
        oa = self._openai
        try:
            raw = self.client.chat.completions.with_raw_response.create(**body)
        except oa.APIStatusError as e:
            detail = " ".join(e.response.text[:300].split())
            n = self._attempts(e)
            self._count(n - 1)
            if n > 1:
                raise Timer1Error(f"{self.url} failed after {n} attempts (HTTP {e.status_code}: {detail})") from None
            raise Timer1Error(f"{self.url} answered HTTP {e.status_code}: {detail}") from None
        except oa.APIConnectionError as e:  # includes APITimeoutError
            n = self._attempts(e)
            self._count(n - 1)
            cause = e.__cause__ or e
            reason = " ".join(f"{type(cause).__name__}: {cause}".split())
            raise Timer1Error(f"{self.url} failed after {n} attempts ({reason})") from None
        except oa.OpenAIError as e:
            raise Timer1Error(f"{self.url}: {' '.join(str(e).split())[:300]}") from None
        self._count(raw.retries_taken)
        try:
            reply = raw.parse()
        except (ValueError, oa.OpenAIError):  # a 200 whose body is not JSON
            reply = None
        choices = getattr(reply, "choices", None)
        if not choices or getattr(choices[0], "message", None) is None:
            raise Timer1Error(f"{self.url} returned no choices: {' '.join(raw.http_response.text.split())[:200]}")
        choice = choices[0]
        usage = getattr(reply, "usage", None)
        return Generation(text=choice.message.content or "", n_tokens=getattr(usage, "completion_tokens", None),
                          finish_reason=getattr(choice, "finish_reason", None))

    def generate(self, requests: list[dict]) -> list[Generation]:
        if not requests:
            return []
        workers = self.concurrency or len(requests)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(self._one, requests))

    def video_as(self) -> str:
        """How the frames and their times are sent (run.json's ``video_as``)."""
        adapter = self.family_adapter
        if adapter is not None and type(adapter).frame_time_texts is not ModelAdapter.frame_time_texts:
            return f"JPEG frames (quality {self.jpeg_quality}) with {adapter.family}'s time as {adapter.time_encoding}"
        return (f"JPEG frames (quality {self.jpeg_quality}), each preceded by its clip time as text "
                f"('{TIMESTAMP_FORMAT}')")

    def settings(self) -> dict:
        family = {"family": self.family} if self.family else {}  # only when named: earlier records unchanged
        return {
            "backend": self.name,
            "model": self.model,
            "api_base": redact_url(self.api_base),
            "api_key_env": self.api_key_env,
            "weights_sha256": None,
            **family,
            "video_as": self.video_as(),
            "generation": self.params.to_dict(),
            "max_retries": self.max_retries,
            "openai_sdk": self._openai.__version__,
        }

    def close(self) -> None:
        self.client.close()

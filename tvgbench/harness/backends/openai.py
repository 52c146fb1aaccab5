"""OpenAI-compatible chat endpoint backend (API models or a vLLM server), stdlib HTTP only.

The video goes as its sampled frames: each frame is a JPEG ``image_url`` preceded by a text part
giving its time (``"12.5s"``, clip time, the same clock the answer must use). The chat messages keep
timer1's layout (system text; video before or after the prompt). Requests in a batch run
concurrently; each retries with exponential backoff (honouring ``Retry-After``) on connection
errors, 408, 409, 429 and 5xx. The key is read from an environment variable, never from the
command line, and is never written to run.json. Nothing is contacted unless this backend is chosen.
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from ...errors import Timer1Error
from .base import Generation, GenParams

RETRY_STATUS = (408, 409, 429, 500, 502, 503, 504)
TIMESTAMP_FORMAT = "{t:.1f}s"


def encode_jpeg(frame, quality: int = 90) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def frames_to_parts(sampled, quality: int = 90) -> list[dict]:
    """Timestamp text + JPEG image for every sampled frame."""
    parts = []
    for frame, t in zip(sampled.frames, sampled.timestamps):
        parts.append({"type": "text", "text": TIMESTAMP_FORMAT.format(t=float(t))})
        parts.append({"type": "image_url", "image_url": {"url": encode_jpeg(frame, quality)}})
    return parts


def to_openai_messages(messages: list[dict], sampled, assistant_prefix: str = "", quality: int = 90) -> list[dict]:
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
                parts.extend(frames_to_parts(sampled, quality))
            elif part["type"] == "text":
                parts.append({"type": "text", "text": part["text"]})
        if m["role"] == "system" and all(p["type"] == "text" for p in parts):
            out.append({"role": "system", "content": "".join(p["text"] for p in parts)})
        else:
            out.append({"role": m["role"], "content": parts})
    if assistant_prefix:
        out.append({"role": "assistant", "content": assistant_prefix})
    return out


def build_body(model: str, messages: list[dict], params: GenParams, assistant_prefix: str = "") -> dict:
    body = {
        "model": model,
        "messages": messages,
        "max_tokens": params.max_new_tokens,
        "temperature": max(params.temperature, 0.0),
        "top_p": params.top_p,
        "seed": params.seed,
    }
    if params.top_k > 0:
        body["top_k"] = params.top_k  # vLLM-server extension; OpenAI ignores unknown sampling keys poorly, so only when set
    if assistant_prefix:
        # continue the forced assistant start instead of opening a new turn (vLLM server semantics)
        body["continue_final_message"] = True
        body["add_generation_prompt"] = False
    return body


class OpenAIBackend:
    name = "openai"

    def __init__(self, model: str, params: GenParams, *, api_base: str = "http://127.0.0.1:8000/v1",
                 api_key_env: str = "OPENAI_API_KEY", max_retries: int = 5, backoff_s: float = 0.5,
                 timeout_s: float = 600.0, concurrency: int | None = None, jpeg_quality: int = 90, **_ignored):
        self.model = model
        self.params = params
        self.url = api_base.rstrip("/") + "/chat/completions"
        if not self.url.startswith(("http://", "https://")):
            raise Timer1Error(f"--api-base must be an http(s) URL, got {api_base!r}")
        self.api_key_env = api_key_env
        self.api_key = os.environ.get(api_key_env, "")
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self.jpeg_quality = jpeg_quality
        self.retries_used = 0

    def prepare(self, messages: list[dict], assistant_prefix: str, sampled) -> dict:
        chat = to_openai_messages(messages, sampled, assistant_prefix, self.jpeg_quality)
        return build_body(self.model, chat, self.params, assistant_prefix)

    def _post(self, body: dict) -> dict:
        data = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = None
        for attempt in range(self.max_retries + 1):
            req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    return json.loads(resp.read().decode("utf-8"))
            except urllib.error.HTTPError as e:
                detail = e.read()[:300].decode("utf-8", "replace")
                if e.code not in RETRY_STATUS:
                    raise Timer1Error(f"{self.url} answered HTTP {e.code}: {detail.strip()}") from None
                last = f"HTTP {e.code}"
                retry_after = e.headers.get("Retry-After") if e.headers else None
            except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
                last = f"{type(e).__name__}: {getattr(e, 'reason', e)}"
                retry_after = None
            if attempt == self.max_retries:
                break
            self.retries_used += 1
            try:
                wait = float(retry_after) if retry_after else self.backoff_s * 2**attempt
            except ValueError:
                wait = self.backoff_s * 2**attempt
            time.sleep(wait * (1 + 0.1 * random.random()))
        raise Timer1Error(f"{self.url} failed after {self.max_retries + 1} attempts ({last})")

    def _one(self, body: dict) -> Generation:
        reply = self._post(body)
        try:
            choice = reply["choices"][0]
            text = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise Timer1Error(f"{self.url} returned no choices: {json.dumps(reply)[:200]}") from None
        usage = reply.get("usage") or {}
        return Generation(text=text, n_tokens=usage.get("completion_tokens"), finish_reason=choice.get("finish_reason"))

    def generate(self, requests: list[dict]) -> list[Generation]:
        if not requests:
            return []
        workers = self.concurrency or len(requests)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(self._one, requests))

    def settings(self) -> dict:
        return {
            "backend": self.name,
            "model": self.model,
            "api_base": self.url.rsplit("/chat/completions", 1)[0],
            "api_key_env": self.api_key_env,
            "weights_sha256": None,
            "video_as": f"JPEG frames (quality {self.jpeg_quality}), each preceded by its clip time as text "
                        f"('{TIMESTAMP_FORMAT}')",
            "generation": self.params.to_dict(),
            "max_retries": self.max_retries,
        }

    def close(self) -> None:
        pass

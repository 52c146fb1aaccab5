"""What a run records about its environment (library versions, the model's weights hash), and what it
never records (secrets: :func:`redact`)."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import sys
from importlib import metadata
from pathlib import Path

from platformdirs import user_cache_dir

from tvgbench.models.base import WEIGHT_SUFFIXES

LIBRARIES = ("torch", "transformers", "tokenizers", "accelerate", "numpy", "decord", "av", "pillow", "pyarrow",
             "vllm", "timer1")
REDACTED = "<redacted>"
# words that make an option or query-parameter name hold a secret (api_key, x-api-key, access_token, sig...)
_SECRET_WORDS = frozenset({"key", "apikey", "token", "secret", "password", "passwd", "pwd", "auth", "authorization",
                           "credential", "credentials", "sig", "signature", "bearer"})
_URL_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][\w+.-]*://)(?P<userinfo>[^/?#@]*@)")


def is_secret_name(name: str) -> bool:
    """``api_key`` is a secret; ``api_key_env`` (it names an environment variable), ``tokenizer`` and
    ``stop_token_ids`` (vocabulary ids) are not."""
    words = re.split(r"[^a-z0-9]+", name.lower())
    return words[-1:] not in (["env"], ["id"], ["ids"]) and any(w in _SECRET_WORDS for w in words)


def secret_query_names(query: str) -> list[str]:
    """The names of a URL query string's parameters that hold a secret (``api_key``, ``token``, ``sig``...)."""
    return [piece.split("=", 1)[0] for piece in query.split("&") if is_secret_name(piece.split("=", 1)[0])]


def redact_url(url: str) -> str:
    """``url`` with its user name/password and secret query values replaced; unchanged when it holds none."""
    out = _URL_USERINFO.sub(lambda m: m["scheme"] + REDACTED + "@", url, count=1)
    base, sep, rest = out.partition("?")
    if not sep:
        return out
    query, hash_sep, fragment = rest.partition("#")
    pieces = [f"{p.split('=', 1)[0]}={REDACTED}" if is_secret_name(p.split("=", 1)[0]) else p for p in query.split("&")]
    return base + "?" + "&".join(pieces) + hash_sep + fragment


def redact(settings):
    """A copy of a backend's recorded options or settings with secrets replaced: values under secret names,
    and the credentials inside URLs. Settings without secrets come back equal (run.json stays byte-identical).

    Only for backend options and settings: run settings have names such as ``sampling_key`` (a cache key)."""
    if isinstance(settings, dict):
        return {k: REDACTED if is_secret_name(str(k)) and v is not None else redact(v) for k, v in settings.items()}
    if isinstance(settings, (list, tuple)):
        return type(settings)(redact(v) for v in settings)
    if isinstance(settings, str) and "://" in settings:
        return redact_url(settings)
    return settings


def library_versions(extra: tuple[str, ...] = ()) -> dict[str, str | None]:
    """Installed versions (None when absent) plus the Python version and platform."""
    out: dict[str, str | None] = {}
    for name in LIBRARIES + tuple(extra):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    out["python"] = platform.python_version()
    out["platform"] = f"{sys.platform}-{platform.machine()}"
    return out


def _cache_file() -> Path:
    return Path(os.environ.get("TIMER1_CACHE", user_cache_dir("timer1"))) / "weights_hashes.json"


def weights_hash(model_dir: str | os.PathLike) -> str | None:
    """sha256 over the model's weight files (name + content, sorted), cached by path, size and mtime.

    None when ``model_dir`` is not a local folder (e.g. a served model name).
    """
    d = Path(model_dir)
    if not d.is_dir():
        return None
    files = sorted(p for p in d.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))
    if not files:
        return None
    stamp = json.dumps([[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files])
    key = hashlib.sha256(f"{d.resolve()}|{stamp}".encode()).hexdigest()
    cache_path = _cache_file()
    try:
        cache = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}
    if key in cache:
        return cache[key]
    h = hashlib.sha256()
    for p in files:
        h.update(p.name.encode() + b"\0")
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
    digest = "sha256:" + h.hexdigest()
    try:
        from tvgbench.core.report import write_text_atomic

        cache[key] = digest
        write_text_atomic(cache_path, json.dumps(cache))
    except OSError:
        pass  # the cache only saves time
    return digest


def config_hash(model_dir: str | os.PathLike) -> str | None:
    """sha256 of config.json + generation_config.json + tokenizer files (what shapes the output besides weights)."""
    d = Path(model_dir)
    if not d.is_dir():
        return None
    h = hashlib.sha256()
    for name in ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
                 "chat_template.json", "preprocessor_config.json"):
        p = d / name
        if p.exists():
            h.update(name.encode() + b"\0" + p.read_bytes())
    return "sha256:" + h.hexdigest()


def model_identity(backend_name: str, model_path: str) -> dict:
    """The run.json fields every local-weights backend records: which backend, which model, which bytes."""
    return {
        "backend": backend_name,
        "model": model_path,
        "weights_sha256": weights_hash(model_path),
        "config_sha256": config_hash(model_path),
    }


def family_record(backend) -> dict | None:
    """run.json's record of the model family a backend serves and how it tells the model time (None: unknown,
    e.g. a served model behind an API, unless --family names it)."""
    adapter = getattr(backend, "adapter", None) or getattr(backend, "family_adapter", None)
    if adapter is None:
        return None
    return {"family": adapter.family, "model_type": adapter.model_type, "time_encoding": adapter.time_encoding}


def _openai_text(body: dict) -> str:
    """The text of an OpenAI chat request, each image written as ``<image>`` where it was sent."""
    parts = []
    for message in body.get("messages", []):
        content = message.get("content")
        pieces = [content] if isinstance(content, str) else [
            c.get("text", "") if c.get("type") == "text" else "<image>" for c in content or []]
        parts.append(f"[{message.get('role')}] " + "".join(pieces))
    return "\n".join(parts)


def prompt_text(backend, request) -> tuple[str, str] | None:
    """(the exact text a backend's prepared request asks, what form it is in), or None when it cannot say.

    hf: the prompt's token ids decoded (video placeholders expanded, timestamps included); vllm: the ids sent,
    whose one video placeholder vLLM expands itself; openai: the messages' text with ``<image>`` per frame."""
    tokenizer = getattr(backend, "tokenizer", None)
    ids = getattr(request, "input_ids", None)
    if ids is None and isinstance(getattr(request, "prompt", None), dict):
        ids = request.prompt.get("prompt_token_ids")
    if tokenizer is not None and ids is not None:
        text = tokenizer.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False)
        form = "model input" if hasattr(request, "input_ids") else "sent to vLLM (it expands the video placeholder)"
        return text, form
    if isinstance(request, dict) and "messages" in request:
        return _openai_text(request), "chat messages (<image>: a frame)"
    return None


def prompt_record(backend, request) -> dict | None:
    """run.json's record of one query's prompt: its exact text, what form it is in, and its sha256."""
    found = prompt_text(backend, request)
    if found is None:
        return None
    text, form = found
    return {"text": text, "form": form, "sha256": hashlib.sha256(text.encode()).hexdigest()}

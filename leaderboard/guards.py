"""What stands between a request and the store: Host and Origin checks, upload tokens, upload slots.

* **DNS rebinding**: a hostile page can make its own name resolve to 127.0.0.1; its requests then reach
  a loopback server with ``Host: evil.example``. Every request's Host must be one this server answers to.
* **CSRF**: a hostile page can post a form (or a no-cors fetch) to any address the browser reaches.
  State-changing requests from a browser carry ``Origin`` and/or ``Sec-Fetch-Site``; they must say the
  request came from this server's own pages. Clients that send neither (curl, scripts) are not browsers
  and cannot be driven by another site.
* **Unauthenticated bodies**: the token comes from a header and is checked before the body is read, and
  bodies stream (counted) into the form parser, which spools files to disk, within a fixed number of
  upload slots.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

from tvgbench.core.errors import Timer1Error

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
MIN_TOKEN_CHARS = 8


class HTTPProblem(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(" ".join(str(message).split()))
        self.status = status
        self.headers = headers or {}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def hostname_of(netloc: str) -> str | None:
    """The host name of a Host header or an Origin's netloc ("[::1]:8000" → "::1"), lower-cased."""
    try:
        return urlsplit("//" + netloc).hostname
    except ValueError:
        return None


def allowed_hostnames(bound: str | None = None, extra=()) -> frozenset[str]:
    """Loopback names, the bound address unless it is a wildcard, and the names given for a deployment."""
    names = set(LOOPBACK_NAMES)
    if bound and bound not in ("0.0.0.0", "::", ""):
        names.add(bound.strip("[]").lower())
    names.update(str(n).strip().strip("[]").lower() for n in extra if str(n).strip())
    return frozenset(names)


def check_host(host_header: str, allowed: frozenset[str]) -> None:
    name = hostname_of(host_header or "")
    if name not in allowed:
        raise HTTPProblem(400, f"host {host_header[:100]!r} is not served here (DNS rebinding?); "
                               "a public deployment names it with --allowed-host")


def check_same_origin(headers) -> None:
    """Refuse a state-changing browser request that another site's page sent."""
    origin = headers.get("origin")
    site = headers.get("sec-fetch-site")
    if origin == "null":  # Chromium's form posts under Referrer-Policy: no-referrer; also sandboxed frames
        if site != "same-origin":
            raise HTTPProblem(403, "cross-origin request from an opaque origin refused")
        return
    if origin is not None:
        if urlsplit(origin).netloc.lower() != headers.get("host", "").lower():
            raise HTTPProblem(403, f"cross-origin request from {origin[:100]!r} refused")
    if site is not None and site not in ("same-origin", "none"):
        raise HTTPProblem(403, f"cross-site request refused (Sec-Fetch-Site: {site[:40]})")


def read_tokens(path: str) -> list[str]:
    """Upload tokens, one per line (blank lines and '#' comments skipped); each uploader gets its own."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise Timer1Error(f"cannot read token file {path}: {getattr(e, 'strerror', None) or e}") from None
    tokens = [t.strip() for t in text.splitlines() if t.strip() and not t.strip().startswith("#")]
    if not tokens:
        raise Timer1Error(f"token file {path} holds no token")
    if any(len(t) < MIN_TOKEN_CHARS for t in tokens):
        raise Timer1Error(f"a token in {path} is shorter than {MIN_TOKEN_CHARS} characters")
    return tokens


def submitter_id(token: str | None) -> str:
    """Who uploaded, as stored and counted for the daily limits: a token's digest, never the token."""
    if token is None:
        return "anonymous"
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:16]


def bearer_token(headers) -> str | None:
    auth = headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


def matching_token(given: str | None, tokens: list[str]) -> str | None:
    """The configured token ``given`` equals (compared in constant time), or None."""
    found = None
    for t in tokens:
        if given is not None and hmac.compare_digest(given.encode(), t.encode()):
            found = t
    return found


class UploadSlots:
    """At most ``n`` uploads read or scored at once; one more is refused (503), not queued in memory."""

    def __init__(self, n: int):
        self.n, self.busy = max(1, int(n)), 0

    def __enter__(self):
        if self.busy >= self.n:
            raise HTTPProblem(503, f"the server is busy with {self.busy} uploads; retry in a few seconds",
                              {"retry-after": "5"})
        self.busy += 1  # asyncio: only the event loop thread gets here, no lock needed
        return self

    def __exit__(self, *exc):
        self.busy -= 1
        return False


def counted_receive(receive, limit: int, too_large: str):
    """``receive`` that refuses a body once more than ``limit`` bytes arrived (no Content-Length needed)."""
    received = 0

    async def wrapped():
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPProblem(413, too_large)
        return message

    return wrapped

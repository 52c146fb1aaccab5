"""The web app (Starlette): the board, an upload form and a small JSON API.

Routes
    GET  /, /index.html              the board (and the upload form when splits accept uploads)
    GET  /submissions/<id>.html      one submission with its breakdown charts
    GET  /api/leaderboard            boards as JSON (?split=NAME&sort=METRIC)
    GET  /api/submissions/<id>       one submission as JSON (scores and provenance)
    POST /api/submissions            multipart: file, model_name, split, meta ("k=v" lines); JSON reply
    POST /submit                     the same from the HTML form; redirects to the board
    GET  /static/...                 the page's CSS and JS

Ground truth is never served: no route reads a split file, and results carry no per-query data and no
server paths. Requests must name a Host this server answers to, and uploads must come from its own
origin (guards.py). Uploads are capped in bytes while they stream, need the token when one is
configured (the header's is checked before the body is read), take one of a few upload slots, and are
scored in a worker thread so the page stays responsive. An HTML form cannot send a header: its token is
a form field, so /submit reads the form first, and that read is bounded in bytes, spooled to a temporary
file and holds an upload slot, so unauthenticated forms cost disk, not memory, and only a few at a time.
"""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response,
)
from starlette.routing import Route

from tvgbench.core.errors import Timer1Error

from .api import boards_json, submission_json
from .guards import (
    HTTPProblem, UploadSlots, allowed_hostnames, bearer_token, check_host, check_same_origin, counted_receive,
    matching_token, submitter_id,
)
from .html import STATIC_DIR, STATIC_FILES, render_index, render_submission
from .public import UPLOADS_PER_DAY, Quota
from .ranking import DEFAULT_SORT, boards, check_sort
from .service import submit
from .store import LimitReached
from .validate import SplitIndex

log = logging.getLogger("timer1.leaderboard")
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the small text fields around the file

SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                 b"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class _HostCheck:
    """Pure ASGI middleware: answers only requests whose Host is one of ``allowed`` (DNS rebinding)."""

    def __init__(self, app, allowed: frozenset[str]):
        self.app, self.allowed = app, allowed

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            try:
                check_host(Headers(scope=scope).get("host", ""), self.allowed)
            except HTTPProblem as e:
                return await PlainTextResponse(str(e), status_code=e.status)(scope, receive, send)
        return await self.app(scope, receive, send)


class _SecurityHeaders:
    """Pure ASGI middleware: adds the headers above to every HTTP response, the 500 of a bug included.

    Starlette answers unhandled errors outside every user middleware, so they are caught here instead."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def send_with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + SECURITY_HEADERS
            await send(message)

        try:
            return await self.app(scope, receive, send_with_headers)
        except Exception:
            if started:  # too late for another response: the server closes the connection
                raise
            log.exception("unexpected error on %s", scope.get("path"))
            response = JSONResponse({"error": "internal error"}, status_code=500)
            return await response(scope, receive, send_with_headers)


def upload_splits(split_dirs: list[str]) -> dict[str, tuple[str, SplitIndex]]:
    """Upload key → (folder, index). The key is the split name; splits sharing a name (two datasets'
    "test") are told apart by their folder: "tvgbench/test", "synth/test"."""
    found = [(str(d), SplitIndex.from_dir(d)) for d in split_dirs]
    names = [idx.name for _, idx in found]
    out: dict[str, tuple[str, SplitIndex]] = {}
    for d, idx in found:
        key = idx.name if names.count(idx.name) == 1 else f"{Path(d).resolve().name}/{idx.name}"
        if key in out:
            raise Timer1Error(f"two upload splits are both {key!r} (same split name in folders of the same name)")
        out[key] = (d, idx)
    return out


def create_app(store, *, split_dirs: list[str] | None = None, token: str | list[str] | None = None,
               max_upload_bytes: int = 32 * 1024 * 1024, bootstrap: int = 1000, allowed_hosts=None,
               max_concurrent_uploads: int = 4, uploads_per_day: int = UPLOADS_PER_DAY):
    """Build the Starlette app around ``store``; ``split_dirs`` are the splits that accept uploads.

    ``token``: one upload token or several (one per uploader); ``allowed_hosts``: the Host names served
    (default: the loopback names; see :func:`guards.allowed_hostnames`); ``uploads_per_day``: per
    uploader, on splits with hidden ground truth (see public.py)."""
    tokens = [token] if isinstance(token, str) else list(token or [])
    slots = UploadSlots(max_concurrent_uploads)
    too_large = f"upload is larger than the {max_upload_bytes / 2**20:g} MiB limit"
    splits = upload_splits(split_dirs or [])

    def upload_info() -> dict | None:
        if not splits:
            return None
        return {"splits": [{"key": k, "label": f"{idx.pretty_name} · {idx.name}"} for k, (_, idx) in splits.items()],
                "token_required": bool(tokens),
                "max_mib": f"{max_upload_bytes / 2**20:g}"}

    def current_boards(request: Request):
        sort = request.query_params.get("sort", DEFAULT_SORT)
        try:
            check_sort(sort)
        except Timer1Error as e:
            raise HTTPProblem(400, str(e)) from None
        return boards(store.submissions(request.query_params.get("split") or None), sort)

    def check_request(request: Request) -> None:
        """Everything decided from the headers alone, before one byte of the body is read."""
        check_same_origin(request.headers)
        if not splits:
            raise HTTPProblem(403, "this board is read-only: the server was started without upload splits")
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_upload_bytes + FORM_OVERHEAD:
            raise HTTPProblem(413, too_large)
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise HTTPProblem(415, "send multipart/form-data with fields file, model_name, split, meta")

    def header_token(request: Request, *, form_may_carry_it: bool) -> str | None:
        """The configured token the Authorization header names; 401 before the body when it is wrong."""
        if not tokens:
            return None
        given = bearer_token(request.headers)
        if given is None and form_may_carry_it:
            return None  # the HTML form sends it as a field: checked once the (bounded) form is read
        found = matching_token(given, tokens)
        if found is None:
            raise HTTPProblem(401, "a valid upload token is required (header Authorization: Bearer TOKEN)")
        return found

    async def read_upload(request: Request) -> tuple[dict[str, str], bytes, str | None]:
        """The form fields and the file; the body streams through a byte counter into the form parser,
        which spools the file to a temporary file, so an upload never sits in memory whole while read."""
        receive = counted_receive(request.receive, max_upload_bytes + FORM_OVERHEAD, too_large)
        try:
            form = await Request(request.scope, receive=receive).form(max_files=1, max_fields=10)
        except HTTPProblem:
            raise
        except Exception as e:  # malformed multipart
            raise HTTPProblem(400, f"unreadable form data: {e}") from None
        try:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise HTTPProblem(400, "the form has no 'file' part")
            data = await upload.read(max_upload_bytes + 1)
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
            return fields, data, upload.filename
        finally:
            await form.close()

    async def handle_upload(request: Request, *, from_form: bool = False):
        check_request(request)
        with slots:
            found = header_token(request, form_may_carry_it=from_form)
            fields, data, filename = await read_upload(request)
            if tokens and found is None:
                found = matching_token(fields.get("token"), tokens)
                if found is None:
                    raise HTTPProblem(401, "a valid upload token is required")
            return await store_upload(fields, data, filename, submitter_id(found))

    async def store_upload(fields: dict[str, str], data: bytes, filename: str | None, submitter: str):
        name = fields.get("split") or (next(iter(splits)) if len(splits) == 1 else "")
        if name not in splits:
            raise HTTPProblem(400, f"unknown split {name!r}; this server takes {', '.join(splits)}")
        split_dir, idx = splits[name]
        meta = [line for line in fields.get("meta", "").splitlines() if line.strip()]
        try:
            return await run_in_threadpool(
                submit, store, data, split_dir, model_name=fields.get("model_name", ""), meta=meta,
                file_name=filename, max_bytes=max_upload_bytes, bootstrap=bootstrap, split=idx,
                quota=Quota(submitter, uploads_per_day))
        except LimitReached as e:
            raise HTTPProblem(429, str(e)) from None
        except Timer1Error as e:
            raise HTTPProblem(400, str(e)) from None

    def problem_json(e: HTTPProblem) -> JSONResponse:
        return JSONResponse({"error": str(e)}, status_code=e.status, headers=e.headers)

    async def api_submit(request: Request):
        try:
            out = await handle_upload(request)
        except HTTPProblem as e:
            return problem_json(e)
        body = out.to_json()
        return JSONResponse(body, status_code=201 if out.created else 200)

    async def form_submit(request: Request):
        try:
            out = await handle_upload(request, from_form=True)
        except HTTPProblem as e:
            notice = {"kind": "error", "text": f"Not stored: {e}"}
            bs = boards(store.submissions(), DEFAULT_SORT)
            return HTMLResponse(render_index(bs, base="/", upload=upload_info(), notice=notice), status_code=e.status)
        return RedirectResponse(f"/?submitted={out.submission.id}", status_code=303)

    async def index(request: Request):
        try:
            bs = current_boards(request)
        except HTTPProblem as e:
            return Response(str(e), status_code=e.status, media_type="text/plain")
        highlight = request.query_params.get("submitted", "")
        notice = None
        if highlight.isdigit():
            sub = store.get(int(highlight))
            if sub is not None:
                notice = {"kind": "ok", "text": f"Stored submission #{sub.id} for {sub.model_name}."}
        return HTMLResponse(render_index(bs, base="/", upload=upload_info(), notice=notice,
                                         highlight=int(highlight) if highlight.isdigit() else None))

    def get_submission(request: Request):
        sub = store.get(request.path_params["sub_id"])
        if sub is None:
            raise HTTPProblem(404, "no such submission")
        return sub

    async def submission_page(request: Request):
        try:
            return HTMLResponse(render_submission(get_submission(request), base="/"))
        except HTTPProblem as e:
            return Response(str(e), status_code=e.status, media_type="text/plain")

    async def api_leaderboard(request: Request):
        try:
            return JSONResponse({"boards": boards_json(current_boards(request))})
        except HTTPProblem as e:
            return problem_json(e)

    async def api_submission(request: Request):
        try:
            return JSONResponse(submission_json(get_submission(request), full=True))
        except HTTPProblem as e:
            return problem_json(e)

    def static_file(name: str):
        async def serve(request: Request):
            return FileResponse(STATIC_DIR / name)

        return serve

    routes = [
        Route("/", index), Route("/index.html", index),
        Route("/submissions/{sub_id:int}.html", submission_page),
        Route("/api/leaderboard", api_leaderboard),
        Route("/api/submissions/{sub_id:int}", api_submission),
        Route("/api/submissions", api_submit, methods=["POST"]),
        Route("/submit", form_submit, methods=["POST"]),
        *(Route(f"/static/{name}", static_file(name)) for name in STATIC_FILES),
    ]
    hosts = allowed_hosts if isinstance(allowed_hosts, frozenset) else allowed_hostnames(extra=allowed_hosts or ())
    app = Starlette(routes=routes, middleware=[Middleware(_SecurityHeaders), Middleware(_HostCheck, allowed=hosts)])
    app.state.splits = list(splits)
    app.state.store = store
    return app

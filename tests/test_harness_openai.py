"""The openai backend against a loopback stub of an OpenAI-compatible server (127.0.0.1 only)."""

from __future__ import annotations

import base64
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from tvgbench.cli import cli

FAST = {"fps": 1.0, "total_pixels": 128 * 28 * 28, "max_pixels": 64 * 28 * 28, "min_pixels": 4 * 28 * 28}
KEY = "sk-test-not-a-real-key"


class Stub:
    """Answers with a span derived from what it received: [first timestamp, last timestamp] of the frames."""

    def __init__(self, fail_every: int = 0, status: int = 503, retry_after: str | None = None, always: int = 0):
        self.bodies, self.headers, self.calls = [], [], 0
        self.fail_every, self.status, self.retry_after, self.always = fail_every, status, retry_after, always
        self.lock = threading.Lock()

    def handler(self):
        stub = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with stub.lock:
                    stub.calls += 1
                    n = stub.calls
                    fail = stub.always or (stub.fail_every and n % stub.fail_every == 0)
                    if not fail:
                        stub.bodies.append(body)
                        stub.headers.append(dict(self.headers))
                if self.path != "/v1/chat/completions":
                    self.send_response(404)
                    self.end_headers()
                    return
                if fail:
                    self.send_response(stub.always or stub.status)
                    if stub.retry_after is not None:
                        self.send_header("Retry-After", stub.retry_after)
                    self.end_headers()
                    self.wfile.write(b'{"error": "try later"}')
                    return
                user = next(m for m in body["messages"] if m["role"] == "user")
                stamps = [float(p["text"][:-1]) for p in user["content"]
                          if p["type"] == "text" and p["text"].endswith("s") and p["text"][:-1].replace(".", "").isdigit()]
                text = f"<think>saw {len(stamps)} frames</think><answer>{stamps[0]:.2f} to {stamps[-1]:.2f}</answer>"
                reply = {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                         "usage": {"completion_tokens": 7}}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return H


@pytest.fixture
def serve():
    servers = []

    def start(stub: Stub) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), stub.handler())
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def test_eval_run_over_the_stub_sends_timestamped_frames_and_retries(tmp_path, synth_split, serve, monkeypatch):
    from PIL import Image

    from tvgbench.harness import run_eval
    from tvgbench.splits import load_split

    monkeypatch.setenv("STUB_KEY", KEY)
    stub = Stub(fail_every=4, status=503, retry_after="0")
    base = serve(stub)
    out = tmp_path / "run"
    summary = run_eval(synth_split, synth_split, "stub-model", backend="openai", out_dir=out, batch_size=4, limit=12,
                       sampling=FAST, gen={"max_new_tokens": 64}, progress=False, bootstrap=0,
                       backend_options={"api_base": base, "api_key_env": "STUB_KEY", "backoff_s": 0.01})
    assert summary["status"] == "clean" and summary["counts"]["lines"] == 12
    assert stub.calls > 12  # every 4th call failed with 503 and was retried
    assert len(stub.bodies) == 12
    samples = {s.qid: s for s in load_split(synth_split).samples}
    recs = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    for body in stub.bodies:
        assert body["model"] == "stub-model" and body["max_tokens"] == 64 and body["temperature"] == 0.0
        assert body["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}
        parts = body["messages"][1]["content"]
        images = [p for p in parts if p["type"] == "image_url"]
        assert parts[-1]["type"] == "text" and "To accurately pinpoint" in parts[-1]["text"]  # video first
        png = base64.b64decode(images[0]["image_url"]["url"].split(",", 1)[1])
        with Image.open(io.BytesIO(png)) as im:
            assert im.format == "JPEG" and im.size[0] % 28 == 0 and im.size[1] % 28 == 0
    for rec in recs:
        n = rec["video"]["n_frames"]
        assert rec["text"].startswith(f"<think>saw {n} frames")
        assert rec["pred"][0] == pytest.approx(0.0, abs=0.6)  # first frame is at the clip start
        assert rec["pred"][1] <= samples[rec["qid"]].duration + 1e-6
    assert all(h.get("Authorization") == f"Bearer {KEY}" for h in stub.headers)
    run_text = (out / "run.json").read_text()
    assert KEY not in run_text and json.loads(run_text)["backend"]["api_key_env"] == "STUB_KEY"


def test_nothink_prefix_continues_the_assistant_turn(tmp_path, synth_split, serve):
    from tvgbench.harness import run_eval

    stub = Stub()
    base = serve(stub)
    run_eval(synth_split, synth_split, "m", backend="openai", prompt="nothink", out_dir=tmp_path / "r", limit=2,
             sampling=FAST, progress=False, bootstrap=0, backend_options={"api_base": base})
    body = stub.bodies[0]
    assert body["messages"][-1] == {"role": "assistant", "content": "<think>\n</think>\n"}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False


def test_http_errors_become_one_line_errors(tmp_path, synth_split, serve):
    bad = serve(Stub(always=400))
    res = CliRunner().invoke(cli, ["eval", "run", "--split", str(synth_split), "--model", "m", "--backend", "openai",
                                   "--api-base", bad, "--out", str(tmp_path / "a"), "--quiet", "--limit", "1",
                                   "--fps", "1", "--total-pixels", str(FAST["total_pixels"])])
    assert res.exit_code == 2 and "HTTP 400" in res.output and len(res.output.strip().splitlines()) == 1


def test_gives_up_after_retries(tmp_path):
    from tvgbench.errors import Timer1Error
    from tvgbench.harness.backends.base import GenParams
    from tvgbench.harness.backends.openai import OpenAIBackend

    # nothing listens on this port (bound then closed), so every attempt is refused
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    be = OpenAIBackend("m", GenParams(), api_base=f"http://127.0.0.1:{port}/v1", max_retries=2, backoff_s=0.01)
    with pytest.raises(Timer1Error, match="failed after 3 attempts"):
        be.generate([{"model": "m", "messages": []}])
    assert be.retries_used == 2

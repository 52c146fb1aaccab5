"""``--model ORG/NAME[@REVISION]``: Hub ids resolve through huggingface_hub's cache in eval run, predict and
train alike (offline here: the tiny model placed in a local HF cache layout)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from tvgbench.core.errors import Timer1Error
from tvgbench.models.hub import parse_hub_spec, resolve_model

REPO = Path(__file__).resolve().parents[1]
COMMIT = "0123456789abcdef0123456789abcdef01234567"
HUB_ID = "tiny-org/tiny-qwen"


def place_in_hub_cache(model_dir: Path, cache: Path, repo_id: str = HUB_ID, commit: str = COMMIT,
                       branch: str = "main") -> Path:
    """huggingface_hub's cache layout: models--ORG--NAME/snapshots/<commit>/..., refs/<branch> = commit."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    shutil.copytree(model_dir, snapshot)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / branch).write_text(commit)
    return snapshot


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory, tiny_model_dir) -> Path:
    cache = tmp_path_factory.mktemp("hf-cache")
    place_in_hub_cache(tiny_model_dir, cache)
    return cache


def _cli(args: list[str], cache: Path, cwd: Path) -> subprocess.CompletedProcess:
    """``timer1 ARGS`` in a fresh process (huggingface_hub reads HF_HUB_CACHE once, at import)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "TOKENIZERS_PARALLELISM": "false"}
    code = "import sys; sys.argv[0] = 'timer1'; from tvgbench.cli.main import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=300)


def test_hub_specs_and_folders_are_told_apart(tmp_path):
    assert parse_hub_spec("Qwen/Qwen2.5-VL-7B-Instruct") == ("Qwen/Qwen2.5-VL-7B-Instruct", None)
    assert parse_hub_spec("org/name@v1.0") == ("org/name", "v1.0")
    assert parse_hub_spec(f"org/name@{COMMIT}") == ("org/name", COMMIT)
    assert parse_hub_spec("runs/x/final") is None and parse_hub_spec("./model") is None
    (tmp_path / "org" / "name").mkdir(parents=True)
    os.chdir(tmp_path)
    try:
        assert parse_hub_spec("org/name") is None  # an existing folder wins
    finally:
        os.chdir(REPO)
    local = resolve_model(str(tmp_path))
    assert local.path == str(tmp_path) and local.record() is None


def test_a_cached_hub_id_resolves_offline_to_its_snapshot(hub_cache):
    for spec in (HUB_ID, f"{HUB_ID}@main", f"{HUB_ID}@{COMMIT}"):
        source = resolve_model(spec, cache_dir=hub_cache, offline=True)
        assert Path(source.path) == hub_cache / "models--tiny-org--tiny-qwen" / "snapshots" / COMMIT
        assert source.commit == COMMIT and source.record()["repo_id"] == HUB_ID
        assert (Path(source.path) / "config.json").is_file()


@pytest.mark.parametrize("spec, command", [("tiny-org/not-cached", "hf download tiny-org/not-cached"),
                                           (f"{HUB_ID}@v2", f"hf download {HUB_ID} --revision v2")])
def test_offline_and_not_cached_is_one_line_naming_the_download(hub_cache, spec, command):
    with pytest.raises(Timer1Error) as e:
        resolve_model(spec, cache_dir=hub_cache, offline=True)
    message = str(e.value)
    assert "\n" not in message and command in message and "offline" in message and spec in message


def test_eval_run_with_a_hub_id_records_family_revision_and_first_prompt(tmp_path, hub_cache, synth_split):
    out = tmp_path / "run"
    r = _cli(["eval", "run", "--split", str(synth_split), "--video-root", str(synth_split), "--model", HUB_ID,
              "--out", str(out), "--limit", "2", "--max-new-tokens", "4", "--fps", "1", "--max-pixels", str(64 * 28 * 28),
              "--total-pixels", str(192 * 28 * 28), "--threads", "1", "--device", "cpu", "--workers", "0", "--quiet"],
             hub_cache, tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    run = json.loads((out / "run.json").read_text())
    assert run["settings"]["model"] == HUB_ID  # what was asked; the backend records the folder it loaded
    assert run["backend"]["model"].endswith(f"snapshots/{COMMIT}")
    assert run["model_source"] == {"repo_id": HUB_ID, "revision": "main", "commit": COMMIT,
                                   "path": run["backend"]["model"]}
    assert run["family"]["family"] == "Qwen2.5-VL" and run["family"]["model_type"] == "qwen2_5_vl"
    assert "second_per_grid_ts" in run["family"]["time_encoding"]
    first = run["first_prompt"]
    first_qid = json.loads((out / "predictions.jsonl").read_text().splitlines()[0])["qid"]
    assert first["qid"] == first_qid
    assert first["sha256"] == hashlib.sha256(first["text"].encode()).hexdigest()
    # the exact model input: the chat template around the query, one pad per video token
    lines = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert first["text"].count("<|video_pad|>") == lines[0]["video"]["video_tokens"]
    assert "<|im_start|>assistant" in first["text"]


def test_predict_with_a_hub_id(tmp_path, hub_cache, synth_split):
    video = sorted((synth_split / "videos").glob("*.mp4"))[0]
    r = _cli(["predict", "--model", f"{HUB_ID}@{COMMIT}", "--video", str(video), "--query", "a red square appears",
              "--max-new-tokens", "4", "--fps", "1", "--max-pixels", str(64 * 28 * 28), "--total-pixels",
              str(192 * 28 * 28), "--threads", "1", "--device", "cpu", "--json"], hub_cache, tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    settings = json.loads(r.stdout)["settings"]
    assert settings["model_source"]["commit"] == COMMIT and settings["model_source"]["revision"] == COMMIT
    assert settings["family"]["model_type"] == "qwen2_5_vl"
    assert settings["prompt_text"]["sha256"] == hashlib.sha256(settings["prompt_text"]["text"].encode()).hexdigest()


def test_offline_uncached_hub_id_fails_before_any_video_is_decoded(tmp_path, hub_cache, synth_split):
    r = _cli(["eval", "run", "--split", str(synth_split), "--video-root", str(synth_split), "--model", "nobody/none",
              "--out", str(tmp_path / "run"), "--limit", "1", "--quiet"], hub_cache, tmp_path)
    assert r.returncode != 0
    errors = [line for line in (r.stdout + r.stderr).splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: ") and "hf download nobody/none" in errors[0], errors
    assert not (tmp_path / "run").exists()


def test_train_loads_a_hub_id_from_the_cache(tmp_path, hub_cache):
    """The trainer's model check and loader resolve through the same function (a fresh process: HF_HUB_CACHE)."""
    code = ("from trainer.model import check_model_source, load_policy\n"
            f"check_model_source({HUB_ID!r})\n"
            f"model, tok = load_policy({HUB_ID!r}, 'float32')\n"
            "print(type(model).__name__, model.config.model_type, model.name_or_path)")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(hub_cache)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    name, model_type, where = r.stdout.split()
    assert model_type == "qwen2_5_vl" and where.endswith(f"snapshots/{COMMIT}")


def serve_like_the_hub(folder: Path, repo_id: str, commit: str) -> ThreadingHTTPServer:
    """A loopback stand-in for the Hub endpoints snapshot_download calls: repo info, file tree, resolve."""
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, status: int, body: bytes, headers: dict) -> None:
            self.send_response(status)
            for k, v in {"Content-Length": str(len(body)), **headers}.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self):
            path, as_json = unquote(urlparse(self.path).path), {"Content-Type": "application/json"}
            resolve = f"/{repo_id}/resolve/{commit}/"
            if path.startswith(f"/api/models/{repo_id}/revision/"):
                info = {"id": repo_id, "sha": commit, "siblings": [{"rfilename": n} for n in files]}
                return self._send(200, json.dumps(info).encode(), as_json)
            if path.startswith(f"/api/models/{repo_id}/tree/{commit}"):
                return self._send(200, json.dumps([{"type": "file", "path": n, "size": len(b),
                                                     "oid": hashlib.sha1(b).hexdigest()} for n, b in files.items()]
                                                   ).encode(), as_json)
            if path.startswith(resolve) and path[len(resolve):] in files:
                body = files[path[len(resolve):]]
                return self._send(200, body, {"X-Repo-Commit": commit, "ETag": f'"{hashlib.sha1(body).hexdigest()}"'})
            return self._send(404, b"{}", {"X-Error-Code": "RepoNotFound", **as_json})

        do_HEAD = do_GET

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _resolve_in_process(spec: str, cache: Path, endpoint: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_TOKEN")}
    env.update(HF_HUB_CACHE=str(cache), HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_TELEMETRY="1")
    if endpoint:
        env["HF_ENDPOINT"] = endpoint
    else:
        env["HF_HUB_OFFLINE"] = "1"
    code = ("import json, sys\nfrom tvgbench.core.errors import Timer1Error\nfrom tvgbench.models.hub import resolve_model\n"
            f"try:\n    print(json.dumps(resolve_model({spec!r}).record()))\n"
            "except Timer1Error as e:\n    print('error: ' + str(e)); sys.exit(2)")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)


def test_online_a_hub_id_is_downloaded_into_the_cache_and_then_resolves_offline(tmp_path, tiny_model_dir):
    commit = "c" * 40
    server = serve_like_the_hub(tiny_model_dir, "stub-org/tiny", commit)
    endpoint = f"http://127.0.0.1:{server.server_port}"
    cache = tmp_path / "cache"
    try:
        r = _resolve_in_process("stub-org/tiny", cache, endpoint)
        assert r.returncode == 0, r.stdout + r.stderr[-2000:]
        record = json.loads(r.stdout.strip().splitlines()[-1])
        missing = _resolve_in_process("stub-org/absent", cache, endpoint)
    finally:
        server.shutdown()
    snapshot = Path(record["path"])
    assert record["commit"] == commit and snapshot == cache / "models--stub-org--tiny" / "snapshots" / commit
    for f in tiny_model_dir.iterdir():
        if f.is_file():
            assert (snapshot / f.name).read_bytes() == f.read_bytes()
    assert missing.returncode == 2 and "no model stub-org/absent on the Hub" in missing.stdout
    offline = _resolve_in_process("stub-org/tiny", cache, None)  # the server is gone: the cache serves it
    assert offline.returncode == 0 and json.loads(offline.stdout) == record


def test_a_trained_models_card_names_the_base_repository_without_its_revision():
    from trainer.model_card import hub_base_model

    assert hub_base_model(f"{HUB_ID}@{COMMIT}") == HUB_ID and hub_base_model(HUB_ID) == HUB_ID


def test_training_from_a_hub_id_carries_its_processor_files(tmp_path, hub_cache):
    """final/ of a run trained from a Hub id gets the snapshot's pixel settings, as from a folder."""
    dest = tmp_path / "final"
    dest.mkdir()
    code = f"from pathlib import Path\nfrom trainer.train import copy_processor_files\ncopy_processor_files({HUB_ID!r}, Path({str(dest)!r}))"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(hub_cache)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    snapshot = hub_cache / "models--tiny-org--tiny-qwen" / "snapshots" / COMMIT
    assert (dest / "preprocessor_config.json").read_bytes() == (snapshot / "preprocessor_config.json").read_bytes()

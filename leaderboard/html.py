"""HTML pages (Jinja2 with autoescaping everywhere) and the static-site export.

The same templates serve ``timer1 leaderboard export`` (relative links, hostable anywhere, e.g. a Hub
Space) and the web app. Everything a submitter wrote (model name, metadata, file name) reaches the
page only through autoescaped expressions; the page's script only reorders existing rows.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

import jinja2

from tvgbench import __version__
from tvgbench.core.scoring import SCORER_VERSION

from .public import public_submission
from .ranking import Board, METRICS, boards as make_boards
from .store import Store, Submission, utc_now

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
STATIC_FILES = ("leaderboard.css", "leaderboard.js")  # all the web app serves from disk: an explicit list
BREAKDOWNS = (("qtype", "query type"), ("source", "source"), ("videolen", "video length"))


@lru_cache(maxsize=1)
def environment():
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every template, every expression
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _common(base: str) -> dict:
    return {"base": base, "version": __version__, "scorer_version": SCORER_VERSION, "generated_at": utc_now(),
            "metrics": METRICS}


def render_index(boards: list[Board], *, base: str = "", upload: dict | None = None, notice: dict | None = None,
                 highlight: int | None = None) -> str:
    return environment().get_template("index.html.jinja").render(
        boards=boards, upload=upload, notice=notice, highlight=highlight, **_common(base))


def render_submission(sub: Submission, *, base: str = "../") -> str:
    sub = public_submission(sub)  # hidden ground truth: rounded scores, no breakdowns
    return environment().get_template("submission.html.jinja").render(
        s=sub, stale=sub.scorer_version != SCORER_VERSION, breakdowns=BREAKDOWNS, **_common(base))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def export_site(store: Store, out_dir: str | os.PathLike, *, sort: str, split_name: str | None = None,
                progress=None) -> list[Path]:
    """Write index.html, submissions/<id>.html and static/ into ``out_dir``, replacing it in one step.

    The site is built in a sibling temporary folder and swapped in, so a killed export leaves either
    the old site or the new one, never a mix.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        from tvgbench.core.errors import Timer1Error

        raise Timer1Error(f"{out} exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    subs = store.submissions(split_name)
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.building-"))
    try:
        _write(work / "index.html", render_index(make_boards(subs, sort), base=""))
        for s in (progress(subs) if progress else subs):
            _write(work / "submissions" / f"{s.id}.html", render_submission(s, base="../"))
        shutil.copytree(STATIC_DIR, work / "static", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
        os.replace(work, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return sorted(p for p in out.rglob("*") if p.is_file())

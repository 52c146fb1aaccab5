"""HTML pages (Jinja2 with autoescaping everywhere) and the static-site export.

The same templates serve ``timer1 leaderboard export`` (relative links, hostable anywhere, e.g. a Hub
Space) and the web app. Everything a submitter wrote (model name, metadata, file name) reaches the
page only through autoescaped expressions; the page's script only reorders existing rows.
"""

from __future__ import annotations

import os
import shutil
from functools import lru_cache
from pathlib import Path

import jinja2

from tvgbench import __version__
from tvgbench.core.outdir import Owned, owned_files, staged_output
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


def tab_labels(boards: list[Board]) -> list[str]:
    """One tab per board, named for its benchmark and split; boards that would read alike add their hash."""
    labels = [f"{b.pretty_name} · {b.split_name}" for b in boards]
    return [f"{label} ({b.split_hash[7:15]})" if labels.count(label) > 1 else label for label, b in zip(labels, boards)]


def render_index(boards: list[Board], *, base: str = "", upload: dict | None = None, notice: dict | None = None,
                 highlight: int | None = None) -> str:
    return environment().get_template("index.html.jinja").render(
        boards=boards, tab_labels=tab_labels(boards), upload=upload, notice=notice, highlight=highlight,
        **_common(base))


def render_submission(sub: Submission, *, base: str = "../") -> str:
    sub = public_submission(sub)  # hidden ground truth: rounded scores, no breakdowns
    return environment().get_template("submission.html.jinja").render(
        s=sub, stale=sub.scorer_version != SCORER_VERSION, breakdowns=BREAKDOWNS, **_common(base))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


SITE_MARKER = '<meta name="generator" content="timer1 '


def _generated_here(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return SITE_MARKER in f.read(4096)
    except OSError:
        return False


def site_ownership(out: Path) -> Owned:
    """An earlier export in ``out`` (its index.html carries timer1's generator tag): its pages and assets."""
    if not _generated_here(out / "index.html"):
        return Owned()
    pages = [p for p in (out / "submissions").glob("*.html") if p.stem.isdigit() and _generated_here(p)]
    names = ["index.html", *(f"static/{n}" for n in STATIC_FILES),
             *(p.relative_to(out).as_posix() for p in pages)]
    # an earlier site is replaced without --overwrite: it is rebuilt from the database, nothing is lost
    return Owned(owned_files(out, names), prune=True)


def export_site(store: Store, out_dir: str | os.PathLike, *, sort: str, split_name: str | None = None,
                progress=None, overwrite: bool = False) -> list[Path]:
    """Write index.html, submissions/<id>.html and static/ into ``out_dir``.

    The site is built in a sibling temporary folder and swapped in (:mod:`tvgbench.core.outdir`): a
    killed export leaves the old site or the new one, and files the export did not write (a database,
    a ``.git``) are never touched, and a folder holding any needs ``overwrite``.
    """
    out = Path(os.path.abspath(out_dir))
    subs = store.submissions(split_name)
    with staged_output(out_dir, overwrite=overwrite, command="timer1 leaderboard export",
                       owned=site_ownership) as work:
        _write(work / "index.html", render_index(make_boards(subs, sort), base=""))
        for s in (progress(subs) if progress else subs):
            _write(work / "submissions" / f"{s.id}.html", render_submission(s, base="../"))
        (work / "static").mkdir()
        for name in STATIC_FILES:
            shutil.copyfile(STATIC_DIR / name, work / "static" / name)
    written = site_ownership(out).files
    return sorted(Path(out_dir) / rel for rel in written)

"""``timer1 leaderboard``: submit, show, export, serve (plus rescore after a scorer update, and withdraw).

Only click and the standard library at import time; everything else is imported inside the commands.
"""

from __future__ import annotations

import json

import click

from tvgbench.core.errors import Timer1Error

DB_HELP = "SQLite file or sqlite:///PATH URL [default: $TIMER1_LEADERBOARD_DB or the timer1 user data folder]."
SORT_CHOICES = ("R1@0.3", "R1@0.5", "R1@0.7", "mIoU")


@click.group("leaderboard")
def leaderboard():
    """A leaderboard for TVG splits: validated submissions, versioned scores, a static site and a web app.

    \b
    timer1 leaderboard submit preds.jsonl --split SPLIT_DIR --model-name my-model --meta fps=2
    timer1 leaderboard show
    timer1 leaderboard export --html site/
    timer1 leaderboard serve --split SPLIT_DIR
    """


def _mib(value: float) -> int:
    return int(value * 1024 * 1024)


@leaderboard.command("submit")
@click.argument("predictions", type=click.Path(dir_okay=False))
@click.option("--split", "split_dir", required=True, type=click.Path(), help="Split folder (HF layout) the predictions answer.")
@click.option("--split-name", default=None, help="Which split in the folder, when it holds several.")
@click.option("--model-name", required=True, help="Name shown on the board (one line, ≤ 100 characters).")
@click.option("--meta", multiple=True, metavar="KEY=VALUE", help="Metadata shown with the submission (repeatable), e.g. fps=2, prompt=v1.")
@click.option("--db", default=None, help=DB_HELP)
@click.option("--max-mib", default=32.0, show_default=True, help="Refuse files larger than this.")
@click.option("--bootstrap", default=1000, show_default=True, help="Bootstrap resamples (over videos) for the 95% intervals.")
@click.option("--json", "as_json", is_flag=True, help="Print the stored submission as JSON.")
def submit_cmd(predictions, split_dir, split_name, model_name, meta, db, max_mib, bootstrap, as_json):
    """Validate, score and store PREDICTIONS (JSONL, same formats as `timer1 eval score`); print scores and rank.

    Any problem is reported as one line and nothing is stored. Queries without a line count as misses.
    Submitting the same file again is recognised and not counted twice.
    """
    from .service import submit_file
    from .store import open_store

    with open_store(db) as store:
        out = submit_file(store, predictions, split_dir, model_name=model_name, meta=list(meta),
                          split_name=split_name, max_bytes=_mib(max_mib), bootstrap=bootstrap)
    if as_json:
        click.echo(json.dumps(out.to_json(), indent=2, ensure_ascii=False))
        return
    s = out.submission
    if not out.created:
        state = f"withdrawn ({s.withdrawn})" if s.withdrawn else "on the board"
        click.echo(f"already submitted: this file is submission #{s.id} ({s.model_name!r}, {s.created_at}, {state}); "
                   "not counted again")
    else:
        click.echo(f"stored submission #{s.id} for {s.model_name!r} on split {s.split_name!r} (scorer {s.scorer_version})")
    m, ci, t1 = s.canonical["metrics"], s.canonical.get("ci95", {}), s.timer1["metrics"]
    for name in SORT_CHOICES:
        interval = f"  [{ci[name][0]:.1f}, {ci[name][1]:.1f}]" if name in ci else ""
        click.echo(f"  {name:<7} {m[name]:6.2f}{interval}   (Time-R1-compat {t1[name]:.2f})")
    click.echo(f"  coverage: {s.matched} of {s.matched + s.missing} queries answered"
               + (f"; {s.missing} missing, scored as misses (e.g. {', '.join(out.missing_examples[:3])})" if s.missing else ""))
    if out.rank is not None:
        click.echo(f"rank {out.rank} of {out.ranked_models} models by R1@0.5")


@leaderboard.command("show")
@click.option("--split", "split_name", default=None, help="Only this split name.")
@click.option("--sort", default="R1@0.5", show_default=True, type=click.Choice(SORT_CHOICES), help="Ranking metric.")
@click.option("--db", default=None, help=DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the boards as JSON.")
def show_cmd(split_name, sort, db, as_json):
    """The best submission per model, with R1@0.3/0.5/0.7, mIoU, their 95% intervals and dates."""
    from .api import boards_json
    from .ranking import boards
    from .store import open_store

    with open_store(db, create=False) as store:
        subs = store.submissions(split_name)
    bs = boards(subs, sort)
    if as_json:
        click.echo(json.dumps(boards_json(bs), indent=2, ensure_ascii=False))
        return
    _print_boards(bs, split_name)


def _print_boards(bs, split_name) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # piped or captured: do not squeeze the table into 80 columns
        console = Console(width=200)
    if not bs:
        console.print("no submissions" + (f" on split {escape(repr(split_name))}" if split_name else ""))
        return
    for b in bs:
        convention = f" ({escape(b.convention)})" if b.convention != "canonical" else ""
        t = Table(title=f"{escape(b.pretty_name)} · split {escape(b.split_name)} ({b.split_hash[:19]}…), "
                        f"ranked by {b.sort}{convention}")
        for col in ("#", "model", *b.metrics, "coverage", "submitted", "id"):
            t.add_column(col, justify="right" if col not in ("model", "submitted") else "left", no_wrap=col != "model")
        for e in b.entries:
            s = e.submission
            ci = s.board_result.get("ci95", {})  # the split's declared convention's result
            cells = [(f"{s.metric(m):.2f}" if s.metric(m) > float("-inf") else "—")
                     + (f" [{ci[m][0]:.1f}, {ci[m][1]:.1f}]" if m in ci else "") for m in b.metrics]
            t.add_row(str(e.rank), escape(s.model_name), *cells, f"{s.matched}/{s.matched + s.missing}",
                      s.created_at[:10], f"#{s.id}")
        console.print(t)
        if b.withdrawn:
            console.print(f"withdrawn: {', '.join(f'#{s.id}' for s in b.withdrawn)}")
        if b.stale:
            console.print(f"{len(b.stale)} submission(s) scored with another scorer version are not ranked; "
                          "run `timer1 leaderboard rescore --split SPLIT_DIR`.")


@leaderboard.command("export")
@click.option("--html", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder for the static site.")
@click.option("--split", "split_name", default=None, help="Only this split name.")
@click.option("--sort", default="R1@0.5", show_default=True, type=click.Choice(SORT_CHOICES), help="Initial ranking metric.")
@click.option("--db", default=None, help=DB_HELP)
@click.option("--overwrite", is_flag=True,
              help="Write beside files the export did not write (those are never touched).")
def export_cmd(out_dir, split_name, sort, db, overwrite=False):
    """Write a static site: index.html with a sortable table and a page per submission with breakdown charts.

    The folder must be new or empty, or hold an earlier export (replaced); other files in it, such as
    the database, need --overwrite and are never touched.
    """
    from tqdm import tqdm

    from .html import export_site
    from .store import open_store

    with open_store(db) as store:
        files = export_site(store, out_dir, sort=sort, split_name=split_name, overwrite=overwrite,
                            progress=lambda xs: tqdm(xs, desc="pages", unit="page", leave=False))
    click.echo(f"wrote {len(files)} files to {out_dir} (open {out_dir}/index.html)")


@leaderboard.command("rescore")
@click.option("--split", "split_dir", required=True, type=click.Path(), help="The split folder the stale submissions were made on.")
@click.option("--split-name", default=None, help="Which split in the folder, when it holds several.")
@click.option("--db", default=None, help=DB_HELP)
def rescore_cmd(split_dir, split_name, db):
    """Re-score submissions made with an older scorer version from their stored files."""
    from tqdm import tqdm

    from tvgbench.core.scoring import SCORER_VERSION

    from .service import rescore
    from .store import open_store

    with open_store(db, create=False) as store:
        done = rescore(store, split_dir, split_name=split_name,
                       progress=lambda xs: tqdm(xs, desc="rescoring", unit="submission", leave=False))
    click.echo(f"re-scored {len(done)} submission(s) with scorer {SCORER_VERSION}")


@leaderboard.command("withdraw")
@click.argument("submission_id", type=int)
@click.option("--reason", required=True, help="Shown on the submission's page (one line).")
@click.option("--db", default=None, help=DB_HELP)
def withdraw_cmd(submission_id, reason, db):
    """Take a submission off the board (kept for the record, shown as withdrawn with the reason)."""
    from .store import open_store
    from .validate import one_line

    with open_store(db, create=False) as store:
        store.withdraw(submission_id, one_line(reason, 200))
    click.echo(f"withdrew submission #{submission_id}")


@leaderboard.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--db", default=None, help=DB_HELP)
@click.option("--split", "split_dirs", multiple=True, type=click.Path(), help="Split folder accepting uploads (repeatable); none: read-only board.")
@click.option("--token-file", default=None, type=click.Path(dir_okay=False), help="File holding the upload token(s), one per line (one per uploader); uploads then need one.")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME", help="A host name this server answers to besides loopback and --host (repeatable), e.g. the public name of a deployment.")
@click.option("--max-upload-mib", default=32.0, show_default=True, help="Largest upload accepted.")
@click.option("--bootstrap", default=1000, show_default=True, help="Bootstrap resamples for the intervals of uploads.")
@click.option("--uploads-per-day", default=5, show_default=True, type=click.IntRange(1), help="Submissions each token may store per day on a split whose ground truth is hidden.")
def serve_cmd(host, port, db, split_dirs, token_file, allowed_hosts, max_upload_mib, bootstrap, uploads_per_day):
    """Run the web app: the board, an upload form and a JSON API (POST /api/submissions, GET /api/leaderboard).

    Requests whose Host is not loopback, --host or an --allowed-host are refused (DNS rebinding), and so
    are uploads a page of another origin sends (CSRF)."""
    from .guards import allowed_hostnames, is_loopback, read_tokens
    from .server import create_app
    from .store import open_store

    tokens = read_tokens(token_file) if token_file else None
    if split_dirs and tokens is None and not is_loopback(host):
        raise Timer1Error(f"refusing anonymous uploads on non-loopback address {host}; give --token-file")
    import uvicorn

    store = open_store(db)
    app = create_app(store, split_dirs=list(split_dirs), token=tokens, max_upload_bytes=_mib(max_upload_mib),
                     bootstrap=bootstrap, allowed_hosts=allowed_hostnames(host, allowed_hosts),
                     uploads_per_day=uploads_per_day)
    uploads = ("read-only, no uploads" if not split_dirs else
               f"uploads to {', '.join(app.state.splits)}, {'token required' if tokens else 'no token'}")
    click.echo(f"timer1 leaderboard on http://{host}:{port}/ ({uploads})")
    uvicorn.run(app, host=host, port=port, log_level="warning")

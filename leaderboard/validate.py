"""Submission validation: every rejection is one clear line, and it happens before anything is stored.

The core reader (:func:`tvgbench.core.predictions.read_predictions`) is lenient on purpose (``timer1 eval
score`` must read whatever a harness wrote). A public leaderboard must be strict, so this module adds
what the reader does not check: a declared JSON Schema per row (``prediction_row.schema.json``), exact
non-finite detection (``NaN``/``Infinity`` literals and overflowing numbers), duplicate and unknown qids
against the split, and size, binary and encoding checks on the raw bytes. Lines meet the split's queries
through the core join (:func:`tvgbench.core.join.match_qids`), so an alias resolves here exactly as in the
scorer. Only what passes here is handed to the core reader and scorer, so a submission is read exactly as
``timer1 eval score`` reads it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import fastjsonschema
import numpy as np
import pyarrow as pa
import yaml
from jsonschema import Draft7Validator
from jsonschema.exceptions import relevance

from tvgbench.core.errors import Timer1Error
from tvgbench.core.join import match_qids
from tvgbench.core.peer_files import looks_like_peer_file, peer_records, read_peer_file, read_split_queries
from tvgbench.core.scoring import MODES
from tvgbench.core.splits import content_hash, read_sidecar, read_split_table, resolve_split

SCHEMA_PATH = Path(__file__).with_name("prediction_row.schema.json")
DEFAULT_MAX_BYTES = 32 * 1024 * 1024  # an 800-query file with raw outputs is well under 1 MiB
MAX_REASON_CHARS = 300
MAX_MODEL_NAME = 100
MAX_META_ITEMS = 32
MAX_META_KEY = 64
MAX_META_VALUE = 500


class SubmissionRejected(Timer1Error):
    """A submission refused with a one-line reason; nothing was stored."""

    def __init__(self, reason: str):
        super().__init__(one_line(reason))


def one_line(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """Collapse any whitespace (incl. U+2028, U+0085) and escape control characters: one printable line."""
    flat = " ".join(str(text).split())
    flat = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in flat)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def show(value, limit: int = 60) -> str:
    """A user-supplied value, quoted and shortened, safe to put in a reason line."""
    r = repr(value)
    return r if len(r) <= limit else r[: limit - 1] + "…"


@lru_cache(maxsize=1)
def row_schema() -> dict:
    """The declared JSON Schema of one prediction row."""
    text = SCHEMA_PATH.read_text(encoding="utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def _row_validator():
    """jsonschema: slow, but its errors say what is wrong; used only once a row is known to be bad."""
    schema = row_schema()
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


@lru_cache(maxsize=1)
def _row_is_valid():
    """fastjsonschema compiles the same schema to plain Python (~100x faster): the accept path."""
    check = fastjsonschema.compile(row_schema())

    def is_valid(row) -> bool:
        try:
            check(row)
            return True
        except fastjsonschema.JsonSchemaException:
            return False

    return is_valid


# ---- the split side: which ids exist ---------------------------------------------------------------


def card_pretty_name(split_dir: str | os.PathLike) -> str | None:
    """``pretty_name`` from the YAML header of the split's dataset card (README.md), if it has one."""
    try:
        text = (Path(split_dir) / "README.md").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not text.startswith("---\n") or "\n---" not in text[4:]:
        return None
    try:
        meta = yaml.safe_load(text[4:text.index("\n---", 4)])
    except yaml.YAMLError:
        return None
    name = meta.get("pretty_name") if isinstance(meta, dict) else None
    return name.strip() if isinstance(name, str) and name.strip() else None


@dataclass(frozen=True)
class SplitIndex:
    """What validation needs from a split: its identity, its qids and their Time-R1 aliases (``source_id``)."""

    name: str
    content_hash: str
    n: int
    qids: tuple[str, ...]
    aliases: tuple[str | None, ...] = field(default=(), repr=False)
    hidden: bool = False  # the sidecar marks its ground truth hidden: see leaderboard/public.py
    pretty_name: str | None = None  # the dataset's name on the board (card or sidecar), beside the split name
    convention: str = "canonical"  # the scoring mode the split declares (sidecar "convention"); ranks its board

    @cached_property
    def _keys(self):
        aliases = self.aliases or (None,) * self.n
        return pa.array(self.qids, pa.string()), pa.array([a or None for a in aliases], pa.string())

    def rows_of(self, ids) -> np.ndarray:
        """Split row of each id (-1 when the split does not know it), by the core join."""
        qid, alias = self._keys
        return match_qids(list(ids), qid, alias)

    @cached_property
    def row_of(self) -> dict[str, int]:
        """Every id the split answers to (qids and aliases) → its row."""
        ids = list(dict.fromkeys(list(self.qids) + [a for a in self.aliases if a]))
        return dict(zip(ids, self.rows_of(ids).tolist()))

    @classmethod
    def from_dir(cls, split_dir: str | os.PathLike, split_name: str | None = None) -> "SplitIndex":
        d, name, _ = resolve_split(split_dir, split_name)
        table = read_split_table(d, name, columns=["qid", "source_id"])
        qids = table.column("qid").to_pylist()
        aliases = tuple(str(a) if a else None for a in table.column("source_id").to_pylist())
        sidecar = read_sidecar(d)
        info = sidecar.get("splits", {}).get(name, {})
        digest = info.get("content_hash")
        if not digest:  # a split written by other tools: hash the full rows like write_split does
            digest = content_hash(read_split_table(d, name).to_pylist())
        hidden = info.get("hidden_ground_truth", sidecar.get("hidden_ground_truth", False)) is True
        pretty = info.get("pretty_name") or sidecar.get("pretty_name") or card_pretty_name(d) or Path(d).resolve().name
        return cls(name=name, content_hash=digest, n=len(qids), qids=tuple(qids), aliases=aliases, hidden=hidden,
                   pretty_name=one_line(str(pretty), MAX_MODEL_NAME),
                   convention=declared_convention(info.get("convention", sidecar.get("convention")), d))


def declared_convention(value, split_dir) -> str:
    """The split's declared scoring convention (one of the scorer's modes); canonical when it declares none."""
    if value is None:
        return "canonical"
    if value not in MODES:
        raise Timer1Error(f"{split_dir}: the split declares scoring convention {show(value)}, which this timer1 "
                          f"does not score; known: {', '.join(MODES)}")
    return value


# ---- the submission side ---------------------------------------------------------------------------


@dataclass
class ValidSubmission:
    """A submission that passed every check: the bytes to score and store, and its coverage."""

    data: bytes
    sha256: str
    lines: int
    matched: int
    missing: int
    missing_examples: list[str]


class _NonFinite(ValueError):
    pass


def _parse_constant(name: str):
    raise _NonFinite(f"non-finite number {name}")


def _parse_float(text: str) -> float:
    x = float(text)
    if not math.isfinite(x):
        raise _NonFinite(f"number {text[:40]} is out of range")
    return x


def _parse_line(text: str):
    return json.loads(text, parse_constant=_parse_constant, parse_float=_parse_float)


def _where(path) -> str:
    parts = list(path)
    if not parts:
        return "the line"
    out = repr(parts[0]) if isinstance(parts[0], str) else f"[{parts[0]}]"
    for p in parts[1:]:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


_TYPE_WORDS = {"number": "a number", "string": "a string", "array": "a list", "object": "a JSON object",
               "integer": "an integer", "null": "null", "boolean": "true/false"}


def _json_type(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true/false"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


def _schema_reason(err) -> str:
    """A short sentence for a jsonschema error (its own messages repeat the whole instance)."""
    where = _where(err.absolute_path)
    v, inst = err.validator, err.instance
    if err.validator == "anyOf" and not err.absolute_path:
        return "needs one of 'pred', 'text', 'output_text' or 'windows'"
    if v == "required":
        return f"{where} lacks {err.message.split(' is a required')[0]}"
    if v == "type":
        want = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        return f"{where} must be {' or '.join(_TYPE_WORDS.get(w, w) for w in want)}, got {_json_type(inst)}"
    if v in ("minimum", "maximum"):
        return f"{where} = {show(inst)} is outside [-1e9, 1e9] seconds"
    if v in ("minItems", "maxItems"):
        return f"{where} has {len(inst)} items ({v} {err.validator_value})"
    if v in ("minLength", "maxLength"):
        return f"{where} has {len(inst)} characters ({v} {err.validator_value})"
    if v == "oneOf":
        top = list(err.absolute_path)[:1]
        numbers = isinstance(inst, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in inst)
        if top in (["pred"], ["target"]) and numbers and len(inst) == 2:
            return f"{where} = {show(inst)} has a time outside [-1e9, 1e9] seconds"
        if top == ["pred"]:
            return f"'pred' must be [start, end] (two numbers), [null, null] or null; got {show(inst)}"
        if top == ["qid"]:
            return f"'qid' must be a non-empty string (≤ 256 chars) or a non-negative integer; got {show(inst)}"
        if top == ["target"]:
            return f"'target' must be [start, end] or null; got {show(inst)}"
        return f"{where} must be a number or null; got {show(inst)}"
    return f"{where}: {err.message}"


def _first_schema_error(row):
    # best_match() would descend into oneOf branches ("must be null"); the branch-level error reads better
    errors = list(_row_validator().iter_errors(row))
    return max(errors, key=relevance) if errors else None


def check_model_name(name: str | None) -> str:
    """Model names are free text shown on the page (escaped there), but one printable line."""
    if name is None or not str(name).strip():
        raise SubmissionRejected("a model name is required")
    name = str(name).strip()
    if len(name) > MAX_MODEL_NAME:
        raise SubmissionRejected(f"model name is {len(name)} characters; the limit is {MAX_MODEL_NAME}")
    if not all(c.isprintable() for c in name):
        raise SubmissionRejected("model name must be one line of printable characters")
    return name


def parse_meta(items) -> dict[str, str]:
    """``key=value`` strings (or a mapping) → a small dict of printable strings."""
    pairs = list(items.items()) if isinstance(items, dict) else []
    if not isinstance(items, dict):
        for item in items or ():
            if "=" not in item:
                raise SubmissionRejected(f"metadata {show(item)} is not key=value")
            k, _, v = item.partition("=")
            pairs.append((k, v))
    if len(pairs) > MAX_META_ITEMS:
        raise SubmissionRejected(f"{len(pairs)} metadata items; the limit is {MAX_META_ITEMS}")
    meta: dict[str, str] = {}
    for k, v in pairs:
        k, v = str(k).strip(), str(v).strip()
        if not k or len(k) > MAX_META_KEY or not all(c.isalnum() or c in "_.-" for c in k):
            raise SubmissionRejected(f"metadata key {show(k)} must be 1-{MAX_META_KEY} letters, digits, '_', '.' or '-'")
        if len(v) > MAX_META_VALUE or not all(c.isprintable() for c in v):
            raise SubmissionRejected(f"metadata value of {k!r} must be one printable line of ≤ {MAX_META_VALUE} characters")
        if k in meta:
            raise SubmissionRejected(f"metadata key {k!r} given twice")
        meta[k] = v
    return meta


def _check_bytes(data: bytes, max_bytes: int) -> str:
    if len(data) > max_bytes:
        raise SubmissionRejected(f"file is larger than the {max_bytes / 2**20:.2f} MiB upload limit")
    if not data.strip():
        raise SubmissionRejected("file is empty")
    if b"\x00" in data:
        raise SubmissionRejected("file is binary (it contains NUL bytes), not JSONL text")
    if data.startswith(b"\xef\xbb\xbf"):
        raise SubmissionRejected("file starts with a byte-order mark; save it as plain UTF-8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SubmissionRejected(f"file is not UTF-8 text (bad byte at offset {e.start})") from None
    if text.lstrip().startswith("["):
        try:
            json.loads(text)
            whole_list = True
        except (ValueError, RecursionError):
            whole_list = False
        if whole_list:
            raise SubmissionRejected("file is one JSON list; the leaderboard takes JSONL (one object per line)")
    return text


def _row_qid(line: str, lineno: int) -> str:
    """The qid of one non-blank line that passes the row schema."""
    try:
        row = _parse_line(line)
    except _NonFinite as e:
        raise SubmissionRejected(f"line {lineno}: {e}; times must be finite numbers") from None
    except json.JSONDecodeError as e:
        raise SubmissionRejected(f"line {lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
    except RecursionError:
        raise SubmissionRejected(f"line {lineno}: JSON nested too deeply") from None
    except ValueError as e:  # e.g. an integer with thousands of digits
        raise SubmissionRejected(f"line {lineno}: unreadable number ({one_line(str(e), 80)})") from None
    if not isinstance(row, dict):
        raise SubmissionRejected(f"line {lineno}: expected a JSON object, got {_json_type(row)}")
    if not _row_is_valid()(row):
        err = _first_schema_error(row)
        raise SubmissionRejected(f"line {lineno}: {_schema_reason(err) if err else 'does not match the row schema'}")
    return str(row["qid"])


def _first_repeat(rows: np.ndarray) -> tuple[int, int] | None:
    """(index of the first line naming a query an earlier line named, index of that earlier line)."""
    known = np.flatnonzero(rows >= 0)
    order = known[np.argsort(rows[known], kind="stable")]
    repeats = order[1:][rows[order[1:]] == rows[order[:-1]]]
    if not repeats.size:
        return None
    later = int(repeats.min())
    return later, int(np.flatnonzero(rows == rows[later])[0])


def peer_file_lines(data: bytes, split: SplitIndex, split_dir) -> bytes:
    """A TimeLens / lmms-eval result file (:mod:`tvgbench.core.peer_files`) as the timer1 lines it means, every
    entry matched to a query of the split with the key's span equal to the split's; other bytes unchanged."""
    if not looks_like_peer_file(data[:65536]):
        return data
    try:
        peer = read_peer_file(data)
    except Timer1Error as e:
        raise SubmissionRejected(str(e)) from None
    if peer is None:
        return data
    if split_dir is None:
        raise SubmissionRejected(f"a {peer.format} file is matched to the split's queries by video and query; "
                                 "this board cannot read the split's queries")
    records, report = peer_records(peer, read_split_queries(split_dir, split.name))
    for kind, count in (("unmatched", report.unmatched), ("span_disagreements", report.span_disagreements)):
        if count:
            what = "match no query of" if kind == "unmatched" else "carry a span that differs from that of"
            raise SubmissionRejected(f"{count} of {report.entries} entries of this {peer.format} file {what} split "
                                     f"{split.name!r} (first: {show(report.examples[kind][0], 120)})")
    # the ground truth comes from the split: the key's span is checked above, not stored
    rows = ({k: v for k, v in rec.items() if k != "target"} for rec in records)
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def validate_bytes(data: bytes, split: SplitIndex, *, max_bytes: int = DEFAULT_MAX_BYTES,
                   split_dir=None) -> ValidSubmission:
    """Check a prediction file's bytes against the row schema and the split; raise :class:`SubmissionRejected`.

    The first problem in file order is the one reported: a bad line, or a qid already given above it;
    unknown qids are reported once the whole file has been read. A peer's result file (TimeLens /
    lmms-eval; needs ``split_dir``) is checked as the timer1 lines it means, which are what is stored.
    """
    _check_bytes(data, max_bytes)
    data = peer_file_lines(data, split, split_dir)
    text = _check_bytes(data, max(max_bytes, len(data)))
    qids: list[str] = []
    linenos: list[int] = []
    bad_line = None
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            qids.append(_row_qid(line, lineno))
        except SubmissionRejected as e:
            bad_line = e
            break
        linenos.append(lineno)
    rows = split.rows_of(qids)
    repeat = _first_repeat(rows)
    if repeat is not None:
        later, first = repeat
        r = rows[later]
        also = "" if split.qids[r] == qids[later] else f" (alias of {split.qids[r]!r})"
        raise SubmissionRejected(f"line {linenos[later]}: qid {show(qids[later])}{also} already given on line "
                                 f"{linenos[first]}; one line per qid")
    if bad_line is not None:
        raise bad_line
    unknown = np.flatnonzero(rows < 0)
    if unknown.size:
        k = int(unknown[0])
        raise SubmissionRejected(
            f"{unknown.size} qid(s) are not in split {split.name!r} (first: {show(qids[k])} on line {linenos[k]})")
    named = np.zeros(split.n, dtype=bool)
    named[rows] = True
    missing_rows = np.flatnonzero(~named)
    return ValidSubmission(
        data=data, sha256="sha256:" + hashlib.sha256(data).hexdigest(), lines=len(qids), matched=int(named.sum()),
        missing=int(missing_rows.size), missing_examples=[split.qids[i] for i in missing_rows[:5]],
    )


def read_limited(path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read a submission file without ever loading more than ``max_bytes + 1`` bytes."""
    p = Path(path)
    try:
        if p.is_dir():
            raise SubmissionRejected(f"{p} is a folder, not a predictions file")
        with open(p, "rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise SubmissionRejected(f"predictions file not found: {p}") from None
    except OSError as e:
        raise SubmissionRejected(f"cannot read {p}: {e.strerror or e}") from None
    return data

"""Synthetic diagnostic benchmark: short rendered videos whose events happen at exactly known times.

Every video is drawn frame by frame with numpy from a seeded *plan* and encoded with ffmpeg (through
ffmpeg-python). Each screen region holds one kind of event, so every query has exactly one true span:

* top-left: a red square appears and disappears (Object Existence, Simple);
* top-middle: a circle changes colour for a while (Object Attribute); the square and the changed circle
  overlap in time (Object Existence, Complex);
* top-right: cyan dots appear one by one up to a peak count, then go away (Object Counting);
* middle band: a magenta block slides from one side to the other (Object Transition);
* background: a solid colour for a while (Environment State) and a gradual fade (Environment Change);
* bottom: a stick figure raises its arms (Human Pose), jumps, walks (Human Action, Simple), raises its
  arms and then jumps (Human Action, Procedural), and jumps again after walking (Human Action, Complex).

All event times sit on a 0.5 s grid and the frame rate is 8 fps, so a boundary falls exactly on a frame:
a state holds on frames with ``start <= t < end``. Each record's ``meta["probes"]`` lists pixels whose
colour, at given times around the span's boundaries, shows the event (the tests decode the video and
check them).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import ffmpeg
import numpy as np

from tvgbench.core.errors import Timer1Error
from tvgbench.core.report import write_text_atomic
from tvgbench.core.outdir import Owned
from tvgbench.core.splits import read_sidecar, split_ownership, write_split
from tvgbench.core.validate import check_record
from tvgbench.data.cards import render_card

SYNTH_VERSION = 1
# the generator's name in every record and sidecar: a stable identifier of the splits it wrote, not a module path
GENERATOR = "tvgbench.synth"
SOURCE = "synth"
FPS = 8
WIDTH, HEIGHT = 160, 120
GRID_S = 0.5  # every event boundary is a multiple of this, hence a whole number of frames
MIN_DURATION_S = 10.0
MAX_DURATION_S = 179.5  # stays inside TVGBench's nine 20 s duration bins (clips > 180 s are excluded)

COLOURS: dict[str, tuple[int, int, int]] = {
    # backgrounds: pairwise >= 100 apart in some channel, so a fade's midpoint differs from both ends
    "black": (10, 10, 10),
    "gray": (128, 128, 128),
    "navy blue": (20, 20, 150),
    "dark green": (10, 110, 10),
    # objects: far from every background
    "red": (230, 30, 30),
    "yellow": (240, 220, 30),
    "green": (40, 220, 60),
    "orange": (250, 140, 20),
    "cyan": (40, 220, 220),
    "magenta": (220, 40, 220),
    "white": (245, 245, 245),
}
BACKGROUNDS = ("black", "gray", "navy blue", "dark green")
ATTRIBUTE_COLOURS = ("yellow", "green", "orange")
NUMBER_WORDS = {2: "two", 3: "three", 4: "four"}

# Layout (pixels, for WIDTH x HEIGHT). Regions never overlap, so one pixel tells one event.
SQUARE = (8, 6, 24)  # x, y, side
CIRCLE = (56, 18, 12)  # centre x, centre y, radius
DOTS = ((88, 18), (108, 18), (128, 18), (148, 18))
DOT_RADIUS = 7
MOVER_Y, MOVER_SIDE = 36, 16
MOVER_X = (8, 136)  # left edge at the left and right ends of its track
GROUND_Y = 116
FIGURE_X = (24, 136)  # figure centre at the two ends of its walk
JUMP_PX = 12
BG_PROBE = (4, 62)  # a pixel no object ever covers


# --------------------------------------------------------------------------------------------- plan


@dataclass
class Event:
    """One query with its exact span and the pixels that show it."""

    qtype: str
    query: str
    span: tuple[float, float]
    kind: str  # "state" (crisp boundaries), "gradual" (motion or fade) or "sequence"
    probes: list[dict[str, Any]]


@dataclass
class Plan:
    """Everything needed to draw one video; times in seconds, intervals half-open [start, end)."""

    duration: float
    background: list[tuple[float, float, str, str]]  # (start, end, colour at start, colour at end)
    square: tuple[float, float]
    circle: tuple[str, str, float, float]  # base colour, changed colour, change interval
    dots: list[tuple[float, float, int]]  # (start, end, how many dots)
    mover: tuple[int, int, float, float]  # x from, x to, motion interval
    arms_up: tuple[float, float]
    jumps: list[tuple[float, float]]
    walk: tuple[int, int, float, float]  # centre x from, to, walking interval
    events: list[Event] = field(default_factory=list)


GAP = 3.0  # Dirichlet weight of a quiet stretch against 1.0 for an event: events take a modest share of a video


def _split_units(rng, total_units: int, minimum_units: list[int], weights: list[float] | None = None) -> list[float]:
    """Random segment boundaries (seconds) on the grid: segment i gets >= minimum_units[i] grid steps.

    The spare steps are shared by Dirichlet proportions with concentration ``weights`` (default all 1),
    so a segment's expected share of the spare time is its weight over the weights' sum.
    """
    spare = total_units - sum(minimum_units)
    if spare < 0:
        raise ValueError(f"{total_units} grid steps cannot hold segments of at least {minimum_units}")
    alpha = np.ones(len(minimum_units)) if weights is None else np.asarray(weights, dtype=float)
    extra = rng.multinomial(spare, rng.dirichlet(alpha))
    lengths = np.asarray(minimum_units) + extra
    return [float(u) * GRID_S for u in np.cumsum(lengths)[:-1]]


def _pick(rng, options):
    return options[int(rng.integers(len(options)))]


def _probe(t: float, *checks: tuple[tuple[int, int], str, bool]) -> dict[str, Any]:
    """Expect, at time t, each pixel (x, y) to show (True) or not show (False) the named colour."""
    return {"t": t, "expect": [[x, y, colour, present] for (x, y), colour, present in checks]}


def _square_centre() -> tuple[int, int]:
    x, y, side = SQUARE
    return x + side // 2, y + side // 2


def _mover_centre(x_left: int) -> tuple[int, int]:
    return x_left + MOVER_SIDE // 2, MOVER_Y + MOVER_SIDE // 2


def _torso(cx: int) -> tuple[int, int]:
    return cx, GROUND_Y - 36


def _raised_arm(cx: int) -> tuple[int, int]:
    return cx + 10, GROUND_Y - 52


def _jumped_head(cx: int) -> tuple[int, int]:
    return cx, GROUND_Y - 44 - JUMP_PX


def plan_video(rng, duration: float) -> Plan:
    """Draw one video's event timeline and its eleven queries from ``rng``."""
    units = int(round(duration / GRID_S))
    dt = 1.0 / FPS
    events: list[Event] = []

    # square and circle: four ordered boundaries, the two intervals overlap in [p1, p2)
    p0, p1, p2, p3 = _split_units(rng, units, [1, 2, 2, 2, 1], [GAP, 1, 1, 1, GAP])
    base, changed = (str(c) for c in rng.permutation(ATTRIBUTE_COLOURS)[:2])
    square_first = bool(rng.integers(2))
    square, circle_change = ((p0, p2), (p1, p3)) if square_first else ((p1, p3), (p0, p2))
    sq, ci = _square_centre(), CIRCLE[:2]
    events.append(Event(
        "Object Existence (Simple)",
        _pick(rng, ["a red square appears on the screen", "the red square is visible",
                    "there is a red square in the top left corner"]),
        square, "state",
        [_probe(square[0] - dt, (sq, "red", False)), _probe(square[0], (sq, "red", True)),
         _probe(square[1] - dt, (sq, "red", True)), _probe(square[1], (sq, "red", False))],
    ))
    events.append(Event(
        "Object Attribute",
        _pick(rng, [f"the circle is {changed}", f"the circle is {changed} instead of {base}",
                    f"the round shape at the top is coloured {changed}"]),
        circle_change, "state",
        [_probe(circle_change[0] - dt, (ci, base, True), (ci, changed, False)),
         _probe(circle_change[0], (ci, changed, True)),
         _probe(circle_change[1] - dt, (ci, changed, True)),
         _probe(circle_change[1], (ci, base, True), (ci, changed, False))],
    ))
    late_starter = (ci, changed) if square_first else (sq, "red")
    early_ender = (sq, "red") if square_first else (ci, changed)
    both = ((sq, "red", True), (ci, changed, True))
    events.append(Event(
        "Object Existence (Complex)",
        _pick(rng, [f"the red square is visible while the circle is {changed}",
                    f"both the red square and the {changed} circle are on the screen"]),
        (p1, p2), "state",
        [_probe(p1 - dt, (*late_starter, False)), _probe(p1, *both),
         _probe(p2 - dt, *both), _probe(p2, (*early_ender, False))],
    ))

    # dots: 0, 1, ..., peak, ..., 1, 0; the peak count holds exactly once
    peak = int(rng.integers(2, len(DOTS) + 1))
    counts = list(range(peak + 1)) + list(range(peak - 1, -1, -1))
    cuts = [0.0, *_split_units(rng, units, [2 if c == peak else 1 for c in counts],
                               [GAP if c == 0 else 1.0 for c in counts]), duration]
    dots = [(cuts[i], cuts[i + 1], c) for i, c in enumerate(counts)]
    top = next(d for d in dots if d[2] == peak)
    last_dot = DOTS[peak - 1]
    word = NUMBER_WORDS[peak]
    events.append(Event(
        "Object Counting",
        _pick(rng, [f"there are exactly {word} cyan dots on the screen",
                    f"{word} cyan dots are visible at the same time",
                    f"the number of cyan dots reaches {word}"]),
        (top[0], top[1]), "state",
        [_probe(top[0] - dt, (last_dot, "cyan", False)), _probe(top[0], (last_dot, "cyan", True)),
         _probe(top[1] - dt, (last_dot, "cyan", True)), _probe(top[1], (last_dot, "cyan", False))],
    ))

    # mover: rests at one end, slides, rests at the other end
    m0, m1 = _split_units(rng, units, [1, 2, 1], [GAP, 1, GAP])
    rightward = bool(rng.integers(2))
    x_from, x_to = MOVER_X if rightward else MOVER_X[::-1]
    frm, to = ("left", "right") if rightward else ("right", "left")
    events.append(Event(
        "Object Transition",
        _pick(rng, [f"the magenta square moves from the {frm} to the {to}",
                    f"the magenta block slides over to the {to} side"]),
        (m0, m1), "gradual",
        [_probe(m0 - dt, (_mover_centre(x_from), "magenta", True)),
         _probe((m0 + m1) / 2, (_mover_centre(x_from), "magenta", False), (_mover_centre(x_to), "magenta", False)),
         _probe(m1, (_mover_centre(x_to), "magenta", True))],
    ))

    # background: a solid-colour stretch (state) and a fade (change), in random order
    bg0, bg1, bg2 = (str(c) for c in rng.permutation(BACKGROUNDS)[:3])
    state_first = bool(rng.integers(2))
    b = [0.0, *_split_units(rng, units, [1, 2, 1, 2, 1], [GAP, 1, GAP, 1, GAP]), duration]
    if state_first:
        background = [(b[0], b[1], bg0, bg0), (b[1], b[2], bg2, bg2), (b[2], b[3], bg0, bg0),
                      (b[3], b[4], bg0, bg1), (b[4], b[5], bg1, bg1)]
        state, state_around, fade = (b[1], b[2]), (bg0, bg0), (b[3], b[4])
    else:
        background = [(b[0], b[1], bg0, bg0), (b[1], b[2], bg0, bg1), (b[2], b[3], bg1, bg1),
                      (b[3], b[4], bg2, bg2), (b[4], b[5], bg1, bg1)]
        state, state_around, fade = (b[3], b[4]), (bg1, bg1), (b[1], b[2])
    events.append(Event(
        "Environment State",
        _pick(rng, [f"the background is {bg2}", f"the scene has a {bg2} background"]),
        state, "state",
        [_probe(state[0] - dt, (BG_PROBE, state_around[0], True)), _probe(state[0], (BG_PROBE, bg2, True)),
         _probe(state[1] - dt, (BG_PROBE, bg2, True)), _probe(state[1], (BG_PROBE, state_around[1], True))],
    ))
    events.append(Event(
        "Environment Change",
        _pick(rng, [f"the background gradually changes from {bg0} to {bg1}",
                    f"the screen slowly fades from {bg0} to {bg1}"]),
        fade, "gradual",
        [_probe(fade[0] - dt, (BG_PROBE, bg0, True)),
         _probe((fade[0] + fade[1]) / 2, (BG_PROBE, bg0, False), (BG_PROBE, bg1, False)),
         _probe(fade[1], (BG_PROBE, bg1, True))],
    ))

    # stick figure: arms up, jump, walk, jump again
    f = _split_units(rng, units, [1, 2, 1, 2, 1, 3, 1, 2, 1],
                     [GAP, 1, GAP / 2, 1, GAP, 1, GAP, 1, GAP])
    arms_up, jump1, walk_t, jump2 = (f[0], f[1]), (f[2], f[3]), (f[4], f[5]), (f[6], f[7])
    walk_right = bool(rng.integers(2))
    cx_from, cx_to = FIGURE_X if walk_right else FIGURE_X[::-1]
    direction = "right" if walk_right else "left"
    arm, head0, head1 = _raised_arm(cx_from), _jumped_head(cx_from), _jumped_head(cx_to)
    events.append(Event(
        "Human Pose",
        _pick(rng, ["the stick figure raises both arms", "the stick figure holds its arms up"]),
        arms_up, "state",
        [_probe(arms_up[0] - dt, (arm, "white", False)), _probe(arms_up[0], (arm, "white", True)),
         _probe(arms_up[1] - dt, (arm, "white", True)), _probe(arms_up[1], (arm, "white", False))],
    ))
    events.append(Event(
        "Human Action (Simple)",
        _pick(rng, [f"the stick figure walks to the {direction}", f"the person walks across to the {direction}"]),
        walk_t, "gradual",
        [_probe(walk_t[0] - dt, (_torso(cx_from), "white", True)),
         _probe((walk_t[0] + walk_t[1]) / 2, (_torso(cx_from), "white", False), (_torso(cx_to), "white", False)),
         _probe(walk_t[1], (_torso(cx_to), "white", True))],
    ))
    events.append(Event(
        "Human Action (Procedural)",
        _pick(rng, ["the stick figure raises its arms, lowers them and then jumps",
                    "the stick figure lifts both arms and afterwards jumps"]),
        (arms_up[0], jump1[1]), "sequence",
        [_probe(arms_up[0] - dt, (arm, "white", False)), _probe(arms_up[0], (arm, "white", True)),
         _probe(jump1[1] - dt, (head0, "white", True)), _probe(jump1[1], (head0, "white", False))],
    ))
    events.append(Event(
        "Human Action (Complex)",
        _pick(rng, [f"the stick figure jumps after it has walked to the {direction}",
                    f"after walking {direction}, the stick figure jumps"]),
        jump2, "state",
        [_probe(jump2[0] - dt, (head1, "white", False)), _probe(jump2[0], (head1, "white", True)),
         _probe(jump2[1] - dt, (head1, "white", True)), _probe(jump2[1], (head1, "white", False))],
    ))
    return Plan(
        duration=duration, background=background, square=square, circle=(base, changed, *circle_change),
        dots=dots, mover=(x_from, x_to, m0, m1), arms_up=arms_up, jumps=[jump1, jump2],
        walk=(cx_from, cx_to, *walk_t), events=events,
    )


def video_durations(rng, n_videos: int, max_duration: float = MAX_DURATION_S) -> list[float]:
    """Durations spread over the 20 s bins up to ``max_duration`` (one video per bin, cycling)."""
    max_duration = min(max_duration, MAX_DURATION_S)
    if max_duration < MIN_DURATION_S:
        raise ValueError(f"max duration must be at least {MIN_DURATION_S} s")
    n_bins = int((max_duration - 1e-9) // 20) + 1
    out = []
    for i in range(n_videos):
        # fewer videos than bins: spread them from the first bin to the last; more: cycle the bins
        k = i % n_bins if n_videos > n_bins else (round(i * (n_bins - 1) / (n_videos - 1)) if n_videos > 1 else 0)
        lo, hi = max(MIN_DURATION_S, 20.0 * k + GRID_S), min(max_duration, 20.0 * k + 20.0 - GRID_S)
        steps = int(round((hi - lo) / GRID_S))
        out.append(lo + GRID_S * int(rng.integers(steps + 1)))
    return out


# ------------------------------------------------------------------------------------------ drawing


def _colour_at(segments, t: float):
    for start, end, c0, c1 in segments:
        if start <= t < end:
            if c0 == c1:
                return COLOURS[c0]
            w = (t - start) / (end - start)
            return tuple(round(a + (b - a) * w) for a, b in zip(COLOURS[c0], COLOURS[c1]))
    return COLOURS[segments[-1][3]]


def _lerp_even(x0: int, x1: int, start: float, end: float, t: float) -> int:
    w = min(1.0, max(0.0, (t - start) / (end - start)))
    return int(round((x0 + (x1 - x0) * w) / 2.0)) * 2  # even pixels: whole 4:2:0 chroma blocks


@lru_cache(maxsize=None)
def _disc_mask(radius: int):
    yy, xx = np.mgrid[-radius:radius, -radius:radius]
    return (xx + 0.5) ** 2 + (yy + 0.5) ** 2 <= radius**2


def _paint(frame, x0: int, y0: int, x1: int, y1: int, rgb) -> None:
    frame[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = rgb


def _paint_disc(frame, cx: int, cy: int, radius: int, rgb, mask) -> None:
    frame[cy - radius:cy + radius, cx - radius:cx + radius][mask] = rgb


def _draw_figure(frame, cx: int, arms_up: bool, jumping: bool) -> None:
    g = GROUND_Y - (JUMP_PX if jumping else 0)
    white = COLOURS["white"]
    _paint(frame, cx - 4, g - 48, cx + 4, g - 40, white)  # head
    _paint(frame, cx - 2, g - 40, cx + 2, g - 20, white)  # torso
    _paint(frame, cx - 6, g - 20, cx - 2, g, white)  # legs
    _paint(frame, cx + 2, g - 20, cx + 6, g, white)
    if arms_up:
        _paint(frame, cx - 12, g - 58, cx - 8, g - 40, white)
        _paint(frame, cx + 8, g - 58, cx + 12, g - 40, white)
    else:
        _paint(frame, cx - 6, g - 38, cx - 2, g - 24, white)
        _paint(frame, cx + 2, g - 38, cx + 6, g - 24, white)


def scene_state(plan: Plan, t: float) -> tuple:
    """Everything visible at time ``t``, as a hashable value: equal states draw identical frames."""
    base, changed, c0, c1 = plan.circle
    return (
        _colour_at(plan.background, t),
        plan.square[0] <= t < plan.square[1],
        changed if c0 <= t < c1 else base,
        next((n for start, end, n in plan.dots if start <= t < end), 0),
        _lerp_even(*plan.mover, t),
        _lerp_even(*plan.walk, t),
        plan.arms_up[0] <= t < plan.arms_up[1],
        any(a <= t < b for a, b in plan.jumps),
    )


def draw_state(state: tuple):
    """The RGB frame (HEIGHT x WIDTH x 3, uint8) for a :func:`scene_state`."""
    background, square_on, circle_colour, n_dots, mover_x, figure_x, arms_up, jumping = state
    frame = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
    frame[:] = background
    if square_on:
        x, y, side = SQUARE
        _paint(frame, x, y, x + side, y + side, COLOURS["red"])
    _paint_disc(frame, CIRCLE[0], CIRCLE[1], CIRCLE[2], COLOURS[circle_colour], _disc_mask(CIRCLE[2]))
    for cx, cy in DOTS[:n_dots]:
        _paint_disc(frame, cx, cy, DOT_RADIUS, COLOURS["cyan"], _disc_mask(DOT_RADIUS))
    _paint(frame, mover_x, MOVER_Y, mover_x + MOVER_SIDE, MOVER_Y + MOVER_SIDE, COLOURS["magenta"])
    _draw_figure(frame, figure_x, arms_up, jumping)
    return frame


def render_frame(plan: Plan, t: float):
    """The RGB frame (HEIGHT x WIDTH x 3, uint8) shown at time ``t``."""
    return draw_state(scene_state(plan, t))


def encode_video(plan: Plan, path: Path) -> None:
    """Render every frame and encode to H.264 mp4 through ffmpeg-python (written to a temp file first)."""
    n_frames = int(round(plan.duration * FPS))
    tmp = path.with_name(path.name + ".tmp.mp4")
    process = (
        ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{WIDTH}x{HEIGHT}", framerate=FPS)
        .output(str(tmp), vcodec="libx264", pix_fmt="yuv420p", preset="ultrafast", crf=12, g=4 * FPS,
                threads=1, movflags="+faststart", map_metadata=-1, fflags="+bitexact",
                **{"flags:v": "+bitexact"})
        .global_args("-loglevel", "error", "-nostdin")
        .overwrite_output()
        .run_async(pipe_stdin=True, pipe_stderr=True)
    )
    try:
        last_state, raw = None, b""
        for i in range(n_frames):
            state = scene_state(plan, i / FPS)
            if state != last_state:  # most frames repeat the previous one: draw only on change
                last_state, raw = state, draw_state(state).tobytes()
            process.stdin.write(raw)
        process.stdin.close()
        err = process.stderr.read().decode(errors="replace").strip()
        if process.wait() != 0:
            raise RuntimeError(f"ffmpeg failed on {path.name}: {err.splitlines()[-1] if err else 'no message'}")
        os.replace(tmp, path)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        tmp.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------ builder


@dataclass
class SynthResult:
    out_dir: Path
    split: str
    n_videos: int
    samples: list
    content_hash: str
    seconds: float


def _card_body(samples: list, n_videos: int, seed: int, split: str, content_hash: str) -> str:
    examples: dict[str, tuple[int, str]] = {}
    for s in samples:
        n, example = examples.get(s.qtype, (0, f"{s.query} [{s.span[0]:g}, {s.span[1]:g}] of {s.duration:g} s"))
        examples[s.qtype] = (n + 1, example)
    lines = [
        "# timer1 synthetic temporal-grounding benchmark",
        "",
        f"Rendered diagnostic videos ({WIDTH}x{HEIGHT}, {FPS} fps, H.264) whose events happen at exactly known",
        f"times, with one natural-language query per event. Generated by `tvgbench.data.synth` (version {SYNTH_VERSION});",
        "nothing here comes from real footage, so it tests whether a model localises what it sees, not world knowledge.",
        "",
        f"- split `{split}`: {len(samples)} queries over {n_videos} videos, seed {seed}",
        f"- build command: `timer1 data synth -o DIR --videos {n_videos} --seed {seed} --split {split}`",
        f"- content hash: `{content_hash}`",
        "- videos: `videos/*.mp4`; the `video` column is relative to this folder (use it as `--video-root`)",
        f"- every span boundary is a multiple of {GRID_S:g} s and falls on a frame: a state holds on frames with",
        "  start <= t < end; motion and fades change gradually between start and end",
        "- `meta.probes` lists pixels and the colours they show at times around each boundary (what the tests check)",
        "",
        "| query type | queries | example (span in seconds) |",
        "|---|---|---|",
    ]
    lines += [f"| {k} | {n} | {ex} |" for k, (n, ex) in sorted(examples.items())]
    return "\n".join(lines) + "\n"


def synth_ownership(out: Path, split: str) -> Owned:
    """What `timer1 data synth` owns in an existing folder: a timer1 split folder and its rendered videos."""
    return split_ownership(out, split, extra=(p.relative_to(out).as_posix()
                                              for p in (out / "videos").glob(f"{SOURCE}_*.mp4")))


def make_synthetic(out_dir: str | os.PathLike, n_videos: int = 8, seed: int = 0, *, split: str = "test",
                   max_duration: float = MAX_DURATION_S, progress: bool = False) -> SynthResult:
    """Render ``n_videos`` videos into ``out_dir/videos`` and write their queries as split ``split``."""
    if n_videos < 1:
        raise Timer1Error("--videos must be at least 1")
    try:
        durations = video_durations(np.random.default_rng([seed, 0]), n_videos, max_duration)
    except ValueError as e:
        raise Timer1Error(str(e)) from None
    out = Path(out_dir)
    videos = out / "videos"
    try:
        videos.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise Timer1Error(f"cannot create output folder {out}: {e.strerror}") from None
    if not os.access(videos, os.W_OK):
        raise Timer1Error(f"output folder {out} is not writable")

    def render_one(i: int, duration: float) -> list:
        plan = plan_video(np.random.default_rng([seed, 1, i]), duration)
        rel = f"videos/{SOURCE}_{seed}_{i:03d}.mp4"
        encode_video(plan, out / rel)
        rows = []
        for j, ev in enumerate(plan.events):
            verdict = check_record(
                source=SOURCE, video=rel, query=ev.query, span=list(ev.span), duration=duration,
                qtype=ev.qtype, source_id=f"{SOURCE}_{seed}_{i:03d}_{j:02d}",
                meta={"kind": ev.kind, "probes": ev.probes, "fps": FPS, "size": [WIDTH, HEIGHT],
                      "generator": f"{GENERATOR} v{SYNTH_VERSION}", "seed": seed},
            )
            if verdict.sample is None or verdict.sample.flags:  # a generator bug, never user input
                raise RuntimeError(f"synthetic record failed validation: {verdict}")
            rows.append(verdict.sample)
        return rows

    started = time.perf_counter()
    # ffmpeg encodes in its own process, so two threads keep both cores busy (render here, encode there)
    workers = max(1, min(2, os.cpu_count() or 1, len(durations)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        jobs = pool.map(render_one, range(len(durations)), durations)
        if progress:
            from tqdm import tqdm

            jobs = tqdm(jobs, total=len(durations), desc="rendering synthetic videos", unit="video")
        samples = [s for rows in jobs for s in rows]

    counts: dict[str, int] = {}
    for s in samples:
        counts[s.qtype] = counts.get(s.qtype, 0) + 1
    build = {"command": "synth", "generator": GENERATOR, "version": SYNTH_VERSION, "seed": seed,
             "n_videos": n_videos, "max_duration": max_duration, "fps": FPS, "size": [WIDTH, HEIGHT]}
    info = write_split(samples, out, split, window_mode="crop", build=build,
                       report={"kept": len(samples), "qtypes": counts})
    card = render_card(out, read_sidecar(out), body=_card_body(samples, n_videos, seed, split, info.content_hash),
                       license="apache-2.0", pretty_name="timer1 synthetic TVG benchmark")
    write_text_atomic(out / "README.md", card)
    return SynthResult(out, split, n_videos, samples, info.content_hash, time.perf_counter() - started)

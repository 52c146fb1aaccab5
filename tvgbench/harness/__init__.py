"""The evaluation harness: run a model on a TVG split (or a video-QA set) and keep everything needed
to reproduce the numbers.

    from tvgbench.harness.runner import run_eval
    summary = run_eval("synth", "synth", "tiny-qwen", backend="hf", prompt="r1", out_dir="runs/tiny")

Writes ``predictions.jsonl`` (one durable line per query), ``run.json`` (every setting that changes
a number) and ``scores.json`` (:func:`tvgbench.core.scoring.score`). Heavy libraries load only inside the
functions that need them; importing this package loads nothing.

``predictions.jsonl`` (one object per line, split order; ``timer1 eval score`` reads it directly):
  ``qid``          the split's qid
  ``text``         raw model output (null when the video failed)
  ``pred``         [start, end] seconds in clip time from the run's parser, or null (unparseable/failed)
  ``parse_flags``  parser flags (``reversed``, ``clipped``, ``fallback``) or ``["unparsed"]``
  ``error``        null, or {"reason": one of tvgbench.video.errors.REASONS, "message"}: a miss
  ``n_tokens``, ``finish_reason``  generated tokens and why generation stopped (stop|length)
  ``video``        {n_frames, sample_fps, frame_size [H, W], video_tokens, clip_s}
  ``timing``       {decode_s, generate_s (batch time / batch size), batch_size}
``run.json``: ``settings`` (split path + content hash, window mode, model, backend, prompt {name,
template, assistant_prefix, sha256, layout, system}, parser, sampling {fps, frames, pixel budgets,
decoder, resize}, generation {max_new_tokens, temperature, top_p, top_k, seed, greedy}, batch size,
shard, limit), ``backend`` (weights and config sha256, device, dtype, threads, eos ids, how video time
is positioned), ``libraries`` (versions), ``project_version``, ``status`` (running|clean|partial),
``counts``, timings and the headline scores. A resumed run must match the settings that change numbers.
"""

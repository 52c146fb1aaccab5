"""Qwen3-VL (and Qwen3.5, which uses the same processors): chat layout (:mod:`.chat`), model inputs
with textual timestamps (:mod:`.inputs`, :mod:`.vllm_inputs`), the tiny model (:mod:`.tiny`), all
behind :mod:`.adapter`."""

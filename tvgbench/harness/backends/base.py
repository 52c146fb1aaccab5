"""The backend interface: ``prepare`` (thread-safe, runs in the prefetch pool) and ``generate`` (a batch)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class GenParams:
    """Sampling parameters. ``temperature == 0`` means greedy (Time-R1's evaluation setting)."""

    max_new_tokens: int = 1024
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = -1  # -1: off
    repetition_penalty: float = 1.0
    seed: int = 0

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0

    def to_dict(self) -> dict:
        return {**asdict(self), "greedy": self.greedy}


@dataclass
class Generation:
    text: str
    n_tokens: int | None = None
    finish_reason: str | None = None


class Backend(Protocol):
    name: str

    def prepare(self, messages: list[dict], assistant_prefix: str, sampled) -> Any:
        """Build one request from chat messages and a :class:`tvgbench.video.SampledVideo` (thread-safe)."""

    def generate(self, requests: list[Any]) -> list[Generation]:
        """Run a batch of prepared requests; one :class:`Generation` per request, in order."""

    def settings(self) -> dict:
        """What run.json records about this backend (model, weights hash, dtype, versions...)."""

    def close(self) -> None:
        ...

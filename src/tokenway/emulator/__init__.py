"""A local emulator of Inference.net's OpenAI-compatible API, with fault injection.

A testing tool, not the real API: it serves the 2025 model catalog (chat, legacy
text completions and embeddings), deterministic generated text and vectors, tool
calls and structured outputs, SSE streams, Inference.net's error statuses and rate
limits, and faults on demand. Inside a running event loop::

    emulator = Emulator(EmulatorConfig(api_keys=("test-key",)))
    await emulator.start()  # port 0: a free port; emulator.base_url says which
    emulator.faults = FaultConfig(fail_first_n=2)
    await emulator.stop()

or for synchronous tests ``with run_emulator_in_thread(config) as emulator: ...``, or
from a shell ``python -m tokenway.emulator --port 9000 --api-key KEY``.
"""

from __future__ import annotations

from .catalog import MODELS, ModelCard
from .config import EmulatorConfig, FaultConfig
from .server import Emulator, run_emulator_in_thread
from .tokens import count_tokens

__all__ = [
    "MODELS",
    "Emulator",
    "EmulatorConfig",
    "FaultConfig",
    "ModelCard",
    "count_tokens",
    "run_emulator_in_thread",
]

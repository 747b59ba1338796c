"""Model side of VLA-R1: the inference engine, backends (in-process / remote) and a tiny offline checkpoint.

Importing this package is cheap: torch and transformers are imported only by :mod:`.engine`,
:mod:`.tiny` and the CLI handlers that need them.
"""

from .backends import (
    DEFAULT_MODEL_ID,
    EMBEDDED_MODEL,
    EMBEDDED_MODEL_DIR,
    Backend,
    BackendError,
    GenerationSettings,
    InferenceResult,
    RemoteChatBackend,
    ScriptedBackend,
    TaskPrediction,
    resolve_model,
    resolve_tasks,
)

__all__ = [
    "DEFAULT_MODEL_ID",
    "EMBEDDED_MODEL",
    "EMBEDDED_MODEL_DIR",
    "Backend",
    "BackendError",
    "GenerationSettings",
    "InferenceResult",
    "TaskPrediction",
    "RemoteChatBackend",
    "ScriptedBackend",
    "resolve_model",
    "resolve_tasks",
]

"""Which weights a model name means, and what to tell a user who does not have them offline."""

from __future__ import annotations

import os
from pathlib import Path

from .inference_types import BackendError

__all__ = [
    "DEFAULT_MODEL_ID",
    "EMBEDDED_MODEL",
    "EMBEDDED_MODEL_DIR",
    "resolve_model",
    "ModelNotAvailableError",
    "offline_help",
    "looks_like_local_path",
    "local_model_problem",
]


#: The released VLA-R1 weights on the Hugging Face Hub.
DEFAULT_MODEL_ID = "GigaAI-Research/vla-r1"

#: The model name that selects the tiny checkpoint shipped inside the package: 3.4 M parameters,
#: trained on the CPU on synthetic top-down tabletop scenes (training/experiments/cpu_tiny.py; see
#: training/results/README.md). It knows nothing but those scenes: a demo and test model, not a robot's.
EMBEDDED_MODEL = "embedded"
EMBEDDED_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "tabletop_tiny"


def resolve_model(model: str) -> str:
    """``model`` with the name :data:`EMBEDDED_MODEL` replaced by the shipped checkpoint's folder."""
    if model != EMBEDDED_MODEL:
        return model
    if not (EMBEDDED_MODEL_DIR / "config.json").is_file():
        raise ModelNotAvailableError(
            f"the embedded model is missing from {EMBEDDED_MODEL_DIR} (a broken install?); reinstall the "
            "package or pass a checkpoint folder"
        )
    return str(EMBEDDED_MODEL_DIR)


class ModelNotAvailableError(BackendError):
    """The weights are neither on disk nor downloadable; the message says how to get them."""


def offline_help(model: str, reason: str = "", is_path: bool = False) -> str:
    """The message shown when ``model`` cannot be loaded: how to download it and where to put it.

    ``is_path``: ``model`` names a local folder (which is missing or incomplete) rather than a Hub id.
    """
    try:
        from huggingface_hub import constants

        cache = constants.HF_HUB_CACHE
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        cache = os.path.join(os.path.expanduser("~"), ".cache", "huggingface", "hub")
    hub_id = DEFAULT_MODEL_ID if is_path else model
    if is_path:
        target = model
        head = f"Cannot load the VLA-R1 model from the folder {model!r}"
    else:
        target = "./" + (model.rstrip("/").split("/")[-1] or "vla-r1")
        head = f"Cannot load the VLA-R1 model {model!r}: it is not in the local Hugging Face cache ({cache})"
    lines = [
        head + (f": {reason}" if reason else "") + ".",
        "Get the weights (about 7.5 GB) on a machine with internet access:",
        "    pip install -U huggingface_hub",
        f"    hf download {hub_id} --local-dir {target}",
        "then copy that folder to this machine and pass it as the model:",
        f"    vla-r1 predict --model {target} ...    (ROS parameter: model:={target})",
        f"or fill the Hub cache here ({cache}) with `hf download {hub_id}` (set HF_HOME to move it)",
        "and keep HF_HUB_OFFLINE=1 so nothing is fetched at run time.",
        "To check the pipeline without the weights: vla-r1 make-tiny-model /tmp/vla-r1-tiny && "
        "vla-r1 predict --model /tmp/vla-r1-tiny ...",
    ]
    return "\n".join(lines)


def looks_like_local_path(model: str) -> bool:
    """True when ``model`` names a folder rather than a Hub id (``owner/name``)."""
    return model.startswith((os.sep, ".", "~")) or os.path.exists(model) or model.count("/") > 1


def local_model_problem(model: str) -> str | None:
    """Why the local folder ``model`` cannot be a checkpoint, or None when it may be one."""
    folder = Path(model).expanduser()
    if not folder.is_dir():
        return f"there is no folder {folder}"
    if not (folder / "config.json").is_file():
        return f"{folder} has no config.json, so it is not a checkpoint folder"
    return None

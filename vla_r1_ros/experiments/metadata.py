"""Run metadata: a JSON sidecar next to each bag, and CSV tables of labels and NASA-TLX scores.

Sidecar ``<bag folder>.run.json`` beside the bag folder (``runs/t03_vla_2/`` has
``runs/t03_vla_2.run.json``), so the bag folder stays exactly what rosbag2 wrote::

    {
      "schema": "vla_r1_ros/run-metadata/1",
      "run_id": "t03_vla_2",              # unique in a study; default: the bag folder's name
      "task": "t03",                      # what is compared across conditions (pairs the runs)
      "instruction": "pick up the red cube",
      "scene_seed": 17,                   # integer or null
      "condition": "vla",                 # "vla", "teleop" or "vla+approval"
      "operator": "P07",                  # who operated (or approved)
      "trial": 2,                         # integer or null
      "success": true,                    # judged by the experimenter; true, false or null
      "notes": ""
    }

Every key but ``schema`` and ``run_id`` may be left out (empty / null). A bag without a sidecar
is run ``<bag folder name>`` with nothing else known; a labels CSV can fill in or override any
field for any run (one row per run, a ``run_id`` column, then any of the keys above).

NASA-TLX CSV: a ``run_id`` column and the six subscales (``mental``, ``physical``, ``temporal``,
``performance``, ``effort``, ``frustration``), each 0-100; the raw TLX is their mean.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from vla_r1_ros.core.runs.run import CONDITIONS
from vla_r1_ros.core.runs.tlx import TLX_SUBSCALES, raw_tlx

__all__ = [
    "SCHEMA",
    "SIDECAR_SUFFIX",
    "RunMetadata",
    "sidecar_path",
    "write_metadata",
    "read_metadata",
    "read_labels",
    "apply_labels",
    "read_tlx",
]

SCHEMA = "vla_r1_ros/run-metadata/1"
SIDECAR_SUFFIX = ".run.json"


@dataclass(frozen=True)
class RunMetadata:
    """What the recording itself does not say about a run (see the module docstring)."""

    run_id: str
    task: str = ""
    instruction: str = ""
    scene_seed: int | None = None
    condition: str = ""
    operator: str = ""
    trial: int | None = None
    success: bool | None = None
    notes: str = ""

    def __post_init__(self) -> None:
        if not self.run_id:
            raise ValueError("run_id must not be empty")
        if self.condition and self.condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {', '.join(CONDITIONS)}, got {self.condition!r}")

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self)}


_FIELDS = {f.name for f in fields(RunMetadata)}
_INTEGERS = ("scene_seed", "trial")


def _coerce(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Typed metadata fields from JSON or CSV values (CSV gives strings: "" means unknown)."""
    unknown = sorted(set(values) - _FIELDS - {"schema"})
    if unknown:
        raise ValueError(f"{source}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_FIELDS))}")
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key == "schema":
            if value != SCHEMA:
                raise ValueError(f"{source}: schema {value!r} is not {SCHEMA!r}")
            continue
        if isinstance(value, str):
            value = value.strip()
        if key in _INTEGERS:
            if value in ("", None):
                value = None
            elif isinstance(value, bool) or not isinstance(value, (int, str)):
                raise ValueError(f"{source}: {key} must be an integer, got {value!r}")
            else:
                try:
                    value = int(value)
                except ValueError:
                    raise ValueError(f"{source}: {key} must be an integer, got {value!r}") from None
        elif key == "success":
            if isinstance(value, str):
                lowered = value.lower()
                if lowered not in ("", "true", "false", "1", "0", "yes", "no"):
                    raise ValueError(f"{source}: success must be true or false, got {value!r}")
                value = None if lowered == "" else lowered in ("true", "1", "yes")
            elif value is not None and not isinstance(value, bool):
                raise ValueError(f"{source}: success must be true, false or null, got {value!r}")
        elif not isinstance(value, str):
            raise ValueError(f"{source}: {key} must be a string, got {value!r}")
        out[key] = value
    return out


def sidecar_path(bag: Path | str) -> Path:
    """``<bag folder>.run.json`` beside the bag folder."""
    folder = Path(bag)
    return folder.with_name(folder.name + SIDECAR_SUFFIX)


def write_metadata(bag: Path | str, metadata: RunMetadata) -> Path:
    """Write the sidecar of ``bag``; returns its path."""
    path = sidecar_path(bag)
    path.write_text(json.dumps(metadata.to_json(), indent=2) + "\n", encoding="utf-8")
    return path


def read_metadata(bag: Path | str) -> RunMetadata:
    """The sidecar of ``bag``, or ``RunMetadata(run_id=<bag folder name>)`` without one."""
    path = sidecar_path(bag)
    if not path.exists():
        return RunMetadata(run_id=Path(bag).name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not readable JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    values = _coerce(data, str(path))
    values.setdefault("run_id", Path(bag).name)
    try:
        return RunMetadata(**values)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def _csv_rows(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as stream:
            reader = csv.DictReader(stream)
            header = [h.strip() for h in reader.fieldnames or []]
            missing = [c for c in required if c not in header]
            if missing:
                raise ValueError(f"{path}: missing column(s) {', '.join(missing)} (columns: {', '.join(header)})")
            return [{(k or "").strip(): (v or "") for k, v in row.items()} for row in reader]
    except OSError as err:
        raise ValueError(f"{path}: cannot read it ({err.strerror})") from None


def read_labels(path: Path | str) -> dict[str, dict[str, Any]]:
    """Metadata fields per run id from a labels CSV (empty cells are left out, so they override nothing)."""
    table: dict[str, dict[str, Any]] = {}
    for line, row in enumerate(_csv_rows(Path(path), ("run_id",)), start=2):
        run_id = row.pop("run_id").strip()
        if not run_id:
            raise ValueError(f"{path}, line {line}: empty run_id")
        if run_id in table:
            raise ValueError(f"{path}, line {line}: run_id {run_id} appears twice")
        table[run_id] = _coerce({k: v for k, v in row.items() if v.strip()}, f"{path}, line {line}")
    return table


def apply_labels(metadata: RunMetadata, labels: Mapping[str, Mapping[str, Any]]) -> RunMetadata:
    """``metadata`` with its run's labels (if any) applied over it."""
    row = labels.get(metadata.run_id)
    return replace(metadata, **row) if row else metadata


def read_tlx(path: Path | str) -> dict[str, float]:
    """Raw NASA-TLX per run id from a CSV with a run_id column and the six subscales."""
    scores: dict[str, float] = {}
    for line, row in enumerate(_csv_rows(Path(path), ("run_id", *TLX_SUBSCALES)), start=2):
        run_id = row["run_id"].strip()
        if run_id in scores:
            raise ValueError(f"{path}, line {line}: run_id {run_id} appears twice")
        try:
            values = {name: float(row[name]) for name in TLX_SUBSCALES}
            scores[run_id] = raw_tlx(values)
        except ValueError as err:
            raise ValueError(f"{path}, line {line}: {err}") from None
    return scores

"""The tiny model shipped in the package ("embedded"): small, loadable by name, and it follows the instruction."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")
pytest.importorskip("datasets")

from vla_r1_ros.model import EMBEDDED_MODEL, EMBEDDED_MODEL_DIR, resolve_model
from vla_r1_ros.model.backends import ModelNotAvailableError


def test_the_name_resolves_to_a_small_checkpoint_in_the_package() -> None:
    assert resolve_model(EMBEDDED_MODEL) == str(EMBEDDED_MODEL_DIR)
    assert resolve_model("GigaAI-Research/vla-r1") == "GigaAI-Research/vla-r1"  # other names pass through
    weights = EMBEDDED_MODEL_DIR / "model.safetensors"
    assert weights.is_file() and weights.stat().st_size <= 15e6
    card = (EMBEDDED_MODEL_DIR / "README.md").read_text(encoding="utf-8")
    assert "cpu_tiny" in card and "top-down" in card


def test_a_missing_embedded_checkpoint_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    import vla_r1_ros.model.weights as weights

    monkeypatch.setattr(weights, "EMBEDDED_MODEL_DIR", tmp_path)
    with pytest.raises(ModelNotAvailableError, match="embedded model is missing"):
        weights.resolve_model(EMBEDDED_MODEL)


def test_it_finds_the_named_object_on_held_out_scenes() -> None:
    """Greedy answers on 60 held-out scenes through the node's engine: valid, on target, better than chance."""
    from vla_r1_training.data import synthetic_dataset
    from vla_r1_training.evaluate import generate_predictions, score_records

    from vla_r1_ros.model.engine import VLAR1Engine

    engine = VLAR1Engine(EMBEDDED_MODEL, device="cpu", dtype="float32")
    scenes = synthetic_dataset(60, seed=1000, image_size=112, min_objects=1, max_objects=3, cot="short")
    rows, summary = score_records(generate_predictions(engine, scenes, batch_size=30, progress=False))
    assert summary["valid_rate"] == 1.0
    ious = [row["iou"] for row in rows]
    assert sum(ious) / len(ious) > 0.55  # 0.71 over 1000 held-out scenes; a constant box scores ~0.07
    multi = [row for row in rows if row["n_objects"] > 1]
    assert sum(row["picked"] == "target" for row in multi) > 0.6 * len(multi)  # chance is 1/2 to 1/3
    single = [row["iou"] for row in rows if row["n_objects"] == 1]
    assert sum(single) / len(single) > 0.7

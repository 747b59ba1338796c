"""GRPO settings side by side: several GRPO runs from one SFT model, each scored like the experiment.

Each variant runs ``training/experiments/cpu_tiny.py --sft-model MODEL`` with its own overrides
(so each gets the experiment's held-out evaluation of the SFT model and of its GRPO model, and the
paired per-scene IoU difference), in parallel, and the sweep prints one table::

    python training/experiments/grpo_sweep.py --sft-model training/runs/cpu_tiny/sft \\
        --out /tmp/sweep --parallel 4 --variants base lr2e-4 lr2e-4_none

On the 2-core CPU run one variant at a time; on a lent GPU machine (16 cores) all of them at once.
Extra ``section.key=value`` overrides after ``--`` apply to every variant (e.g. ``grpo.max_steps=200``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Overrides of each variant on top of training/configs/cpu_tiny.yaml (4 prompts x 8 rollouts, lr 5e-5).
VARIANTS: dict[str, list[str]] = {
    "base": [],
    "lr2e-4": ["grpo.learning_rate=2e-4"],
    "lr5e-4": ["grpo.learning_rate=5e-4"],
    "lr2e-4_none": ["grpo.learning_rate=2e-4", "grpo.scale_rewards=none"],
    "lr5e-4_none": ["grpo.learning_rate=5e-4", "grpo.scale_rewards=none"],
    "lr1e-3_none": ["grpo.learning_rate=1e-3", "grpo.scale_rewards=none"],
    "lr2e-4_g16": ["grpo.learning_rate=2e-4", "grpo.num_generations=16", "grpo.per_device_train_batch_size=64"],
    "lr2e-4_p8": ["grpo.learning_rate=2e-4", "grpo.per_device_train_batch_size=64"],
}


def summarise(folder: Path) -> dict[str, object]:
    """The numbers of one finished (or partial) variant from its cpu_tiny.json."""
    path = folder / "cpu_tiny.json"
    if not path.is_file():
        return {"status": "no result"}
    result = json.loads(path.read_text(encoding="utf-8"))
    delta = result.get("paired_delta_mean")
    se = result.get("paired_delta_se")
    return {
        "sft": result.get("sft_heldout_miou"),
        "grpo": result.get("grpo_heldout_miou"),
        "delta": delta,
        "se": se,
        "z": round(delta / se, 2) if delta is not None and se else None,
        "relative": result.get("grpo_relative_gain"),
        "grpo_s": result.get("phases_s", {}).get("grpo"),
        "partial": result.get("partial"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sft-model", required=True, help="the SFT checkpoint every variant starts from")
    parser.add_argument("--out", required=True, help="one sub-folder per variant, plus sweep.json")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--parallel", type=int, default=1, help="variants running at once")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads per variant")
    parser.add_argument("overrides", nargs="*", help="section.key=value for every variant")
    args = parser.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TOKENIZERS_PARALLELISM": "false"}
    pending = list(args.variants)
    running: dict[str, subprocess.Popen[bytes]] = {}
    start = time.perf_counter()
    while pending or running:
        while pending and len(running) < args.parallel:
            name = pending.pop(0)
            folder = out / name
            folder.mkdir(exist_ok=True)
            command = [
                sys.executable,
                str(ROOT / "training/experiments/cpu_tiny.py"),
                "--sft-model",
                args.sft_model,
                "--results",
                str(folder),
                f"grpo.output_dir={folder / 'grpo'}",
                *VARIANTS[name],
                *args.overrides,
            ]
            with open(folder / "run.log", "wb") as log:
                running[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
            print(f"[{time.perf_counter() - start:6.0f} s] started {name}", flush=True)
        for name, process in list(running.items()):
            if process.poll() is not None:
                print(f"[{time.perf_counter() - start:6.0f} s] {name} exited {process.returncode}", flush=True)
                del running[name]
        time.sleep(2)

    table = {name: summarise(out / name) for name in args.variants}
    (out / "sweep.json").write_text(json.dumps({"overrides": args.overrides, "variants": table}, indent=2) + "\n")
    for name, row in table.items():
        print(f"{name:14s} " + " ".join(f"{key} {value}" for key, value in row.items()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

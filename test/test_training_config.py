"""Run configs: YAML sections, command-line overrides, TRL field checks, CPU settings, the shipped configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from experiment_support import load_experiment

pytest.importorskip("trl")

from vla_r1_training.config import (
    CPU_SETTINGS,
    GRPO_DEFAULTS,
    SFT_DEFAULTS,
    ConfigError,
    RunConfig,
    apply_overrides,
    check_grpo_batch,
    check_peft_sharding,
    describe,
    load_config,
    trainer_kwargs,
)

CONFIGS = Path(__file__).resolve().parent.parent / "training" / "configs"


def test_yaml_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(
        "data:\n  num_train: 12\n  tasks: [affordance, trajectory]\n"
        "model:\n  use_peft: true\n  lora_r: 4\n"
        "sft:\n  learning_rate: 1e-3\n  max_steps: 7\n"
        "grpo:\n  beta: 0.02\n  time_limit_s: 30\n",
        encoding="utf-8",
    )
    config = load_config(
        path,
        [
            "data.num_train=99",
            "sft.learning_rate=2e-4",
            "model.lora_target_modules=q_proj,v_proj",
            "data.tasks=[trajectory]",
            "eval.model=some/dir",
        ],
    )
    assert config.data.num_train == 99
    assert config.data.tasks == ["trajectory"]
    assert config.model.use_peft is True and config.model.lora_r == 4
    assert config.model.lora_target_modules == ["q_proj", "v_proj"]
    assert config.sft == {"learning_rate": 2e-4, "max_steps": 7}  # "1e-3"-style strings read as floats
    assert isinstance(config.sft["learning_rate"], float)
    assert config.eval.model == "some/dir"
    kwargs, extra = trainer_kwargs(config.grpo, GRPO_DEFAULTS, cpu=True)
    assert extra == {"time_limit_s": 30}
    assert kwargs["beta"] == 0.02 and kwargs["num_generations"] == 5 and kwargs["learning_rate"] == 3e-5


def test_defaults_follow_the_release_recipe() -> None:
    assert GRPO_DEFAULTS["beta"] == 0.01
    assert GRPO_DEFAULTS["num_generations"] == 5
    assert GRPO_DEFAULTS["learning_rate"] == 3e-5
    assert GRPO_DEFAULTS["epsilon"] == 0.2
    assert GRPO_DEFAULTS["max_completion_length"] == 2048
    assert GRPO_DEFAULTS["loss_type"] and GRPO_DEFAULTS["scale_rewards"] == "group"
    assert SFT_DEFAULTS["completion_only_loss"] is True
    from trl import GRPOConfig

    kwargs, _ = trainer_kwargs({}, GRPO_DEFAULTS, cpu=True)
    args = GRPOConfig(**kwargs)
    assert args.beta == 0.01 and args.loss_type == "dapo" and args.scale_rewards == "group"
    assert args.use_cpu and not args.bf16 and not args.gradient_checkpointing


def test_cpu_settings_fill_in_but_never_override_an_explicit_choice() -> None:
    kwargs, _ = trainer_kwargs({"bf16": True}, SFT_DEFAULTS, cpu=True)
    assert kwargs["bf16"] is True and kwargs["use_cpu"] is True and kwargs["activation_checkpointing"] is False
    kwargs, _ = trainer_kwargs({}, SFT_DEFAULTS, cpu=False)
    assert not set(CPU_SETTINGS) & set(kwargs)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("sft.learnin_rate=1", "not a field of trl.SFTConfig"),
        ("grpo.num_generation=4", "not a field of trl.GRPOConfig"),
        ("data.num_trian=3", "unknown key"),
        ("optim.lr=3", "unknown config section"),
        ("data.num_train=many", "not a valid"),
        ("model.use_peft=3", "not a valid"),
        ("data.num_train", "must look like section.key=value"),
        ("data.palettes=red,green", "not a valid list\\[list\\[str\\]\\]"),
        ("data.palettes=[red, green, blue]", "not a valid list\\[list\\[str\\]\\]"),
    ],
)
def test_bad_overrides_are_refused_with_a_reason(override: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        apply_overrides(RunConfig(), [override])


def test_shipped_configs_load() -> None:
    # accelerate's own configs and the experiment's list of SFT phases are not run configs
    names = {p.stem for p in CONFIGS.glob("*.yaml") if not p.stem.startswith("accelerate_")} - {"cpu_tiny_sft_phases"}
    assert {"cpu_smoke", "one_gpu_lora", "multi_gpu_zero3", "cpu_tiny"} <= names
    for name in names:
        config = load_config(CONFIGS / f"{name}.yaml")
        kwargs, _ = trainer_kwargs(config.grpo, GRPO_DEFAULTS)
        assert kwargs["beta"] == 0.01, name
    lora = load_config(CONFIGS / "one_gpu_lora.yaml")
    assert lora.model.use_peft and lora.data.source == "vla_cot"
    zero3 = load_config(CONFIGS / "multi_gpu_zero3.yaml")
    assert zero3.grpo["use_vllm"] is True and zero3.grpo["num_generations"] == 5
    # 512 prompts x 5 rollouts per optimiser step on 8 GPUs, as in the release
    assert 8 * zero3.grpo["per_device_train_batch_size"] * zero3.grpo["gradient_accumulation_steps"] == 512 * 5


def test_describe_lists_every_key_with_help() -> None:
    text = describe()
    for key in ("num_train", "eval_seed", "build_tiny", "use_peft", "functions", "max_new_tokens"):
        assert f"  {key} = " in text
    assert "sft:   any trl.SFTConfig field" in text


def _experiment_module() -> object:
    return load_experiment("cpu_tiny")


def test_sft_phases_continue_stage_two_with_valid_overrides() -> None:
    """Stage 2b of the CPU experiment: each phase is the stage-2 config plus overrides that apply."""
    phases = _experiment_module()._sft_phases(str(CONFIGS / "cpu_tiny_sft_phases.yaml"))  # type: ignore[attr-defined]
    assert [phase["name"] for phase in phases][:2] == ["sft_more", "sft_more2"]
    outputs, seeds = set(), set()
    for phase in phases:
        config = load_config(CONFIGS / "cpu_tiny.yaml", phase["overrides"])
        outputs.add(config.sft["output_dir"])
        seeds.add(config.data.train_seed)
        assert config.sft["learning_rate"] < 1e-3  # lower than stage 2's
    # every phase writes its own model and sees fresh scenes
    assert len(outputs) == len(seeds) == len(phases)
    assert load_config(CONFIGS / "cpu_tiny.yaml").data.train_seed not in seeds


def test_bad_sft_phase_files_are_refused(tmp_path: Path) -> None:
    experiment = _experiment_module()
    bad = tmp_path / "phases.yaml"
    bad.write_text("phases:\n  - overrides: [sft.max_steps=3]\n")
    with pytest.raises(ValueError, match="needs a name"):
        experiment._sft_phases(str(bad))  # type: ignore[attr-defined]
    bad.write_text("phases:\n  - name: more\n    overrides: [max_steps 3]\n")
    with pytest.raises(ValueError, match=r"section\.key=value"):
        experiment._sft_phases(str(bad))  # type: ignore[attr-defined]
    assert experiment._sft_phases("none") == []  # type: ignore[attr-defined]


def test_run_candidates_are_the_checkpoints_in_step_order_then_a_distinct_final_model(tmp_path: Path) -> None:
    """What --validation scores: every checkpoint by step (100 after 30), and the final model only
    when it is not the last checkpoint (a run stopped by its time limit between saves)."""
    from vla_r1_training.checkpoints import run_candidates as candidates

    for step, weights in ((30, b"a"), (100, b"c"), (60, b"b")):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "model.safetensors").write_bytes(weights)
    in_order = ["checkpoint-30", "checkpoint-60", "checkpoint-100"]
    assert [path.name for path in candidates(tmp_path)] == in_order
    (tmp_path / "model.safetensors").write_bytes(b"c")
    assert [path.name for path in candidates(tmp_path)] == in_order
    (tmp_path / "model.safetensors").write_bytes(b"d")
    assert candidates(tmp_path)[-1] == tmp_path and len(candidates(tmp_path)) == 4


def test_model_size_leaves_out_checkpoints_and_optimiser_state(tmp_path: Path) -> None:
    """The <= 15 MB check is on the model a user gets, whether the folder is a run or one checkpoint."""
    size_mb = _experiment_module()._size_mb  # type: ignore[attr-defined]
    (tmp_path / "model.safetensors").write_bytes(b"w" * 3000)
    (tmp_path / "config.json").write_bytes(b"c" * 100)
    (tmp_path / "optimizer.pt").write_bytes(b"o" * 6000)
    (tmp_path / "rng_state_0.pth").write_bytes(b"r" * 50)
    (tmp_path / "checkpoint-50").mkdir()
    (tmp_path / "checkpoint-50" / "model.safetensors").write_bytes(b"w" * 3000)
    assert size_mb(tmp_path) == pytest.approx(3100 / 1e6)
    assert size_mb(tmp_path / "checkpoint-50") == pytest.approx(3000 / 1e6)


def test_a_reused_run_reports_its_own_progress(tmp_path: Path) -> None:
    """--grpo-model: the steps come from the run's last checkpoint, not from this run's config."""
    from vla_r1_training.checkpoints import trainer_progress as progress

    assert progress(tmp_path) is None
    for step in (30, 120, 60):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        state = {"global_step": step, "max_steps": 180, "train_batch_size": 64, "log_history": []}
        (folder / "trainer_state.json").write_text(json.dumps(state))
    assert progress(tmp_path) == {"global_step": 120, "max_steps": 180, "train_batch_size": 64}


def test_select_checkpoint_keeps_the_best_scoring_and_the_earliest_on_a_tie(tmp_path: Path) -> None:
    from vla_r1_training.checkpoints import select_checkpoint

    paths = [tmp_path / name for name in ("checkpoint-30", "checkpoint-60", "checkpoint-90")]
    validation = {"checkpoint-30": 0.5, "checkpoint-60": 0.7, "checkpoint-90": 0.7}
    best, scores = select_checkpoint(paths, lambda path: validation[path.name])
    assert best == paths[1] and scores == {path: validation[path.name] for path in paths}
    with pytest.raises(ValueError, match="no checkpoints"):
        select_checkpoint([], lambda path: 0.0)


def test_evaluation_device_and_dtype_default_to_auto() -> None:
    config = load_config(CONFIGS / "cpu_tiny.yaml", ["eval.device=cpu"])
    assert config.eval.device == "cpu" and config.eval.dtype == "auto"
    assert RunConfig().eval.device == "auto"


def test_palettes_reach_the_scene_generator() -> None:
    from vla_r1_training.common import synthetic_options
    from vla_r1_training.data import TabletopGenerator

    config = apply_overrides(RunConfig(), ["data.palettes=[[red, green, blue]]", "data.min_objects=2"])
    assert config.data.palettes == [["red", "green", "blue"]]
    generator = TabletopGenerator(seed=3, **synthetic_options(config.data))
    for index in range(20):
        assert {obj.colour for obj in generator.scene(index).objects} <= {"red", "green", "blue"}
    # empty means every colour
    assert synthetic_options(apply_overrides(RunConfig(), ["data.palettes=[]"]).data)["palettes"] is None


def test_bad_palettes_are_refused_when_the_config_loads(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("data:\n  max_objects: 3\n")
    with pytest.raises(ValueError, match=r"data.palettes: palette \['red', 'pink', 'blue'\]: unknown colour"):
        load_config(str(path), ["data.palettes=[[red, pink, blue]]"])
    with pytest.raises(ValueError, match="fewer than max_objects"):
        load_config(str(path), ["data.palettes=[[red, green]]"])
    assert load_config(str(path), ["data.palettes=[[red, green]]", "data.max_objects=2"]).data.palettes == [
        ["red", "green"]
    ]


def test_every_output_goes_under_the_ignored_runs_folder() -> None:
    """Defaults and shipped configs write under training/runs/ (git-ignored), never beside tracked files:
    `vla-r1-train eval --config cpu_tiny.yaml eval.model=embedded` once wrote eval_out/ at the root."""
    root = CONFIGS.parent.parent
    assert "runs/" in (root / "training" / ".gitignore").read_text().split()
    configs = [RunConfig()] + [
        load_config(path)
        for path in sorted(CONFIGS.glob("*.yaml"))
        if not path.stem.startswith("accelerate_") and path.stem != "cpu_tiny_sft_phases"
    ]
    for config in configs:
        sft, _ = trainer_kwargs(config.sft, SFT_DEFAULTS, cpu=True)
        grpo, _ = trainer_kwargs(config.grpo, GRPO_DEFAULTS, cpu=True)
        for folder in (sft["output_dir"], grpo["output_dir"], config.eval.output_dir):
            assert Path(folder).parts[:2] == ("training", "runs"), (config.model.model_name_or_path, folder)
    assert load_config(CONFIGS / "cpu_tiny.yaml", ["eval.model=embedded"]).eval.output_dir == "training/runs/eval"


def test_the_cpu_zero3_launch_config_is_the_gpu_one_on_two_cpu_processes() -> None:
    import yaml

    gpu = yaml.safe_load((CONFIGS / "accelerate_zero3.yaml").read_text())
    cpu = yaml.safe_load((CONFIGS / "accelerate_zero3_cpu.yaml").read_text())
    changed = {key for key in gpu.keys() | cpu.keys() if gpu.get(key) != cpu.get(key)}
    assert changed == {"num_processes", "use_cpu", "mixed_precision"}
    assert (cpu["num_processes"], cpu["use_cpu"], cpu["mixed_precision"]) == (2, True, "no")
    assert gpu["deepspeed_config"]["zero_stage"] == 3


@pytest.mark.parametrize(
    ("settings", "world_size"),
    [
        ({"per_device_train_batch_size": 4, "num_generations": 4}, 2),
        ({"per_device_train_batch_size": 3, "num_generations": 6, "gradient_accumulation_steps": 2}, 1),
        ({"per_device_train_batch_size": 10, "num_generations": 5, "gradient_accumulation_steps": 32}, 8),
        ({"per_device_train_batch_size": 2, "num_generations": 4, "generation_batch_size": 8}, 2),
    ],
)
def test_grpo_batches_that_split_into_whole_groups_pass(settings: dict[str, int], world_size: int) -> None:
    check_grpo_batch(settings, world_size)


@pytest.mark.parametrize(
    ("settings", "world_size", "message"),
    [
        # 10 per process on 3 processes: 30 completions, no whole number of groups of 4
        (
            {"per_device_train_batch_size": 10, "num_generations": 4},
            3,
            r"on 3 processes: .* per_device_train_batch_size 10 x 3 processes x steps_per_generation 1 "
            r"\(gradient_accumulation_steps\) = 30 completions, not a whole number of groups of "
            r"grpo.num_generations 4. Set grpo.per_device_train_batch_size to a multiple of 4, or "
            r"grpo.num_generations to one of \[2, 3, 5, 6, 10, 15, 30\]",
        ),
        (
            {"per_device_train_batch_size": 3, "num_generations": 8, "steps_per_generation": 2},
            2,
            r"steps_per_generation 2 = 12 completions.* a multiple of 2, .* one of \[2, 3, 4, 6, 12\]",
        ),
        (
            {"per_device_train_batch_size": 4, "num_generations": 4, "generation_batch_size": 12},
            2,
            r"generation_batch_size 12 must be a multiple of the global batch on 2 processes, "
            r"per_device_train_batch_size 4 x 2 = 8",
        ),
    ],
)
def test_grpo_batches_that_cannot_split_say_which_numbers_to_change(
    settings: dict[str, int], world_size: int, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        check_grpo_batch(settings, world_size)


def test_lora_under_zero3_is_refused_up_front() -> None:
    with pytest.raises(ConfigError, match="ZeRO-2"):
        check_peft_sharding(True, 3)
    for use_peft, stage in ((True, None), (True, 2), (False, 3)):
        check_peft_sharding(use_peft, stage)


def test_the_cpu_experiment_writes_under_runs_and_changes_results_only_when_promoted(tmp_path: Path) -> None:
    """Running cpu_tiny.py once overwrote the committed training/results/cpu_tiny.json (partial) within a
    minute; now a run writes under training/runs/ and --promote is the one step that copies results."""
    experiment = _experiment_module()
    root = CONFIGS.parent.parent
    default = Path(experiment.build_parser().parse_args([]).results)  # type: ignore[attr-defined]
    assert default.relative_to(root).parts[:2] == ("training", "runs")
    run, results = tmp_path / "run", tmp_path / "results"
    (run / "cpu_tiny_model").mkdir(parents=True)
    (run / "cpu_tiny_model" / "model.safetensors").write_bytes(b"w")
    (run / "cpu_tiny.log").write_text("log\n")
    (run / "cpu_tiny.json").write_text(json.dumps({"partial": True, "shipped_model": "x"}))
    with pytest.raises(ValueError, match="unfinished run"):
        experiment.promote(run, results)  # type: ignore[attr-defined]
    assert not results.exists()
    (run / "cpu_tiny.json").write_text(json.dumps({"partial": False, "shipped_model": "x", "sft_heldout_miou": 0.7}))
    (results / "cpu_tiny_model").mkdir(parents=True)
    (results / "cpu_tiny_model" / "stale.bin").write_bytes(b"s")
    copied = experiment.promote(run, results)  # type: ignore[attr-defined]
    assert copied == ["cpu_tiny.json", "cpu_tiny.log", "cpu_tiny_model"]
    promoted = json.loads((results / "cpu_tiny.json").read_text())
    assert promoted["sft_heldout_miou"] == 0.7 and promoted["shipped_model"] == str(results / "cpu_tiny_model")
    assert sorted(p.name for p in (results / "cpu_tiny_model").iterdir()) == ["model.safetensors"]
    assert json.loads((run / "cpu_tiny.json").read_text())["shipped_model"] == "x"  # the run is left as it was

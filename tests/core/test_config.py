import sys

import pytest

from workbench.config import SCHEMA_VERSION, ConfigError, RunConfig, field_meta, iter_fields, migrate


def test_defaults_are_valid_and_documented():
    cfg = RunConfig()
    assert cfg.validate() == []
    for key, f, value in iter_fields(cfg):
        m = f.metadata
        assert m.get("label") and m.get("help"), f"{key} lacks label/help"
        if m.get("choices"):
            assert value in m["choices"], key


def test_required_override_keys_exist():
    cfg = RunConfig()
    for key in ["data.image_size", "data.batch_size", "data.valid_pct", "model.arch", "train.epochs",
                "train.lr", "train.schedule", "train.precision", "tricks.mixup", "tricks.label_smoothing", "seed"]:
        cfg.get(key)  # raises if missing


def test_toml_round_trip(tmp_path):
    cfg = RunConfig().with_overrides(["train.epochs=7", "tricks.mixup=0.4", "train.moms=0.9,0.8,0.9",
                                      "data.path=/some where/ünïcode", "export.formats=onnx,torchscript"])
    assert cfg.train.epochs == 7 and cfg.tricks.mixup == 0.4
    assert cfg.train.moms == (0.9, 0.8, 0.9)
    assert cfg.export.formats == ("onnx", "torchscript")
    path = tmp_path / "r.toml"
    cfg.save(path)
    assert RunConfig.load(path) == cfg
    assert not list(tmp_path.glob(".*.tmp")), "atomic write left a temp file"


def test_override_coercion_and_errors():
    cfg = RunConfig()
    assert cfg.set("train.lr", "0.01").train.lr == pytest.approx(0.01)
    assert cfg.set("augment.flip", "off").augment.flip is False
    assert cfg.with_overrides(["tricks.mixup=1"]).tricks.mixup == 1.0
    with pytest.raises(ConfigError, match="unknown config key 'train.epoch'"):
        cfg.set("train.epoch", 3)
    with pytest.raises(ConfigError, match="train.epochs"):
        cfg.set("train.epochs", "many")
    with pytest.raises(ConfigError, match="train.epochs"):
        cfg.set("train.epochs", 2.5)
    with pytest.raises(ConfigError, match="key=value"):
        cfg.with_overrides(["train.epochs"])
    with pytest.raises(ConfigError, match="is a section"):
        cfg.set("train", 1)


def test_validate_reports_readable_problems():
    cfg = RunConfig().with_overrides(["train.epochs=0", "train.schedule=bogus", "data.valid_pct=2"])
    problems = "\n".join(cfg.validate())
    assert "train.epochs" in problems and "minimum" in problems
    assert "bogus" in problems and "one_cycle" in problems
    assert "data.valid_pct" in problems and "maximum" in problems
    missing = RunConfig().set("model.weights", "/nope/weights.pth").validate()
    assert any("file not found" in p for p in missing)


def test_unknown_keys_in_file_are_rejected():
    with pytest.raises(ConfigError, match="train.bogus"):
        RunConfig.from_toml("schema_version = 2\n[train]\nbogus = 1\n")
    with pytest.raises(ConfigError, match="not a valid TOML"):
        RunConfig.from_toml("[train\n")


def test_migrates_schema_1():
    old = """
seed = 3
[data]
size = 96
[train]
mixed_precision = false
epochs = 2
[tricks]
mixup_alpha = 0.2
"""
    cfg = RunConfig.from_toml(old)
    assert cfg.schema_version == SCHEMA_VERSION
    assert cfg.data.image_size == 96
    assert cfg.train.precision == "fp32" and cfg.train.epochs == 2
    assert cfg.tricks.mixup == 0.2 and cfg.seed == 3
    assert cfg.data.valid_crop == 1.0  # validated on the whole square before schema 3
    assert migrate({"schema_version": 1, "train": {"mixed_precision": True}})["train"]["precision"] == "auto"


def test_migrates_schema_2_keeping_the_whole_square_for_validation():
    old = RunConfig.from_toml("schema_version = 2\n[data]\nimage_size = 64\n")
    assert old.schema_version == SCHEMA_VERSION and old.data.image_size == 64
    assert old.data.valid_crop == 1.0  # re-evaluating an old run reproduces its recorded metrics
    assert RunConfig.from_toml(f"schema_version = {SCHEMA_VERSION}\n").data.valid_crop == 0.875
    kept = RunConfig.from_toml("schema_version = 2\n[data]\nvalid_crop = 0.9\n")
    assert kept.data.valid_crop == 0.9


def test_newer_schema_is_refused():
    with pytest.raises(ConfigError, match="newer version"):
        RunConfig.from_dict({"schema_version": SCHEMA_VERSION + 1})


def test_field_meta_lookup():
    m = field_meta("train.schedule")
    assert "sgdr" in m["choices"]
    with pytest.raises(ConfigError):
        field_meta("nope.key")


def test_effective_presize_is_above_image_size():
    cfg = RunConfig().set("data.image_size", 64)
    assert cfg.effective_presize >= 64
    assert RunConfig().set("data.presize", 200).effective_presize == 200


def _dead_pid() -> int:
    """The pid of a process that has exited."""
    import subprocess
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_atomic_write_replaces_and_cleans_leftovers_of_killed_writes(tmp_path):
    from workbench.runtime.atomic import atomic_write_bytes
    target = tmp_path / "last.pt"
    leftover = tmp_path / f".last.pt.{_dead_pid()}-abc123.tmp"   # what a write killed before its rename leaves
    leftover.write_bytes(b"half")
    other = tmp_path / f".best.pt.{_dead_pid()}-xyz.tmp"         # belongs to another file: left alone
    other.write_bytes(b"x")
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert not leftover.exists() and other.exists()


def test_atomic_path_renames_on_success_and_removes_the_temp_file_on_error(tmp_path):
    from workbench.runtime.atomic import atomic_path
    target = tmp_path / "images.u8"
    (tmp_path / f".images.u8.{_dead_pid()}-killed.tmp").write_bytes(b"half")  # a cache build killed mid-way
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".images.u8.")
        tmp.write_bytes(b"data")
        assert not target.exists()  # nothing visible before the block ends
    assert target.read_bytes() == b"data" and not list(tmp_path.glob(".*.tmp"))
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("cancelled")
    assert target.read_bytes() == b"data" and not list(tmp_path.glob(".*.tmp"))


def test_a_recipe_with_the_removed_snapshot_ensemble_still_loads_with_a_warning(recwarn):
    from workbench.config import RemovedOptionWarning
    with pytest.warns(RemovedOptionWarning, match="tricks.snapshot_ensemble = True is ignored: the snapshot ensemble was removed"):
        cfg = RunConfig.from_toml(f"schema_version = {SCHEMA_VERSION}\n[tricks]\nsnapshot_ensemble = true\nema = true\n")
    assert cfg.tricks.ema is True and not hasattr(cfg.tricks, "snapshot_ensemble")
    assert "snapshot_ensemble" not in cfg.to_toml()
    with pytest.warns(RemovedOptionWarning):  # older schemas too
        RunConfig.from_toml("schema_version = 2\n[tricks]\nsnapshot_ensemble = true\n")
    recwarn.clear()
    # a run folder's config.toml lists every option at its default: loads without a word
    RunConfig.from_toml(f"schema_version = {SCHEMA_VERSION}\n[tricks]\nsnapshot_ensemble = false\n")
    assert not [w for w in recwarn if issubclass(w.category, RemovedOptionWarning)]

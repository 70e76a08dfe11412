"""Errors are mapped once: every BadInput of the core is exit 2 with its sentence, every Failure exit 1,
and anything else (a bug) keeps its traceback instead of passing for bad input."""
from __future__ import annotations

import pytest

import workbench.cli.inspect_cmd as inspect_cmd
from workbench.cli import main
from workbench.data.scan import DatasetError
from workbench.errors import BadInput, Failure
from workbench.inference.export import ExportError, ExportFailed
from workbench.run.folder import CheckpointError
from workbench.train.trainer import TrainingError
from workbench.models.weights import WeightsError


@pytest.mark.parametrize("error, code", [
    (WeightsError("weights file x.pth does not match resnet18"), 2),
    (DatasetError("no images in /photos"), 2),
    (ExportError("model.json: not readable JSON"), 2),
    (ExportFailed("onnx export does not match the in-app model", "onnx"), 1),
    (TrainingError("the loss became NaN at epoch 2"), 1),
    (CheckpointError("cannot write last.pt"), 1),
])
def test_the_core_errors_map_to_their_exit_code(error, code, monkeypatch, tmp_path, capsys):
    def fail(args):
        raise error
    monkeypatch.setattr(inspect_cmd, "run", fail)
    assert main(["inspect", str(tmp_path)]) == code
    err = capsys.readouterr().err
    assert str(error) in err and "Traceback" not in err
    assert isinstance(error, BadInput if code == 2 else Failure)


def test_a_bug_is_not_taken_for_bad_input(monkeypatch, tmp_path):
    def bug(args):
        return {}["missing"]
    monkeypatch.setattr(inspect_cmd, "run", bug)
    with pytest.raises(KeyError):
        main(["inspect", str(tmp_path)])

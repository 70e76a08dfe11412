"""The model-source registry: the four built-in sources in the order they are asked, and a source
registered from a test alone (tests/fake_source.py) listed by `weights list`, built by create_model with
its weights, and checked by the recipe like the built-in ones."""
from __future__ import annotations

import torch

from fake_source import ARCH, TAG, tiny_source  # noqa: F401
from workbench.cli import main
from workbench.config import RunConfig
from workbench.models import weights
from workbench.models.build import ClassifierHead, arch_problem, create_model, layer_groups, list_archs
from workbench.models.sources import builders, source_of, sources


def test_the_registry_lists_the_four_built_in_sources_weights_on_disk_first():
    assert [s.name for s in sources()] == ["bundled", "files", "torchvision", "timm"]
    assert [s.name for s in builders()] == ["torchvision", "timm"]
    assert source_of("resnet18").name == "torchvision" and source_of("timm/convnext_nano").name == "timm"
    assert source_of("timm/no_such_net").name == "timm" and source_of("no_such_net") is None
    assert all(s.label for s in sources())
    names = list_archs()
    assert "resnet18" in names and "timm/convnext_nano" in names
    assert names.index("resnet18") < names.index("timm/convnext_nano")  # source by source


def test_a_registered_source_is_listed_built_and_loaded_with_its_weights(tiny_source, capsys):  # noqa: F811
    src, body = tiny_source
    assert sources()[-1] is src and ARCH in list_archs() and arch_problem(ARCH) == ""
    assert "did you mean tiny/net" in arch_problem("tiny/nett")
    assert weights.tags(ARCH) == ["DEFAULT", TAG] and weights.named_tags(ARCH) == [TAG]

    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith(f"{ARCH}:{TAG}"))
    assert line.split()[1] == "cached" and line.endswith(str(src.folder / "tiny-net-v1.safetensors"))
    assert main(["weights", "list", ARCH]) == 0 and f"{ARCH}:{TAG}" in capsys.readouterr().out

    st = weights.status(ARCH, "DEFAULT")
    assert (st.state, st.spec.tag, st.spec.input_size) == ("cached", TAG, 32)
    cfg = RunConfig().set("model.arch", ARCH).set("model.pretrained", TAG)
    assert cfg.validate() == []
    model = create_model(ARCH, 3, dropout=0.1, weights=weights.weights_file_for(cfg.model))
    assert isinstance(model.fc, ClassifierHead) and model.fc[1].out_features == 3
    assert torch.equal(model.state_dict()["stem.0.weight"], body["stem.0.weight"])
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 3)
    groups = layer_groups(model)
    assert sum(len(g) for g in groups) == len(list(model.parameters()))
    assert [id(p) for p in groups[-1]] == [id(p) for p in model.fc.parameters()]  # the new head last


def test_a_source_that_is_gone_is_unknown_again(tiny_source):  # noqa: F811
    from workbench.models.sources import unregister
    src, _ = tiny_source
    unregister(src.name)
    assert ARCH not in list_archs() and arch_problem(ARCH).startswith("unknown architecture 'tiny/net'")
    assert [s.name for s in sources()] == ["bundled", "files", "torchvision", "timm"]


def test_help_texts_come_from_the_sources():
    from workbench.config import field_meta
    arch_help = field_meta("model.arch")["help"]
    assert all(s.arch_help in arch_help for s in builders())
    assert "torchvision classification model name" in arch_help and "timm/<name>" in arch_help
    assert "(torchvision) or the timm pretrained tag" in field_meta("model.pretrained")["help"]


def test_the_files_source_lists_what_a_source_stored_in_the_cache_before_the_libraries(tmp_path, monkeypatch, capsys):
    from workbench.models import disk_source
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    folder = weights.checkpoints_dir()
    folder.mkdir(parents=True)
    (folder / "timm--convnext_nano.in12k_ft_in1k.safetensors").write_bytes(b"x" * 64)  # a timm file stored here
    (folder / "timm--no_such_net.in1k.safetensors").write_bytes(b"x" * 64)            # no such model: not listed
    (folder / "notes.txt").write_text("not weights")
    assert disk_source.SOURCE.listed(False) == ["timm/convnext_nano:in12k_ft_in1k"]
    assert main(["weights", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    keys = [ln.split()[0] for ln in lines if not ln.startswith(" ")]
    assert keys.index("timm/convnext_nano:in12k_ft_in1k") < keys.index("alexnet:IMAGENET1K_V1")
    assert "timm/no_such_net:in1k" not in keys

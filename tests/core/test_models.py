"""Model factory, layer groups, local weights files, and device / precision choice."""
from __future__ import annotations

import platform
import sys

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from workbench.runtime import device as dev
from workbench.models.build import ClassifierHead, ModelError, create_model, head_module, layer_groups, list_archs


@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v3_small", "efficientnet_b0", "convnext_tiny"])
def test_layer_groups_cover_every_parameter_once(arch):
    model = create_model(arch, 4, dropout=0.3)
    groups = layer_groups(model)
    ids = [id(p) for g in groups for p in g]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in model.parameters()}
    assert len(groups) >= 3  # stem, body..., head
    head = head_module(model)
    assert isinstance(head, ClassifierHead) and {id(p) for p in groups[-1]} == {id(p) for p in head.parameters()}
    assert head[0].p == 0.3 and head[1].out_features == 4


def test_forward_gives_num_classes():
    model = create_model("mobilenet_v3_small", 5).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 5)


def test_unknown_arch_lists_close_matches():
    with pytest.raises(ModelError, match="resnet18"):
        create_model("resnet81", 3)
    assert "resnet18" in list_archs() and "vit_b_16" in list_archs()


@pytest.mark.parametrize("ext", [".pth", ".safetensors"])
def test_local_weights_file_loads_into_body(tmp_path, ext):
    torch.manual_seed(1)
    src = torchvision.models.resnet18()
    path = tmp_path / f"w{ext}"
    sd = src.state_dict()
    if ext == ".pth":
        torch.save(sd, path)
    else:
        save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    model = create_model("resnet18", 3, weights=str(path))
    got = model.state_dict()
    for k, v in sd.items():
        if not k.startswith("fc."):
            assert torch.equal(got[k], v), k
    assert got["fc.1.weight"].shape == (3, 512)  # new head, not the 1000-class one


def test_bad_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        create_model("resnet18", 3, weights=str(tmp_path / "missing.pth"))
    other = tmp_path / "other.pth"
    torch.save(torchvision.models.mobilenet_v3_small().state_dict(), other)
    with pytest.raises(ModelError, match="does not match"):
        create_model("resnet18", 3, weights=str(other))


def test_pick_device_and_precision():
    assert dev.pick_device("cpu").type == "cpu"
    assert dev.pick_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="not available"):
            dev.pick_device("cuda")
    with pytest.raises(ValueError):
        dev.pick_device("tpu")
    cpu = torch.device("cpu")
    assert dev.pick_precision(cpu, "fp32") == "fp32"
    with pytest.raises(ValueError, match="fp16"):
        dev.pick_precision(cpu, "fp16")
    expected = "bf16" if dev.cpu_kind() == "native-bf16" else "fp32"
    assert dev.pick_precision(cpu, "auto") == expected
    assert dev.describe(cpu).startswith("CPU (")


def test_cpu_kind_from_flags():
    assert dev.cpu_kind(frozenset({"avx2", "avx512_bf16"})) == "native-bf16"
    assert dev.cpu_kind(frozenset({"avx2", "amx_tile"})) == "native-bf16"
    assert dev.cpu_kind(frozenset({"sse4_2", "avx2"})) == "avx2"
    assert dev.cpu_kind(frozenset({"neon"})) == "other"


def test_set_threads():
    assert dev.set_threads(1) == 1 and torch.get_num_threads() == 1
    cores = dev.set_threads(0)
    assert cores >= 1 and torch.get_num_threads() == cores


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux behaviour")
def test_lowered_job_thread_runs_at_lower_priority_with_all_cores():
    """A job thread of the app (which lowers its priority before the core call) keeps every core, but
    it (and the threads it starts) yields the CPU to the UI thread: its nice value is raised, the
    main thread's is not."""
    import os
    import threading
    main_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen = {}

    def job():
        dev.lower_thread_priority()
        seen["threads"] = dev.set_threads(0)
        seen["job"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        child = threading.Thread(target=lambda: seen.update(
            child=os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
        child.start()
        child.join()

    t = threading.Thread(target=job)
    t.start()
    t.join()
    assert seen["threads"] == dev.set_threads(0)          # no core given up
    assert seen["job"] > main_nice and seen["child"] == seen["job"]  # lower priority, inherited
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main_nice


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc allocator setting")
def test_batch_transforms_reuse_freed_buffers_instead_of_page_faulting():
    import resource

    from workbench.data.augment import BatchAugment
    from workbench.config import AugmentConfig
    assert dev.keep_freed_memory() and dev.keep_freed_memory()  # applies, once per process
    x = torch.randint(0, 256, (32, 100, 100, 3), dtype=torch.uint8)
    aug, g = BatchAugment(AugmentConfig()), torch.Generator().manual_seed(0)
    aug.transform(x, 96, g, (0.5,) * 3, (0.2,) * 3, True)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        aug.transform(x, 96, g, (0.5,) * 3, (0.2,) * 3, True)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 3000, f"{faults} page faults in 5 batches: freed buffers went back to the OS"  # ~15000 untuned


@pytest.mark.parametrize("arch", ["timm/test_convnext", "timm/test_efficientnet", "timm/test_vit"])
def test_timm_models_build_with_stem_stage_and_head_groups(arch):
    pytest.importorskip("timm")
    model = create_model(arch, 4, dropout=0.1)
    assert isinstance(head_module(model), ClassifierHead)
    groups = layer_groups(model)
    flat = [id(p) for g in groups for p in g]
    assert len(flat) == len(set(flat)) == len(list(model.parameters()))
    assert 3 <= len(groups) <= 6 and [id(p) for p in groups[-1]] == [id(p) for p in head_module(model).parameters()]
    stem = {id(p) for p in groups[0]}
    first_conv = next(p for n, p in model.named_parameters() if p.ndim == 4 or "embed" in n)
    assert id(first_conv) in stem
    size = 32 if "vit" not in arch else model.pretrained_cfg["input_size"][-1]
    assert model(torch.randn(2, 3, size, size)).shape == (2, 4)


def test_arch_typos_get_suggestions_from_torchvision_and_timm():
    with pytest.raises(ModelError, match="did you mean resnet18"):
        create_model("resnt18", 3)
    if "timm/convnext_nano" in list_archs():
        with pytest.raises(ModelError, match="timm/convnext_nano"):
            create_model("timm/convnext_nan", 3)
        with pytest.raises(ModelError, match="timm/convnext_nano"):
            create_model("convnext_nano", 3)  # a timm name without the prefix

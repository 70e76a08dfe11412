"""send_to_labelling: images of the dataset get a to_label sidecar entry, others go to the to-label list;
decisions already made stay, nothing is listed twice, no file is touched."""
from __future__ import annotations

import os

import pytest

from workbench.data.sidecar import ChangeSet
from workbench.inference.to_label import list_path, read_list, send_to_labelling


def test_inside_outside_links_and_repeats(tmp_path):
    data, other = tmp_path / "data", tmp_path / "other"
    (data / "cat").mkdir(parents=True)
    other.mkdir()
    for p in (data / "cat" / "a.png", data / "cat" / "b.png", other / "x.png"):
        p.write_bytes(b"img")
    os.symlink(other / "x.png", data / "cat" / "linked.png")   # a linked image inside the dataset
    cs = ChangeSet.load(data)
    cs.relabel(data / "cat" / "b.png", "dog")
    cs.save()
    sent = send_to_labelling(data, [(str(data / "cat" / "a.png"), "cat", 0.4),
                                    (str(data / "cat" / "linked.png"), "dog", 0.3),
                                    (str(data / "cat" / "b.png"), "cat", 0.2),
                                    (str(other / "x.png"), "dog", 0.35)])
    assert sorted(sent.in_dataset) == [str(data / "cat" / "a.png"), str(data / "cat" / "linked.png")]
    assert sent.outside == [str(other / "x.png")] and sent.unchanged == [str(data / "cat" / "b.png")]
    by_rel = ChangeSet.load(data).by_rel()
    assert by_rel["cat/a.png"]["action"] == "to_label" and by_rel["cat/a.png"]["probability"] == 0.4
    assert by_rel["cat/b.png"]["action"] == "relabel"                      # a decision made stays
    assert [r["path"] for r in read_list(data)] == [str(other.resolve() / "x.png")]
    assert data not in list_path(data).parents and not (data / ".workbench").exists()
    again = send_to_labelling(data, [(str(other / "x.png"), "dog", 0.35)])
    assert again.unchanged and len(read_list(data)) == 1 and "already" in again.summary()
    assert sorted(p.name for p in (data / "cat").iterdir()) == ["a.png", "b.png", "linked.png"]


def test_no_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no dataset"):
        send_to_labelling("", [(str(tmp_path / "x.png"), "a", 0.1)])

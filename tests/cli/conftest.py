"""Shared by the CLI tests: a command that trains sets torch's thread count (train.threads); restore it."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _keep_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)

"""Outputs of fixed-seed tiny models, per family and method, and training losses, equal to recorded golden slices.

Recorded (``python -m tests.golden.slices --write``) before the family refactor: every sample, extend and
interpolate method of each family, every sampler, guidance, and each stage's training objective.
"""

from __future__ import annotations

import json

import pytest

from tests.golden.slices import CASES, PATH, compute

GOLDEN = json.loads(PATH.read_text())


def test_every_case_is_recorded():
    assert sorted(GOLDEN) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_slice(name: str):
    got, want = compute(name), GOLDEN[name]
    if "shape" in want:
        assert got == want
    else:
        assert got.keys() == want.keys()
        for role in want:
            assert got[role] == pytest.approx(want[role], rel=1e-5, abs=1e-6), role

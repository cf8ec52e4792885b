"""Parity: every spec (every variant) in specs/ built with Keras agrees row by row with `check`.

For each row, Keras's output shape, trainable and non-trainable counts (``keras_rows`` of the
model ``build_model`` makes) equal what cnnspec's pure-Python checker computes."""
from __future__ import annotations

from pathlib import Path

import pytest

from cnnspec.check.infer import check
from cnnspec.spec.loader import load_specs

SPEC_DIR = Path(__file__).resolve().parent.parent / "specs"
SPECS = [s for f in sorted(SPEC_DIR.glob("*.yaml")) for s in load_specs(f)]


def test_specs_found():
    assert len(SPECS) >= 9


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("spec", SPECS, ids=[s.label for s in SPECS])
def test_keras_matches_check(spec):
    import keras

    from cnnspec.keras.build import build_model, keras_rows

    keras.backend.clear_session()
    report = check(spec)
    model = build_model(spec)
    built = {r["name"]: r for r in keras_rows(model)}
    assert sorted(built) == sorted(r.row.name for r in report.rows)
    for res in report.rows:
        k = built[res.row.name]
        assert k["type"] == type(res.row.layer).keras_class, res.row.name
        assert tuple(k["output_shape"]) == res.output, f"{res.row.name}: output"
        assert (k["trainable"], k["non_trainable"]) == (res.count.trainable, res.count.non_trainable), \
            f"{res.row.name}: {res.count.formula}"
    assert model.count_params() == report.total

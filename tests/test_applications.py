"""Pretrained bases (keras.applications) as spec rows.

- Without TensorFlow: for every base and every head (include_top true, false, pooling avg / max),
  `check` gives the output shape and the total / trainable / non-trainable counts Keras gave when the
  architecture data was generated (scripts/gen_applications.py).
- With Keras: a representative base of each family is rebuilt here and compared row by row
  (CNNSPEC_ALL_BASES=1 rebuilds every base: minutes); specs with bases build to the same counts,
  frozen and fine-tuned; a local weights file saved by Keras loads; offline `weights: imagenet` fails
  with one line naming the file.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnnspec.check.infer import check
from cnnspec.layers.applications import BASES, DATA, architecture
from cnnspec.spec.loader import load_spec

ROOT = Path(__file__).resolve().parent.parent
HAVE = [n for n in BASES if (DATA / f"{n}.json.gz").exists()]
FAMILY = ["VGG16", "ResNet50", "ResNet50V2", "InceptionV3", "Xception", "MobileNet", "MobileNetV2",
          "MobileNetV3Small", "DenseNet121", "EfficientNetB0", "EfficientNetV2B0", "ConvNeXtTiny", "NASNetMobile",
          "InceptionResNetV2"]
REBUILD = HAVE if os.environ.get("CNNSPEC_ALL_BASES") else [n for n in FAMILY if n in HAVE]


def test_every_listed_base_has_data():
    assert sorted(HAVE) == sorted(BASES), f"missing: {sorted(set(BASES) - set(HAVE))}"


def _spec(tmp_path, name: str, input_shape, **options):
    p = tmp_path / f"{name}.yaml"
    p.write_text(json.dumps({"input": list(input_shape), "layers": [{"type": name, "name": "base", **options}]}))
    return load_spec(p)


@pytest.mark.parametrize("name", HAVE)
def test_check_counts_equal_keras_for_every_head(name, tmp_path):
    """Pure Python: every head's counts equal those Keras reported (include_top true and false)."""
    arch = architecture(name)
    for head, keras_facts in arch["keras"].items():
        opts = {"include_top": head == "top", "weights": None}
        if head in ("avg", "max"):
            opts["pooling"] = head
        rep = check(_spec(tmp_path, name, keras_facts["input"], **opts))
        assert list(rep.rows[-1].output) == keras_facts["output"], head
        assert (rep.trainable, rep.non_trainable) == (keras_facts["trainable"], keras_facts["non_trainable"]), head


def test_check_imports_no_tensorflow_and_reads_bases_lazily():
    code = ("import sys; from cnnspec.check.infer import check; from cnnspec.spec.loader import load_specs; "
            "import cnnspec.layers.applications as a; assert a.architecture.cache_info().currsize == 0; "
            "[check(s) for s in load_specs('specs/seed002_transfer.yaml')]; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules; "
            "assert a.architecture.cache_info().currsize == 2")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", REBUILD)
def test_rows_equal_keras(name):
    """Every row inside the base (include_top false): name, output shape and counts equal Keras's."""
    import keras
    import numpy as np

    from cnnspec.layers import BY_TYPE

    arch = architecture(name)
    size = max(arch["min_size"], 75 if name.startswith("Inception") else 32)
    size = 224 if name.startswith("NASNet") else size
    keras.backend.clear_session()
    model = getattr(keras.applications, name)(weights=None, include_top=False, input_shape=(size, size, 3))
    layer = BY_TYPE[name].model_validate({"type": name, "include_top": False, "weights": None})
    inner = layer.expand((size, size, 3))
    ours = {r.name: (tuple(r.output), r.count.total) for r in inner}
    for k in model.layers:
        if isinstance(k, keras.layers.InputLayer):
            continue
        sub = k.layers if isinstance(k, keras.Sequential) else [k]
        for s in sub:
            n = int(sum(np.prod(w.shape) for w in s.weights))
            assert s.name in ours, s.name
            assert ours[s.name] == (tuple(int(d) for d in s.output.shape[1:]), n), s.name
    assert sum(r.count.total for r in inner) == model.count_params()


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("options", [{"trainable": False}, {"fine_tune_from": "conv_1"}, {}],
                         ids=["frozen", "fine_tune_from", "trainable"])
def test_spec_with_a_base_builds_to_the_checked_counts(options, tmp_path):
    import keras

    from cnnspec.keras.build import build_model, keras_rows

    p = tmp_path / "t.yaml"
    p.write_text(json.dumps({"input": [64, 64, 3], "layers": [
        {"type": "MobileNetV3Small", "include_top": False, "weights": None, "pooling": "avg", **options},
        {"type": "Dense", "units": 10, "activation": "softmax"}]}))
    spec = load_spec(p)
    rep = check(spec)
    keras.backend.clear_session()
    rows = keras_rows(build_model(spec))
    assert [(r["trainable"], r["non_trainable"]) for r in rows] == \
        [(r.count.trainable, r.count.non_trainable) for r in rep.rows]
    assert [tuple(r["output_shape"]) for r in rows] == [r.output for r in rep.rows]
    if options.get("trainable") is False:
        assert rep.rows[0].count.trainable == 0
    if "fine_tune_from" in options:
        assert 0 < rep.rows[0].count.trainable < rep.rows[0].count.total - rep.rows[0].count.non_trainable + 1


def test_bad_base_options_are_one_line_errors(tmp_path, run_cli):
    cases = [({"include_top": False, "weights": None, "fine_tune_from": "no_such_layer"}, [32, 32, 3],
              "fine_tune_from"),
             ({"include_top": False, "weights": None, "type": "InceptionV3"}, [64, 64, 3], "at least 75x75"),
             ({"include_top": False, "weights": None, "type": "Xception"}, [64, 64, 3], "at least 71x71"),
             ({"include_top": False, "weights": None}, [16, 16, 3], "at least 32x32"),
             ({"include_top": False, "weights": "imagenet"}, [32, 32, 1], "3 channels"),
             ({"include_top": True, "weights": "imagenet"}, [32, 32, 3], "224"),
             ({"include_top": False, "alpha": 0.5}, [32, 32, 3], "unknown option 'alpha'")]
    for opts, shape, text in cases:
        p = tmp_path / "b.yaml"
        p.write_text(json.dumps({"input": shape, "layers": [{"type": "VGG16", **opts}]}))  # opts may set type
        code, _, err = run_cli("check", p)
        assert code == 2 and text in err and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1


def test_summary_expand_prints_the_inside(run_cli):
    code, out, _ = run_cli("summary", "specs/seed002_transfer.yaml#vgg19", "--expand")
    assert code == 0 and "block5_conv4 (Conv2D)" in out and "(None, 2, 2, 512)" in out
    code, out, _ = run_cli("summary", "specs/seed002_transfer.yaml#vgg19")
    assert "block5_conv4" not in out


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "cnnspec", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


@pytest.mark.slow
def test_offline_imagenet_is_one_line_naming_the_file(tmp_path):
    """No network (a dead proxy): one line naming the file Keras wanted and the local-file option."""
    spec = tmp_path / "t.yaml"
    spec.write_text(json.dumps({"input": [32, 32, 3], "layers": [
        {"type": "MobileNetV3Small", "include_top": False, "weights": "imagenet", "pooling": "avg"},
        {"type": "Dense", "units": 2}]}))
    dead = "http://127.0.0.1:9"
    r = _cli("build", spec, "-o", tmp_path / "m.keras",
             env={"KERAS_HOME": str(tmp_path / "kh"), "https_proxy": dead, "http_proxy": dead,
                  "HTTPS_PROXY": dead, "HTTP_PROXY": dead})
    assert r.returncode == 2, r.stderr
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5" in err[0]
    assert "weights: path/to/" in err[0] and "Traceback" not in r.stderr
    assert not (tmp_path / "m.keras").exists()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_local_weights_file_saved_by_keras_loads(tmp_path):
    """`weights: FILE` (saved by Keras itself) gives the base those weights."""
    import keras
    import numpy as np

    from cnnspec.keras.build import build_model

    src = keras.applications.MobileNetV3Small(include_top=False, weights=None, input_shape=(32, 32, 3))
    wfile = tmp_path / "mnv3.weights.h5"
    src.save_weights(wfile)
    p = tmp_path / "t.yaml"
    p.write_text(json.dumps({"input": [32, 32, 3], "layers": [
        {"type": "MobileNetV3Small", "name": "base", "include_top": False, "weights": str(wfile)},
        {"type": "GlobalAveragePooling2D"}]}))
    model = build_model(load_spec(p))
    base = model.get_layer("base")
    for a, b in zip(src.weights, base.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


FT_SPEC = """name: two_phase
input: [28, 28, 1]
layers:
  - {type: Resizing, height: 32, width: 32}
  - {type: Conv2D, filters: 3, kernel_size: 1}
  - {type: MobileNetV3Small, name: base, include_top: false, weights: null, pooling: avg, trainable: false}
  - {type: Dense, units: 10, activation: softmax}
train:
  epochs: 1
  batch_size: 32
  fine_tune: {from: conv_1, epochs: 1, learning_rate: 1.0e-5}
"""


def test_fine_tune_is_checked(tmp_path, run_cli):
    p = tmp_path / "f.yaml"
    p.write_text(FT_SPEC.replace("from: conv_1", "from: conv_99"))
    code, _, err = run_cli("check", p)
    assert code == 2 and "train.fine_tune.from" in err and "conv_99" in err and ":11:" in err
    p.write_text(FT_SPEC.replace(", trainable: false", ""))
    code, _, err = run_cli("check", p)
    assert code == 2 and "trainable: false" in err


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_two_phase_fine_tuning_records_phases(tmp_path):
    """Phase 1 trains the head on the frozen base, phase 2 unfreezes it from `from` at the lower rate."""
    import csv

    import keras
    import numpy as np

    from cnnspec.keras.training import train

    p = tmp_path / "f.yaml"
    p.write_text(FT_SPEC)
    train(str(p), data="sample", out=str(tmp_path / "r"), limit=200)
    rows = list(csv.DictReader(open(tmp_path / "r" / "history.csv")))
    assert [(r["epoch"], r["phase"]) for r in rows] == [("1", "1"), ("2", "2")]
    assert float(rows[1]["lr"]) == pytest.approx(1e-5)
    base = keras.models.load_model(tmp_path / "r" / "last.keras").get_layer("base")
    names = [layer.name for layer in base.layers]
    frozen = [layer.trainable for layer in base.layers[:names.index("conv_1")] if layer.weights]
    assert frozen and not any(frozen) and base.get_layer("conv_1").trainable
    assert int(sum(np.prod(w.shape) for w in base.trainable_weights)) > 0

"""`cnnspec import` of keras.applications bases: R and Python code (generated and hand-written),
printed summaries (Keras 3 boxes, Keras 2 plain text, expand_nested), saved models; one-line errors.
Most tests use the TF-free base data; the few that build a base with real Keras keep it small."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cnnspec.check.infer import check
from cnnspec.interop.codegen import generate
from cnnspec.interop.importer import import_file, import_text
from cnnspec.spec.loader import load_spec

ROUND_TRIPS = {
    "vgg16_avg_fine_tune": ([32, 32, 3], {"type": "VGG16", "include_top": False, "weights": None, "pooling": "avg",
                                          "fine_tune_from": "block5_conv1"}, "Dense"),
    "mobilenetv2_frozen_raw": ([48, 48, 3], {"type": "MobileNetV2", "name": "base", "include_top": False,
                                             "trainable": False, "preprocess": False}, "GlobalMaxPooling2D"),
    "resnet50_top_10": ([32, 32, 3], {"type": "ResNet50", "include_top": True, "weights": None, "classes": 10},
                        None),
    "efficientnetb0_max": ([64, 64, 3], {"type": "EfficientNetB0", "include_top": False, "pooling": "max"},
                           "Dense"),
    "densenet121_frozen": ([32, 32, 3], {"type": "DenseNet121", "include_top": False, "trainable": False},
                           "Flatten"),
    "inceptionv3_fine_tune": ([75, 75, 3], {"type": "InceptionV3", "include_top": False, "pooling": "avg",
                                            "fine_tune_from": "mixed9"}, "Dense"),
    "xception_r_name": ([71, 71, 3], {"type": "application_xception", "include_top": False, "pooling": "avg"},
                        "Dense"),
}


def _spec_text(shape, base: dict, head: str | None) -> str:
    rows = [base] + ([{"type": head, **({"units": 5} if head == "Dense" else {})}] if head else [])
    if head and head != "Dense":
        rows.append({"type": "Dense", "units": 5})
    import json

    return json.dumps({"name": "t", "input": shape, "layers": rows})


def _rows(spec):
    return [(r.layer.keras_class, r.name, r.inputs, r.layer.options(), r.layer.trainable) for r in spec.rows]


@pytest.mark.parametrize("lang", ["r", "python"])
@pytest.mark.parametrize("case", sorted(ROUND_TRIPS))
def test_generated_code_round_trips(case, lang):
    shape, base, head = ROUND_TRIPS[case]
    spec = load_spec("t.json", text=_spec_text(shape, base, head))
    code = generate(spec, lang)
    back = load_spec("back.yaml", text=import_text(code, "gen.R" if lang == "r" else "gen.py"))
    assert back.input_shape == spec.input_shape
    assert _rows(back) == _rows(spec)
    assert (check(back).trainable, check(back).non_trainable) == (check(spec).trainable, check(spec).non_trainable)


def _imported(text: str, file: str):
    return load_spec("imported.yaml", text=import_text(textwrap.dedent(text), file))


def test_python_sequential_with_a_frozen_base():
    spec = _imported("""
        from tensorflow.keras.applications import ResNet50
        from tensorflow.keras import layers, models
        conv_base = ResNet50(weights="imagenet", include_top=False, input_shape=(64, 64, 3))
        conv_base.trainable = False
        model = models.Sequential([conv_base, layers.GlobalAveragePooling2D(), layers.Dense(3, activation="softmax")])
        """, "m.py")
    base = spec.rows[0]
    assert spec.input_shape == (64, 64, 3) and base.layer.keras_class == "ResNet50"
    assert base.layer.trainable is False and base.layer.preprocess is False  # fed raw by the Sequential
    assert check(spec).trainable == 2048 * 3 + 3


def test_python_model_add_and_module_path():
    spec = _imported("""
        import keras
        base = keras.applications.vgg19.VGG19(False, None, input_shape=(32, 32, 3), pooling="max")
        model = keras.Sequential()
        model.add(base)
        model.add(keras.layers.Dense(10))
        """, "m.py")
    assert spec.rows[0].layer.options() == {"include_top": False, "weights": None, "pooling": "max",
                                            "preprocess": False}


def test_python_base_output_and_the_set_trainable_loop():
    """Chollet's fine-tuning pattern: Model(base.input, head(base.output)), a flag set at block5_conv1."""
    spec = _imported("""
        from keras.applications import VGG16
        from keras import layers, Model
        conv_base = VGG16(weights=None, include_top=False, input_shape=(64, 64, 3))
        x = layers.Flatten()(conv_base.output)
        out = layers.Dense(1, activation="sigmoid")(x)
        model = Model(conv_base.input, out)
        conv_base.trainable = True
        set_trainable = False
        for layer in conv_base.layers:
            if layer.name == "block5_conv1":
                set_trainable = True
            layer.trainable = set_trainable
        """, "m.py")
    assert spec.rows[0].layer.fine_tune_from == "block5_conv1" and spec.rows[0].layer.trainable


def test_python_slice_of_layers_and_preprocess_input():
    spec = _imported("""
        import tensorflow as tf
        inputs = tf.keras.Input(shape=(96, 96, 3))
        x = tf.keras.applications.mobilenet_v2.preprocess_input(inputs)
        base = tf.keras.applications.MobileNetV2(input_shape=(96, 96, 3), include_top=False, weights="imagenet")
        fine_tune_at = 100
        for layer in base.layers[:fine_tune_at]:
            layer.trainable = False
        x = base(x, training=False)
        x = tf.keras.layers.GlobalAveragePooling2D()(x)
        model = tf.keras.Model(inputs, tf.keras.layers.Dense(1)(x))
        """, "m.py")
    from cnnspec.interop.import_bases import BaseObject
    from cnnspec.layers.applications import application_class

    names = BaseObject(application_class("MobileNetV2"), {"include_top": (False, 0)}, 0, "b").layer_names()
    layer = spec.rows[0].layer
    assert layer.fine_tune_from == names[100] and layer.preprocess  # preprocess_input of its own module


def test_layer_names_are_keras_base_layers():
    """``base.layers[i]`` indexes the same layer as in Keras (the input layer first, operations left out)."""
    keras = pytest.importorskip("keras")
    from cnnspec.interop.import_bases import BaseObject
    from cnnspec.layers.applications import application_class

    for name, kw in (("MobileNetV2", {"pooling": "avg"}), ("VGG16", {"include_top": True, "classes": 7})):
        keras.backend.clear_session()  # Keras's default names count per session: other tests built layers too
        model = getattr(keras.applications, name)(weights=None, input_shape=(32, 32, 3),
                                                  **{"include_top": False, **kw})
        args = {k: (v, 0) for k, v in {"include_top": False, **kw}.items()}
        ours = BaseObject(application_class(name), args, 0, name).layer_names()
        assert ours[1:] == [layer.name for layer in model.layers][1:] and len(ours) == len(model.layers)


def test_r_hand_written_freeze_and_unfreeze():
    code = """
        library(keras)
        conv_base <- application_vgg16(weights = "imagenet", include_top = FALSE, input_shape = c(150, 150, 3))
        freeze_weights(conv_base)
        model <- keras_model_sequential() %>%
          conv_base %>%
          layer_flatten() %>%
          layer_dense(units = 256, activation = "relu") %>%
          layer_dense(units = 1, activation = "sigmoid")
        """
    frozen = _imported(code, "m.R")
    assert frozen.input_shape == (150, 150, 3) and not frozen.rows[0].layer.trainable
    tuned = _imported(code + '\nunfreeze_weights(conv_base, from = "block5_conv1")\n', "m.R")
    assert tuned.rows[0].layer.trainable and tuned.rows[0].layer.fine_tune_from == "block5_conv1"
    looped = _imported(code.replace("freeze_weights(conv_base)", "conv_base$trainable <- TRUE\n"
                                    "for (layer in conv_base$layers[1:15]) layer$trainable <- FALSE"), "m.R")
    assert looped.rows[0].layer.fine_tune_from == "block5_conv1"


def test_r_functional_with_preprocessing_and_base_output():
    spec = _imported("""
        library(keras3)
        inputs <- keras_input(shape = c(64, 64, 3))
        base <- application_resnet50(include_top = FALSE, weights = NULL, input_shape = c(64, 64, 3))
        base$trainable <- FALSE
        x <- inputs |> imagenet_preprocess_input()
        outputs <- base(x, training = FALSE) |> layer_global_average_pooling_2d() |> layer_dense(10)
        model <- keras_model(inputs, outputs)
        """, "m.R")
    assert spec.rows[0].layer.preprocess and not spec.rows[0].layer.trainable
    top = _imported("""
        base <- application_mobilenet_v2(include_top = FALSE, weights = NULL, input_shape = c(32, 32, 3))
        out <- base$output |> layer_global_average_pooling_2d() |> layer_dense(units = 2)
        model <- keras_model(inputs = base$input, outputs = out)
        """, "m.R")
    assert top.rows[0].layer.keras_class == "MobileNetV2" and top.input_shape == (32, 32, 3)


@pytest.mark.parametrize("text,file,words", [
    ("import keras\nb = keras.applications.VGG13(weights=None)\n", "m.py", "unknown keras.applications base 'VGG13'"),
    ("b <- application_vgg13(weights = NULL)\n", "m.R", "unknown keras.applications base 'application_vgg13'"),
    ("import keras\ni = keras.Input((32, 32, 3))\nb = keras.applications.VGG16(include_top=False, weights=None)\n"
     "for l in b.layers[:10]:\n    l.trainable = False\n"
     "b.get_layer('block2_conv1').trainable = True\nm = keras.Model(i, b(i))\n", "m.py",
     "after 'block2_conv1', which stays trainable"),
    ("import keras\ni = keras.Input((32, 32, 3))\nb = keras.applications.VGG16(include_top=False, weights=None)\n"
     "m = keras.Model(i, b(keras.applications.mobilenet_v2.preprocess_input(i)))\n", "m.py", "'tf'-style"),
    ("import sys, keras\nb = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))\n"
     "n = int(sys.argv[1])\nfor l in b.layers[:n]:\n    l.trainable = False\n"
     "m = keras.Sequential([b, keras.layers.Flatten()])\n", "m.py", "sliced with a bound not known"),
    ("b <- application_vgg16(include_top = FALSE, input_shape = c(32, 32, 3))\nn <- as.integer(readline())\n"
     "for (l in b$layers[1:n]) l$trainable <- FALSE\nm <- keras_model_sequential() %>% b\n", "m.R",
     "indexed with values not known"),
])
def test_hostile_code_is_one_line_exit_2(text, file, words, tmp_path, run_cli):
    p = tmp_path / file
    p.write_text(text)
    code, _, err = run_cli("import", p)
    assert code == 2 and words in err and err.count("\n") == 1, err


# -------------------------------------------------------------------------------------------- summaries
KERAS2 = """\
Model: "sequential"
_________________________________________________________________
 Layer (type)                Output Shape              Param #
=================================================================
 vgg19 (Functional)          (None, 7, 7, 512)         20024384

 flatten (Flatten)           (None, 25088)             0

 dense (Dense)               (None, 10)                250890

=================================================================
Total params: 20,275,274
Trainable params: 250,890
Non-trainable params: 20,024,384
_________________________________________________________________
"""


def test_keras2_plain_summary_with_a_frozen_base():
    spec = load_spec("s.yaml", text=import_text(KERAS2, "summary.txt"))
    rep = check(spec)
    assert rep.ok and spec.input_shape == (224, 224, 3)
    assert spec.rows[0].layer.keras_class == "VGG19" and not spec.rows[0].layer.trainable
    assert (rep.total, rep.trainable, rep.non_trainable) == (20275274, 250890, 20024384)


@pytest.mark.parametrize("text,words", [
    (KERAS2.replace("vgg19 (Functional)", "encoder (Functional)").replace("20024384", "123456"),
     "nested model cnnspec does not know"),
    (KERAS2.replace("20024384\n", "20024385\n"), "'vgg19' (VGG19) does not give output (None, 7, 7, 512) with 20,024,385"),
    (KERAS2.replace("(None, 7, 7, 512) ", "(None, 7, 7, 500) "), "does not give output"),
])
def test_hostile_summaries_are_one_line_exit_2(text, words, tmp_path, run_cli):
    p = tmp_path / "summary.txt"
    p.write_text(text)
    code, _, err = run_cli("import", p)
    assert code == 2 and words in err and "summary.txt:5" in err and err.count("\n") == 1, err


@pytest.fixture(scope="module")
def keras_models():
    """Two small models with bases, built once: a frozen VGG16 in a Sequential (32x32) and a fine-tuned
    MobileNetV2 with its preprocess_input in a functional model (32x32, pooling max)."""
    keras = pytest.importorskip("keras")
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    vgg.trainable = False
    seq = keras.Sequential([keras.Input((32, 32, 3)), vgg, keras.layers.Flatten(), keras.layers.Dense(10)])
    mnv2 = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3), pooling="max")
    for layer in mnv2.layers[:120]:
        layer.trainable = False
    inputs = keras.Input((32, 32, 3))
    x = mnv2(keras.applications.mobilenet_v2.preprocess_input(inputs), training=False)
    fun = keras.Model(inputs, keras.layers.Dense(4)(x))
    inner = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4), keras.layers.Dense(3)], name="head")
    other = keras.Sequential([keras.Input((16,)), keras.layers.Dense(8), inner, keras.layers.Dense(2)])
    return {"vgg": seq, "mnv2": fun, "other": other}


def _summary(model, **kw) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda s, line_break=True: lines.append(s), **kw)
    return "\n".join(lines) + "\n"


def _counts(model):
    import numpy as np

    tr = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    return model.count_params(), tr, model.count_params() - tr


@pytest.mark.parametrize("key", ["vgg", "mnv2"])
@pytest.mark.parametrize("expand", [False, True])
def test_real_keras_summaries_import_with_equal_counts(keras_models, key, expand):
    model = keras_models[key]
    spec = load_spec("s.yaml", text=import_text(_summary(model, expand_nested=expand), "summary.txt"))
    rep = check(spec)
    assert rep.ok, [m.message("x") for m in rep.mismatches]
    assert (rep.total, rep.trainable, rep.non_trainable) == _counts(model)
    assert spec.rows[0].layer.keras_class == ("VGG16" if key == "vgg" else "MobileNetV2")
    assert len(spec.rows) == (3 if key == "vgg" else 2)  # the traced preprocess_input folded into the base


def test_unknown_nested_model_needs_expand_nested(keras_models, tmp_path, run_cli):
    p = tmp_path / "summary.txt"
    p.write_text(_summary(keras_models["other"]))
    code, _, err = run_cli("import", p)
    assert code == 2 and "expand_nested=True" in err and err.count("\n") == 1, err
    spec = load_spec("s.yaml", text=import_text(_summary(keras_models["other"], expand_nested=True), "s.txt"))
    assert [r.layer.keras_class for r in spec.rows] == ["Dense"] * 4 and check(spec).total == 195


# -------------------------------------------------------------------------------------------- saved models
@pytest.mark.parametrize("key", ["vgg", "mnv2", "other"])
def test_saved_models_with_bases(keras_models, key, tmp_path, run_cli):
    model = keras_models[key]
    path = tmp_path / "m.keras"
    model.save(path)
    code, out, err = run_cli("import", path, "-o", tmp_path / "m.yaml")
    assert code == 0, err
    spec = load_spec(tmp_path / "m.yaml")
    rep = check(spec)
    assert (rep.total, rep.trainable, rep.non_trainable) == _counts(model)
    if key == "other":
        assert [r.layer.keras_class for r in spec.rows] == ["Dense"] * 4  # an unknown nested model, in place
    else:
        assert len(spec.rows) == (3 if key == "vgg" else 2)
        assert spec.rows[0].layer.preprocess is (key == "mnv2")  # the traced preprocess_input folded


def test_saved_base_with_other_options_is_read_in_place(tmp_path):
    """MobileNetV2 with alpha 0.35 has the base's names but not its filters: its layers become rows."""
    keras = pytest.importorskip("keras")
    base = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3), alpha=0.35)
    model = keras.Sequential([keras.Input((32, 32, 3)), base, keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(3)])
    path = tmp_path / "m.keras"
    model.save(path)
    spec = load_spec("s.yaml", text=import_file(str(path)))
    assert check(spec).total == model.count_params() and len(spec.rows) > 100


def test_docs_example_runs(tmp_path, run_cli):
    """docs/code.md's example: a Keras 2 summary with a frozen VGG19 imports, and the spec checks."""
    root = Path(__file__).resolve().parents[1]
    fixture = root / "tests" / "fixtures" / "summaries" / "keras2_vgg19_frozen_base.txt"
    assert fixture.read_text().split("\n", 1)[1] == KERAS2
    code, out, err = run_cli("import", fixture, "-o", tmp_path / "b.yaml")
    assert code == 0, err
    code, out, err = run_cli("check", tmp_path / "b.yaml", "-q")
    assert code == 0, out + err
    assert "type: VGG19" in (tmp_path / "b.yaml").read_text()


def test_docs_nested_head_fixtures(tmp_path, run_cli):
    """docs/code.md: an unknown nested model is one line (exit 2); printed with expand_nested it imports."""
    fixtures = Path(__file__).resolve().parent / "fixtures" / "summaries"
    code, _, err = run_cli("import", fixtures / "keras3_nested_head.txt")
    assert code == 2 and "keras3_nested_head.txt:8:" in err and "expand_nested=True" in err and err.count("\n") == 1
    code, _, err = run_cli("import", fixtures / "keras3_nested_head_expanded.txt", "-o", tmp_path / "h.yaml")
    assert code == 0, err
    code, out, err = run_cli("check", tmp_path / "h.yaml", "-q")
    assert code == 0 and "every printed value agrees" in out + err


KERAS2_NESTED = """\
Model: "sequential"
_________________________________________________________________
 Layer (type)                Output Shape              Param #
=================================================================
 dense_4 (Dense)             (None, 8)                 136

 head (Sequential)           (None, 3)                 51
|¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯|
| dense_2 (Dense)           (None, 4)                 36        |
|                                                               |
| dense_3 (Dense)           (None, 3)                 15        |
¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯¯
 dense_5 (Dense)             (None, 2)                 8

=================================================================
Total params: 195
Trainable params: 195
Non-trainable params: 0
_________________________________________________________________
"""


def test_keras2_expand_nested_rows_import_in_place():
    """tf.keras 2's expand_nested layout (rows between '|' bars) of an unknown nested model."""
    spec = load_spec("s.yaml", text=import_text(KERAS2_NESTED, "summary.txt"))
    assert [r.name for r in spec.rows] == ["dense_4", "dense_2", "dense_3", "dense_5"] and check(spec).total == 195


def test_every_base_is_found_by_the_name_keras_gives_it():
    import re

    from cnnspec.interop.summary_bases import by_name
    from cnnspec.layers.applications import BASES, architecture

    for base in BASES:
        printed = re.sub(r"\\d\+", "224", architecture(base)["keras_name"]).replace("\\", "")
        assert by_name(printed) == [base] and by_name(printed + "_1") == [base], base
    assert by_name("MobilenetV3small") == ["MobileNetV3Small"]  # tf.keras 2's spelling
    assert by_name("NASNet") == ["NASNetMobile", "NASNetLarge"]  # Keras 2: one name, told apart by the count


def test_two_phase_fine_tuning_scripts_give_fine_tune():
    """Published two-phase scripts: fit with the base frozen, unfreeze from a layer, compile at a lower
    rate, fit again -> the base row frozen, the first fit's settings, ``fine_tune: {from, epochs, lr}``."""
    data = Path(__file__).resolve().parent / "data"
    from cnnspec.spec.trainconfig import for_spec

    py = load_spec("p.yaml", text=import_file(str(data / "tf_transfer_learning_tutorial.py")))
    base = next(r for r in py.rows if r.layer.keras_class == "MobileNetV2")
    assert not base.layer.trainable and [r.type for r in py.rows[:2]] == ["RandomFlip", "RandomRotation"]
    cfg = for_spec(py)  # fine_tune checked against the spec: a frozen base with that layer
    ft = cfg.fine_tune
    assert (ft.epochs, ft.learning_rate, cfg.epochs, cfg.optimizer.learning_rate) == (10, 1e-5, 10, 1e-4)
    from cnnspec.interop.import_bases import BaseObject
    from cnnspec.layers.applications import application_class

    assert ft.from_layer == BaseObject(application_class("MobileNetV2"), {"include_top": (False, 0)}, 0,
                                       "b").layer_names()[100]  # base_model.layers[:100] frozen
    r = load_spec("r.yaml", text=import_file(str(data / "r_chollet_fine_tuning.R")))
    rcfg = for_spec(r)
    assert not r.rows[0].layer.trainable and rcfg.epochs == 30
    assert (rcfg.fine_tune.from_layer, rcfg.fine_tune.epochs, rcfg.fine_tune.learning_rate) == \
        ("block3_conv1", 100, 1e-5)


FINE_TUNE = """
name: ft
input: [32, 32, 3]
layers:
  - {type: VGG16, include_top: false, weights: null, trainable: false}
  - {type: Flatten}
  - {type: Dense, units: 10, activation: softmax}
train:
  dataset: cifar10
  epochs: 3
  optimizer: {name: adam, learning_rate: 0.001}
  fine_tune: {from: block5_conv1, epochs: 2, learning_rate: 1.0e-5}
"""


@pytest.mark.parametrize("lang", ["r", "python"])
def test_fine_tune_round_trips_through_code(lang):
    """`cnnspec code` writes phase 2 (get_layer, unfreeze from the layer, compile at the lower rate, fit on
    with initial_epoch); import reads it back as the same rows and train section."""
    from cnnspec.spec.trainconfig import for_spec

    spec = load_spec("ft.yaml", text=FINE_TUNE)
    code = generate(spec, lang)
    assert ("unfreeze_weights(base, from = \"block5_conv1\")" if lang == "r" else "initial_epoch=3") in code
    back = load_spec("back.yaml", text=import_text(code, "gen.R" if lang == "r" else "gen.py"))
    assert _rows(back) == _rows(spec)
    assert for_spec(back).fine_tune == for_spec(spec).fine_tune and for_spec(back).epochs == 3


def test_generated_fine_tune_code_trains_in_keras():
    """The generated Python runs: phase 2 continues at epoch 3 with block5 and the head trainable."""
    pytest.importorskip("keras")
    import numpy as np

    from cnnspec.check.infer import check as run_check

    spec = load_spec("ft.yaml", text=FINE_TUNE.replace("epochs: 3", "epochs: 1").replace("epochs: 2", "epochs: 1"))
    code = generate(spec, "python").split('if __name__ == "__main__":')[0].replace("model.summary()", "")
    ns: dict = {}
    exec(compile(code, "<generated>", "exec"), ns)
    rng = np.random.default_rng(0)
    history = ns["train_model"](rng.random((4, 32, 32, 3), dtype="float32") * 255, rng.integers(0, 10, 4))
    trainable = sum(int(np.prod(w.shape)) for w in ns["model"].trainable_weights)
    tuned = load_spec("t.yaml", text=FINE_TUNE.split("train:")[0].replace("trainable: false",
                                                                          "fine_tune_from: block5_conv1"))
    assert history.epoch == [1] and trainable == run_check(tuned).trainable


def test_expanded_nested_model_in_a_graph_takes_its_branch():
    """A nested Sequential on one branch of a functional model (expand_nested): its rows take what it
    takes, and later rows naming it take its last row."""
    fixture = Path(__file__).resolve().parent / "fixtures" / "summaries" / "keras3_nested_head_in_graph.txt"
    spec = load_spec("s.yaml", text=import_file(str(fixture)))
    by = {r.name: r.inputs for r in spec.rows}
    assert by["dense"] == ["dense_2"] and by["concatenate"] == ["dense_1", "dense_3"]
    assert check(spec).ok and check(spec).total == 323


def test_cnnspec_summary_expand_imports_back_as_one_base_row(run_cli, tmp_path):
    """`cnnspec summary --expand` prints a base's rows indented under it: they stay inside the base."""
    root = Path(__file__).resolve().parents[1]
    code, out, err = run_cli("summary", f"{root / 'specs' / 'seed002_transfer.yaml'}#resnet50", "--expand")
    assert code == 0, err
    spec = load_spec("s.yaml", text=import_text(out, "summary.txt"))
    assert [r.layer.keras_class for r in spec.rows][:2] == ["ResNet50", "Flatten"] and check(spec).ok

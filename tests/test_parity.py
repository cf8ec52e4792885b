"""Parity with real Keras.

1. Every layer type over a table of option sets: cnnspec's declared weights (name, shape,
   trainable) and output shape equal those of the Keras layer built directly from the same options
   (independently of cnnspec's builder), so a count can only be wrong if a weight's shape is.
2. Every option a layer class documents is a parameter of the Keras constructor, with Keras's default,
   and a layer built with every documented option set goes through Keras.
3. Every spec (every variant) in specs/ built with Keras agrees row by row with `check`.
"""
from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from cnnspec.check.infer import check
from cnnspec.layers import BY_TYPE, LAYER_CLASSES
from cnnspec.spec.loader import load_specs

SPEC_DIR = Path(__file__).resolve().parent.parent / "specs"
#: the seed specs, and a sequence model with the recurrent, attention and wrapper families
EXTRA = [SPEC_DIR.parent / "tests" / "specs" / "attention_block.yaml"]
SPECS = [s for f in sorted(SPEC_DIR.glob("*.yaml")) + EXTRA for s in load_specs(f)]
N = None
LSTM8 = {"type": "LSTM", "units": 8}

# (type, options, input shapes without batch): one row per option set
OPTION_SETS: list[tuple[str, dict, list]] = [
    ("Conv1D", {"filters": 4, "kernel_size": 3, "groups": 2}, [(10, 6)]),
    ("Conv1D", {"filters": 4, "kernel_size": 3, "padding": "causal", "use_bias": False}, [(10, 3)]),
    ("Conv2D", {"filters": 8, "kernel_size": [3, 5], "strides": 2, "padding": "same"}, [(28, 28, 3)]),
    ("Conv2D", {"filters": 8, "kernel_size": 3, "data_format": "channels_first"}, [(3, 28, 28)]),
    ("Conv3D", {"filters": 4, "kernel_size": 3}, [(8, 10, 10, 2)]),
    ("Conv3D", {"filters": 6, "kernel_size": [1, 3, 3], "strides": [1, 2, 2], "padding": "same", "groups": 2},
     [(8, 10, 10, 4)]),
    ("Conv1DTranspose", {"filters": 4, "kernel_size": 3, "strides": 2}, [(10, 3)]),
    ("Conv2DTranspose", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same", "output_padding": 1},
     [(7, 7, 3)]),
    ("Conv3DTranspose", {"filters": 2, "kernel_size": 2, "strides": 2, "use_bias": False}, [(4, 4, 4, 3)]),
    ("SeparableConv1D", {"filters": 8, "kernel_size": 3, "depth_multiplier": 2}, [(20, 4)]),
    ("SeparableConv2D", {"filters": 8, "kernel_size": 3, "depthwise_initializer": "he_normal"}, [(16, 16, 3)]),
    ("DepthwiseConv1D", {"kernel_size": 5, "depth_multiplier": 3, "padding": "same"}, [(20, 4)]),
    ("DepthwiseConv2D", {"kernel_size": 3, "strides": 2, "use_bias": False}, [(16, 16, 5)]),
    ("MaxPooling1D", {"pool_size": 3, "strides": 1}, [(10, 3)]),
    ("MaxPool2D", {"pool_size": 2, "padding": "same"}, [(7, 7, 3)]),
    ("MaxPooling3D", {"pool_size": 2}, [(8, 8, 8, 2)]),
    ("AvgPool1D", {"pool_size": 2}, [(9, 4)]),
    ("AveragePooling2D", {"pool_size": 3, "strides": 2, "data_format": "channels_first"}, [(3, 11, 11)]),
    ("AveragePooling3D", {"pool_size": [1, 2, 2]}, [(4, 8, 8, 2)]),
    ("GlobalMaxPooling1D", {"keepdims": True}, [(10, 3)]),
    ("GlobalMaxPooling2D", {}, [(7, 7, 3)]),
    ("GlobalMaxPooling3D", {}, [(4, 4, 4, 3)]),
    ("GlobalAveragePooling1D", {"data_format": "channels_first"}, [(3, 10)]),
    ("GlobalAvgPool2D", {"keepdims": True, "data_format": "channels_first"}, [(3, 7, 7)]),
    ("GlobalAveragePooling3D", {}, [(4, 4, 4, 3)]),
    ("Dense", {"units": 5}, [(12,)]),
    ("Dense", {"units": 5, "lora_rank": 2}, [(12,)]),
    ("Dense", {"units": 3, "use_bias": False, "activation": "relu"}, [(4, 6)]),
    ("Flatten", {}, [(3, 4, 5)]),
    ("Embedding", {"input_dim": 100, "output_dim": 8}, [(12,)]),
    ("Embedding", {"input_dim": 100, "output_dim": 8, "lora_rank": 3, "input_length": 12}, [(12,)]),
    ("Rescaling", {"scale": 0.5, "offset": 1.0}, [(4, 4, 3)]),
    ("Masking", {"mask_value": -1.0}, [(10, 3)]),
    ("Permute", {"dims": [2, 1]}, [(10, 3)]),
    ("Permute", {"dims": [3, 1, 2]}, [(4, 5, 6)]),
    ("RepeatVector", {"n": 4}, [(7,)]),
    ("SimpleRNN", {"units": 6}, [(10, 3)]),
    ("SimpleRNN", {"units": 6, "return_sequences": True, "use_bias": False}, [(N, 3)]),
    ("LSTM", {"units": 8, "return_sequences": True, "go_backwards": True, "recurrent_dropout": 0.1}, [(10, 4)]),
    ("LSTM", {"units": 5}, [(N, 7)]),
    ("GRU", {"units": 8}, [(10, 4)]),
    ("GRU", {"units": 8, "reset_after": False, "return_sequences": True}, [(10, 4)]),
    ("ConvLSTM1D", {"filters": 4, "kernel_size": 3}, [(5, 10, 2)]),
    ("ConvLSTM2D", {"filters": 4, "kernel_size": 3, "padding": "same", "return_sequences": True}, [(5, 8, 8, 2)]),
    ("ConvLSTM3D", {"filters": 2, "kernel_size": 2}, [(3, 4, 4, 4, 1)]),
    ("Bidirectional", {"layer": LSTM8}, [(10, 4)]),
    ("Bidirectional", {"layer": {"type": "GRU", "units": 6, "return_sequences": True}, "merge_mode": "sum"},
     [(10, 4)]),
    ("Bidirectional", {"layer": {"type": "SimpleRNN", "units": 3}, "merge_mode": "mul"}, [(10, 4)]),
    ("Bidirectional", {"layer": LSTM8, "merge_mode": "ave"}, [(10, 4)]),
    ("TimeDistributed", {"layer": {"type": "Dense", "units": 3}}, [(10, 8)]),
    ("TimeDistributed", {"layer": {"type": "Conv2D", "filters": 4, "kernel_size": 3}}, [(5, 16, 16, 3)]),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 4}, [(10, 8), (12, 6)]),
    ("MultiHeadAttention", {"num_heads": 3, "key_dim": 4, "value_dim": 5, "output_shape": 7, "use_bias": False},
     [(10, 8), (12, 6), (12, 9)]),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 2, "attention_axes": [2]}, [(5, 6, 8), (5, 6, 8)]),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 3, "value_dim": 4, "use_gate": True}, [(5, 6), (7, 8)]),
    ("Attention", {}, [(10, 8), (12, 8)]),
    ("Attention", {"use_scale": True, "score_mode": "concat"}, [(10, 8), (12, 6), (12, 8)]),
    ("AdditiveAttention", {}, [(10, 8), (12, 8)]),
    ("AdditiveAttention", {"use_scale": False}, [(10, 8), (12, 8)]),
    ("Dropout", {"rate": 0.5, "noise_shape": [N, 1]}, [(10, 3)]),
    ("SpatialDropout1D", {"rate": 0.2}, [(10, 3)]),
    ("SpatialDropout2D", {"rate": 0.2}, [(8, 8, 3)]),
    ("SpatialDropout3D", {"rate": 0.2}, [(4, 8, 8, 3)]),
    ("GaussianNoise", {"stddev": 0.1}, [(10,)]),
    ("GaussianDropout", {"rate": 0.3}, [(10,)]),
    ("AlphaDropout", {"rate": 0.1}, [(10,)]),
    ("ActivityRegularization", {"l1": 0.01}, [(10,)]),
    ("BatchNormalization", {}, [(8, 8, 16)]),
    ("BatchNormalization", {"axis": 1, "center": False}, [(8, 8, 16)]),
    ("LayerNormalization", {"axis": [1, 2]}, [(5, 8)]),
    ("LayerNormalization", {"rms_scaling": True}, [(5, 8)]),
    ("GroupNormalization", {"groups": 4}, [(8, 8, 16)]),
    ("UnitNormalization", {}, [(5, 8)]),
    ("Normalization", {}, [(5, 8)]),
    ("Normalization", {"axis": None}, [(5, 8)]),
    ("Normalization", {"mean": 1.0, "variance": 4.0}, [(5, 8)]),
    ("Activation", {"activation": "gelu"}, [(5,)]),
    ("ReLU", {"max_value": 6.0}, [(5,)]),
    ("LeakyReLU", {"negative_slope": 0.1}, [(5,)]),
    ("LeakyReLU", {"alpha": 0.2}, [(5,)]),
    ("LSTM", {"units": 4, "implementation": 1}, [(6, 3)]),
    ("Softmax", {"axis": 1}, [(5, 3)]),
    ("ELU", {"alpha": 0.5}, [(5,)]),
    ("PReLU", {}, [(5, 8)]),
    ("PReLU", {"shared_axes": [1, 2]}, [(6, 6, 4)]),
    ("ZeroPadding1D", {"padding": [1, 2]}, [(10, 3)]),
    ("ZeroPadding2D", {"padding": [[1, 2], [3, 4]]}, [(8, 8, 3)]),
    ("ZeroPadding3D", {"padding": 1}, [(4, 4, 4, 2)]),
    ("Cropping1D", {"cropping": [1, 2]}, [(10, 3)]),
    ("Cropping2D", {"cropping": 2}, [(8, 8, 3)]),
    ("Cropping3D", {}, [(4, 5, 6, 2)]),
    ("UpSampling1D", {"size": 3}, [(10, 3)]),
    ("UpSampling2D", {"size": [2, 3], "interpolation": "bilinear"}, [(4, 4, 3)]),
    ("UpSampling3D", {"size": 2}, [(2, 3, 4, 1)]),
    ("Reshape", {"target_shape": [-1, 4]}, [(4, 4, 2)]),
    ("Resizing", {"height": 10, "width": 12}, [(20, 20, 3)]),
    ("CenterCrop", {"height": 10, "width": 12}, [(20, 20, 3)]),
    ("RandomCrop", {"height": 10, "width": 12}, [(20, 20, 3)]),
    ("RandomFlip", {"mode": "horizontal"}, [(8, 8, 3)]),
    ("RandomTranslation", {"height_factor": 0.1, "width_factor": 0.1}, [(8, 8, 3)]),
    ("RandomRotation", {"factor": 0.1}, [(8, 8, 3)]),
    ("RandomZoom", {"height_factor": 0.1}, [(8, 8, 3)]),
    ("RandomContrast", {"factor": 0.2}, [(8, 8, 3)]),
    ("RandomBrightness", {"factor": 0.2, "value_range": [0, 1]}, [(8, 8, 3)]),
    ("Add", {}, [(4, 3), (4, 3)]),
    ("Subtract", {}, [(4, 3), (4, 3)]),
    ("Multiply", {}, [(4, 3), (1, 3)]),
    ("Average", {}, [(4, 3), (4, 3), (4, 3)]),
    ("Maximum", {}, [(4, 3), (4, 3)]),
    ("Minimum", {}, [(4, 3), (4, 3)]),
    ("Concatenate", {"axis": 1}, [(4, 3), (2, 3)]),
    ("Dot", {"axes": 1}, [(5,), (5,)]),
    ("Dot", {"axes": [2, 2], "normalize": True}, [(3, 4), (5, 4)]),
]


def _keras_value(v):
    if isinstance(v, list):
        return tuple(_keras_value(x) for x in v)
    return v


def keras_layer(type_: str, options: dict):
    """The Keras layer made directly from the options (nested rows for wrappers)."""
    import keras

    opts = {}
    for k, v in options.items():
        opts[k] = keras_layer(v["type"], {a: b for a, b in v.items() if a != "type"}) if isinstance(v, dict) \
            and "type" in v else _keras_value(v)
    return getattr(keras.layers, type_)(**opts)


def keras_facts(type_: str, options: dict, inputs: list):
    """(output shape, sorted [(weight name, shape, trainable)]) of the Keras layer on these inputs."""
    import keras

    layer = keras_layer(type_, options)
    ins = [keras.Input(shape=s) for s in inputs]
    if isinstance(layer, keras.layers.MultiHeadAttention):
        out = layer(*ins)
    else:
        out = layer(ins if len(ins) > 1 else ins[0])
    ws = sorted((w.path.rsplit("/", 1)[-1], tuple(int(d) for d in w.shape), bool(w.trainable))
                for w in layer.weights)
    return tuple(None if d is None else int(d) for d in out.shape[1:]), ws


def cnnspec_facts(type_: str, options: dict, inputs: list):
    layer = BY_TYPE[type_].model_validate({"type": type_, **options})
    out, cnt = layer.infer([tuple(s) for s in inputs])
    return out, sorted((w.name.rsplit("/", 1)[-1], w.shape, w.trainable) for w in cnt.weights), cnt


def test_every_layer_type_has_option_sets():
    covered = {BY_TYPE[t] for t, _, _ in OPTION_SETS}
    missing = [cls.keras_class for cls in LAYER_CLASSES if cls not in covered]
    assert not missing, f"no parity option set for {missing}"


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("type_,options,inputs", OPTION_SETS,
                         ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(OPTION_SETS)])
def test_weights_match_keras(type_, options, inputs):
    out, ws, cnt = cnnspec_facts(type_, options, inputs)
    k_out, k_ws = keras_facts(type_, options, inputs)
    assert out == k_out
    assert ws == k_ws
    assert cnt.total == sum(_size(s) for _, s, _ in k_ws)


def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def _collapse(v):
    """Keras's (1, 1) and ((1, 1), (1, 1)) are cnnspec's 1."""
    if isinstance(v, (list, tuple)):
        items = [_collapse(x) for x in v]
        return items[0] if items and all(x == items[0] for x in items) and not isinstance(items[0], list) \
            else items
    return v


_LAYER_KWARGS = {"activity_regularizer", "trainable", "dtype", "name"}


def _signature(cls):
    import keras

    return inspect.signature(getattr(keras.layers, cls.keras_class).__init__).parameters


@pytest.mark.parametrize("cls", LAYER_CLASSES, ids=[c.keras_class for c in LAYER_CLASSES])
def test_options_are_keras_parameters_with_keras_defaults(cls):
    """An option cnnspec documents is one the Keras constructor takes, with the same default."""
    import keras

    params = _signature(cls)
    kcls = getattr(keras.layers, cls.keras_class)
    source = inspect.getsource(kcls.__init__)
    inherited = {p for k in kcls.__mro__ if "__init__" in vars(k) and k.__module__.startswith("keras")
                 for p in inspect.signature(k.__init__).parameters}  # passed on through **kwargs
    for opt in cls.option_names():
        popped = f'kwargs.pop("{opt}"' in source  # accepted through **kwargs (deprecated options)
        assert opt in params or opt in _LAYER_KWARGS or popped or opt in inherited, \
            f"{cls.keras_class} has no option {opt} in Keras"
        info = next(i for f, i in cls.model_fields.items() if (i.alias or f) == opt)
        if opt in params and not info.is_required():
            kd, ours = _collapse(params[opt].default), _collapse(info.default)
            assert ours == kd, f"{cls.keras_class}.{opt}: {ours!r} vs Keras {kd!r}"
    for p in cls.positional:
        assert p in cls.option_names(), f"{cls.keras_class}.positional names unknown option {p}"
    keras_order = [p for p in params if p not in ("self", "kwargs")]
    assert list(cls.positional) == [p for p in keras_order if p in cls.positional], cls.keras_class


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("cls", LAYER_CLASSES, ids=[c.keras_class for c in LAYER_CLASSES])
def test_every_documented_option_goes_through_keras(cls):
    """Build the layer with every documented option set to its documented default (and the required
    ones from the option table): Keras accepts each name."""
    type_, options, inputs = next(o for o in OPTION_SETS if BY_TYPE[o[0]] is cls)
    full = dict(options)
    for f, info in cls.model_fields.items():
        key = info.alias or f
        if f not in cls.META and key not in full and not info.is_required() and key != "backward_layer":
            full[key] = list(info.default) if isinstance(info.default, tuple) else info.default
    if cls.keras_class == "Normalization":
        full.pop("mean"), full.pop("variance")
    cnnspec_facts(type_, full, inputs)
    keras_facts(type_, full, inputs)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("spec", SPECS, ids=[s.label for s in SPECS])
def test_keras_matches_check(spec):
    import keras

    from cnnspec.keras.build import build_model, keras_rows

    keras.backend.clear_session()
    report = check(spec)
    model = build_model(spec, pretrained=False)  # pretrained bases: the same counts, no download
    built = {r["name"]: r for r in keras_rows(model)}
    assert sorted(built) == sorted(r.row.name for r in report.rows)
    for res in report.rows:
        k = built[res.row.name]
        cls = type(res.row.layer)
        assert k["type"] == getattr(cls, "keras_summary_type", cls.keras_class), res.row.name
        assert tuple(k["output_shape"]) == res.output, f"{res.row.name}: output"
        assert (k["trainable"], k["non_trainable"]) == (res.count.trainable, res.count.non_trainable), \
            f"{res.row.name}: {res.count.formula}"
    assert model.count_params() == report.total


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("lang", ["python", "r"])
def test_generated_code_for_new_families(lang):
    """Code generation writes the wrapped layer as a nested call and attention as layer(query, value);
    the generated Python builds with Keras to check's counts."""
    import numpy as np

    from cnnspec.interop.codegen import generate

    spec = load_specs(EXTRA[0])[0]
    code = generate(spec, lang)
    if lang == "r":
        assert "bidirectional(layer = layer_gru(units = 24, return_sequences = TRUE)" in code
        assert "layer_time_distributed(layer = layer_dense(units = 8" in code
        assert "layer_multi_head_attention(list(conv, conv), num_heads = 4, key_dim = 8" in code
        return
    assert "keras.layers.Bidirectional(keras.layers.GRU(24, return_sequences=True)" in code
    assert "keras.layers.MultiHeadAttention(4, 8, name=\"mha\")(conv, conv)" in code
    ns: dict = {}
    exec(compile(code.replace("model.summary()", ""), "<generated>", "exec"), ns)
    model, rep = ns["model"], check(spec)
    tr = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    assert (model.count_params(), tr) == (rep.total, rep.trainable)


# Whole networks of the new families, built with Keras and compared row by row with check.
NETWORKS = {
    "video_td_lstm": """
input: [8, 32, 32, 3]
layers:
  - {type: TimeDistributed, layer: {type: Conv2D, filters: 8, kernel_size: 3, activation: relu}}
  - {type: TimeDistributed, layer: {type: MaxPooling2D, pool_size: 2}}
  - {type: TimeDistributed, layer: {type: Flatten}}
  - {type: LSTM, units: 16}
  - {type: Dense, units: 4, activation: softmax}
""",
    "unet3d": """
input: [16, 16, 16, 1]
layers:
  - {type: Conv3D, name: c1, filters: 4, kernel_size: 3, padding: same, activation: relu}
  - {type: MaxPool3D, name: p1}
  - {type: Conv3D, name: c2, filters: 8, kernel_size: 3, padding: same}
  - {type: UpSampling3D, name: u1}
  - {type: Concatenate, name: cat, inputs: [c1, u1]}
  - {type: Conv3DTranspose, filters: 2, kernel_size: 2, strides: 2}
  - {type: Cropping3D, cropping: 2}
  - {type: ZeroPadding3D, padding: 1}
  - {type: GlobalAveragePooling3D}
""",
    "seq2seq": """
input: [null, 12]
layers:
  - {type: Masking, mask_value: 0.0}
  - {type: GRU, units: 10, reset_after: false}
  - {type: RepeatVector, n: 5}
  - {type: SimpleRNN, units: 6, return_sequences: true, go_backwards: true}
  - {type: TimeDistributed, layer: {type: Dense, units: 3}}
  - {type: Permute, dims: [2, 1]}
""",
    "conv1d_autoencoder": """
input: [64, 2]
layers:
  - {type: SeparableConv1D, filters: 8, kernel_size: 5, strides: 2, padding: same}
  - {type: DepthwiseConv1D, kernel_size: 3, depth_multiplier: 2}
  - {type: GroupNormalization, groups: 4}
  - {type: PReLU, shared_axes: [1]}
  - {type: Conv1DTranspose, filters: 2, kernel_size: 4, strides: 2}
  - {type: ELU}
  - {type: UnitNormalization}
""",
    "siamese_merges": """
input: [20]
layers:
  - {type: Dense, name: a, units: 8}
  - {type: Dense, name: b, inputs: input, units: 8}
  - {type: Subtract, name: d, inputs: [a, b]}
  - {type: Maximum, name: mx, inputs: [a, b]}
  - {type: Minimum, name: mn, inputs: [a, b]}
  - {type: Dot, name: dot, inputs: [mx, mn], axes: 1, normalize: true}
  - {type: Concatenate, inputs: [d, dot]}
  - {type: GaussianNoise, stddev: 0.1}
  - {type: AlphaDropout, rate: 0.1}
  - {type: Dense, units: 1, activation: sigmoid, lora_rank: 2}
""",
    "images_preprocessing": """
input: [48, 40, 3]
layers:
  - {type: Resizing, height: 36, width: 36}
  - {type: RandomCrop, height: 32, width: 32}
  - {type: CenterCrop, height: 30, width: 30}
  - {type: RandomContrast, factor: 0.1}
  - {type: Normalization, mean: [0.5, 0.5, 0.5], variance: [0.25, 0.25, 0.25]}
  - {type: ConvLSTM1D, filters: 4, kernel_size: 3, return_sequences: true}
  - {type: Bidirectional, layer: {type: ConvLSTM1D, filters: 2, kernel_size: 3}, merge_mode: sum}
  - {type: GlobalMaxPool1D}
""",
}


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", list(NETWORKS))
def test_networks_of_new_families_build_to_check(name, tmp_path):
    import keras

    from cnnspec.keras.build import build_model, keras_rows

    p = tmp_path / f"{name}.yaml"
    p.write_text(NETWORKS[name])
    spec = load_specs(p)[0]
    keras.backend.clear_session()
    report = check(spec)
    built = {r["name"]: r for r in keras_rows(build_model(spec))}
    for res in report.rows:
        k = built[res.row.name]
        assert tuple(k["output_shape"]) == res.output, res.row.name
        assert (k["trainable"], k["non_trainable"]) == (res.count.trainable, res.count.non_trainable), res.row.name

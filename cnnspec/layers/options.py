"""Option types shared by the layer classes, validated as Keras's constructors validate them,
and the one description of each option name (used by `cnnspec layers`, docs/layers.md and the
JSON Schema). Pure Python."""

from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from cnnspec.layers.keras_names import ACTIVATIONS, CONSTRAINTS, INITIALIZERS, REGULARIZERS
from cnnspec.layers.shapes import MAX_DIM

Size = Annotated[int, Field(ge=1, le=MAX_DIM)]
NonNeg = Annotated[int, Field(ge=0, le=MAX_DIM)]
Rate = Annotated[float, Field(ge=0.0, lt=1.0)]
Padding = Literal["valid", "same"]
PaddingCausal = Literal["valid", "same", "causal"]
DataFormat = Literal["channels_last", "channels_first"]


def tuple_or_int(v: Any) -> Any:
    """Keras takes a tuple where YAML gives a list; R gives ``c(3, 3)``, parsed to a list."""
    if isinstance(v, list):
        return tuple(v)
    return v


SizeOrTuple = Annotated[Union[Size, tuple[Size, ...]], BeforeValidator(tuple_or_int)]


def _allowed(kind: str, names: frozenset[str]) -> str:
    return f"unknown {kind} '{{}}'; allowed: " + ", ".join(sorted(names, key=str.lower))


def _check_name(kind: str, names: frozenset[str], value: Any, mapping_keys: frozenset[str] = frozenset()) -> Any:
    """A name Keras's ``<kind>s.get`` accepts, or a ``{class_name: ..., config: {...}}`` mapping of one."""
    if value is None:
        return value
    if isinstance(value, str):
        if value not in names:
            from cnnspec.util import suggest

            raise ValueError(_allowed(kind, names).format(value).replace(
                ";", suggest(value, sorted(names)) + ";", 1))
        return value
    if isinstance(value, dict):
        if mapping_keys and value and set(value) <= mapping_keys:
            for k, v in value.items():
                if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                    raise ValueError(f"{kind} {k} must be a non-negative number, got {v!r}")
            return value
        if set(value) - {"class_name", "config", "module", "registered_name"} or "class_name" not in value:
            extra = f" or {{{', '.join(sorted(mapping_keys))}: value}}" if mapping_keys else ""
            raise ValueError(f"a {kind} mapping is {{class_name: ..., config: {{...}}}}{extra}, got {value!r:.80}")
        if value["class_name"] not in names:
            raise ValueError(_allowed(kind, names).format(value["class_name"]))
        if not isinstance(value.get("config", {}), dict):
            raise ValueError(f"a {kind}'s config must be a mapping")
        return value
    raise ValueError(f"a {kind} is a name or a mapping, got {value!r:.60}")


def _activation(v: Any) -> Any:
    if v is not None and not isinstance(v, str):
        raise ValueError(f"an activation is a name like 'relu', got {v!r:.60}")
    return _check_name("activation", ACTIVATIONS, v)


def _schema(names: frozenset[str], mapping: dict | None = None) -> WithJsonSchema:
    """JSON Schema of a name-or-mapping option: the allowed names as an enum."""
    any_of: list[dict] = [{"enum": sorted(names)},
                          {"type": "object", "required": ["class_name"],
                           "properties": {"class_name": {"enum": sorted(names)}, "config": {"type": "object"}}},
                          {"type": "null"}]
    if mapping:
        any_of.insert(1, mapping)
    return WithJsonSchema({"anyOf": any_of})


_L1L2 = {"type": "object", "additionalProperties": False, "minProperties": 1,
         "properties": {"l1": {"type": "number", "minimum": 0}, "l2": {"type": "number", "minimum": 0}}}

Activation = Annotated[Union[str, None], AfterValidator(_activation),
                       WithJsonSchema({"anyOf": [{"enum": sorted(ACTIVATIONS)}, {"type": "null"}]})]
Initializer = Annotated[Union[str, dict[str, Any], None],
                        AfterValidator(lambda v: _check_name("initializer", INITIALIZERS, v)), _schema(INITIALIZERS)]
Regularizer = Annotated[Union[str, dict[str, Any], None],
                        AfterValidator(lambda v: _check_name("regularizer", REGULARIZERS, v,
                                                             frozenset({"l1", "l2"}))), _schema(REGULARIZERS, _L1L2)]
Constraint = Annotated[Union[str, dict[str, Any], None],
                       AfterValidator(lambda v: _check_name("constraint", CONSTRAINTS, v)), _schema(CONSTRAINTS)]

#: One description per option name, whatever the layer (Keras uses each name with one meaning).
OPTION_DOCS: dict[str, str] = {
    "type": "Keras 3 class name, an alias Keras accepts, or the R keras function",
    "name": "layer name (default: Keras's own naming, conv2d, conv2d_1, ...)",
    "inputs": "names of earlier rows this row takes (default: the previous row)",
    "trainable": "false freezes the layer: its weights count as non-trainable",
    "expect": "what the paper's table prints: {output, params, trainable, non_trainable}",
    "filters": "number of output channels (filters)",
    "kernel_size": "size of the convolution window: an int or one int per spatial axis",
    "strides": "step of the window: an int or one int per spatial axis",
    "padding": "'valid' (no padding), 'same' (output size ceil(input/strides)); for padding layers the amounts",
    "data_format": "'channels_last' (default) or 'channels_first'",
    "dilation_rate": "dilation of the window: an int or one int per spatial axis",
    "groups": "number of channel groups (input channels and filters must divide by it)",
    "activation": "activation function by Keras name (relu, softmax, ...); none = linear",
    "recurrent_activation": "activation of the recurrent gates by Keras name",
    "use_bias": "whether the layer has a bias vector",
    "kernel_initializer": "initializer of the kernel (a Keras name or {class_name, config})",
    "bias_initializer": "initializer of the bias",
    "recurrent_initializer": "initializer of the recurrent kernel",
    "depthwise_initializer": "initializer of the depthwise kernel",
    "pointwise_initializer": "initializer of the pointwise kernel",
    "embeddings_initializer": "initializer of the embedding table",
    "alpha_initializer": "initializer of PReLU's alpha",
    "beta_initializer": "initializer of beta (the learned offset)",
    "gamma_initializer": "initializer of gamma (the learned scale)",
    "moving_mean_initializer": "initializer of the moving mean",
    "moving_variance_initializer": "initializer of the moving variance",
    "kernel_regularizer": "regularizer of the kernel (l1, l2, l1_l2 or {l2: 0.001})",
    "bias_regularizer": "regularizer of the bias",
    "recurrent_regularizer": "regularizer of the recurrent kernel",
    "depthwise_regularizer": "regularizer of the depthwise kernel",
    "pointwise_regularizer": "regularizer of the pointwise kernel",
    "embeddings_regularizer": "regularizer of the embedding table",
    "alpha_regularizer": "regularizer of PReLU's alpha",
    "beta_regularizer": "regularizer of beta",
    "gamma_regularizer": "regularizer of gamma",
    "activity_regularizer": "regularizer of the layer's output",
    "kernel_constraint": "constraint on the kernel (max_norm, non_neg, unit_norm, min_max_norm)",
    "bias_constraint": "constraint on the bias",
    "recurrent_constraint": "constraint on the recurrent kernel",
    "depthwise_constraint": "constraint on the depthwise kernel",
    "pointwise_constraint": "constraint on the pointwise kernel",
    "embeddings_constraint": "constraint on the embedding table",
    "alpha_constraint": "constraint on PReLU's alpha",
    "beta_constraint": "constraint on beta",
    "gamma_constraint": "constraint on gamma",
    "depth_multiplier": "depthwise output channels per input channel",
    "output_padding": "extra size added on one side of each spatial axis of the output (less than strides)",
    "units": "dimensionality of the output (last axis)",
    "lora_rank": "rank of a LoRA adapter: the kernel is frozen and two trainable low-rank matrices added",
    "lora_alpha": "scale of the LoRA adapter (default: lora_rank)",
    "rate": "fraction of the input units to drop (0 <= rate < 1)",
    "noise_shape": "shape of the binary dropout mask (null entries follow the input)",
    "seed": "random seed",
    "axis": "axis (or axes) the layer works on; -1 is the last",
    "momentum": "momentum of the moving statistics",
    "epsilon": "small float added to the variance",
    "center": "learn an offset beta",
    "scale": "learn a scale gamma (for Rescaling: the factor inputs are multiplied by)",
    "synchronized": "synchronise the statistics across replicas",
    "rms_scaling": "scale by the root mean square only (gamma, no beta)",
    "max_value": "upper bound of the output (none: unbounded)",
    "negative_slope": "slope for inputs below the threshold",
    "threshold": "inputs below it are damped",
    "alpha": "slope (ELU: scale) for negative inputs",
    "shared_axes": "axes along which PReLU's alpha is shared (Keras axes, counting the batch as 0)",
    "cropping": "how much to cut off: an int, one int per spatial axis, or (before, after) pairs",
    "size": "upsampling factor: an int or one int per spatial axis",
    "interpolation": "interpolation method",
    "target_shape": "output shape without the batch dimension; one entry may be -1",
    "input_dim": "vocabulary size (largest integer index + 1)",
    "output_dim": "size of each embedding vector",
    "mask_zero": "treat index 0 as padding to be masked",
    "offset": "value added after scaling",
    "mode": "which flips to apply",
    "fill_mode": "how points outside the input are filled",
    "fill_value": "value used with fill_mode 'constant'",
    "height_factor": "fraction of the height to vary (a number or (low, high))",
    "width_factor": "fraction of the width to vary (a number or (low, high))",
    "factor": "strength of the random change (a number or (low, high))",
    "value_range": "(low, high) range of the input values",
    "keepdims": "keep the pooled axes with size 1",
    "pool_size": "size of the pooling window: an int or one int per spatial axis",
    "return_sequences": "return the output of every time step (not only the last)",
    "return_state": "also return the final state (not supported: one output per row)",
    "go_backwards": "process the sequence backwards",
    "stateful": "keep the state between batches (needs a fixed batch size in `input`)",
    "unroll": "unroll the loop",
    "dropout": "dropout rate of the inputs (attention: of the attention scores)",
    "recurrent_dropout": "dropout rate of the recurrent state",
    "unit_forget_bias": "add 1 to the forget gate's bias at initialisation",
    "reset_after": "GRU convention: apply the reset gate after the matrix product (two bias rows)",
    "use_cudnn": "'auto', true or false: whether to use the cuDNN kernel",
    "layer": "the wrapped layer, as a row: {type: LSTM, units: 32}",
    "merge_mode": "how forward and backward outputs combine: concat, sum, mul, ave",
    "backward_layer": "the backward layer, as a row (default: a copy of `layer` running backwards)",
    "num_heads": "number of attention heads",
    "key_dim": "size of each head for query and key",
    "value_dim": "size of each head for value (default: key_dim)",
    "output_shape": "last dimension(s) of the output (default: the query's last dimension)",
    "attention_axes": "axes over which attention is applied (default: all but batch, heads and features)",
    "use_scale": "learn a scale for the attention scores",
    "score_mode": "score function: 'dot' or 'concat'",
    "use_gate": "add a gating projection (one more query-sized kernel)",
    "sliding_window": "attend only to the keys within this distance (no weights)",
    "flash_attention": "use flash attention when the backend has it (no effect on the weights)",
    "dims": "permutation of the axes (1-based, batch excluded), e.g. [2, 1]",
    "n": "number of repetitions",
    "mask_value": "time steps whose every feature equals it are masked",
    "axes": "axis or pair of axes of the dot product",
    "normalize": "L2-normalise along the dot axes first (cosine proximity)",
    "stddev": "standard deviation of the noise",
    "l1": "L1 regularisation factor",
    "l2": "L2 regularisation factor",
    "mean": "mean to normalise with (default: adapted from the training data)",
    "variance": "variance to normalise with (default: adapted from the training data)",
    "invert": "undo the normalisation instead",
    "height": "output height",
    "width": "output width",
    "crop_to_aspect_ratio": "crop to keep the aspect ratio",
    "pad_to_aspect_ratio": "pad to keep the aspect ratio",
    "antialias": "use an anti-aliasing filter when downsampling",
    "include_top": "include the classifier on top of the base",
    "weights": "'imagenet', a path to a weights file saved by Keras, or none (random initialisation)",
    "input_shape": "input shape of the base (default: the model input)",
    "pooling": "pooling after the base when include_top is false: none, avg or max",
    "classes": "number of classes of the top classifier",
    "classifier_activation": "activation of the top classifier",
    "fine_tune_from": "name of the first layer of the base that trains; the layers before it are frozen",
    "include_preprocessing": "include the base's preprocessing layers (EfficientNet, MobileNetV3, ConvNeXt)",
    "alpha_width": "width multiplier",
}


def describe(cls: type, option: str) -> str:
    """The description of ``option`` on a layer class: its own Field description, or the shared one."""
    info = cls.model_fields.get(option)
    if info is not None and info.description:
        return info.description
    return OPTION_DOCS.get(option, "")

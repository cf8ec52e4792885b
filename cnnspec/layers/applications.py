"""Pretrained bases (keras.applications) as one spec row each: ``{type: VGG19, include_top: false,
weights: imagenet}``. ``check`` counts a base and computes its output shape without TensorFlow from
its architecture, shipped as generated data (cnnspec/layers/bases/*.json.gz, made from Keras by
scripts/gen_applications.py and verified against Keras by tests/test_applications.py); the data is
read only when a spec uses the base. ``build``/``train`` construct the real keras.applications model.
"""

import functools
import gzip
import json
import re
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, create_model, field_validator

from cnnspec.layers.shapes import Shape, ShapeError, format_shape
from .base import Activation, Count, Layer, Size, Weight, count_weights

DATA = Path(__file__).resolve().parent / "bases"

#: name -> (keras.applications module, R keras function, preprocessing applied before the base)
BASES: dict[str, tuple[str, str, str]] = {
    "VGG16": ("vgg16", "application_vgg16", "caffe"),
    "VGG19": ("vgg19", "application_vgg19", "caffe"),
    "ResNet50": ("resnet", "application_resnet50", "caffe"),
    "ResNet101": ("resnet", "application_resnet101", "caffe"),
    "ResNet152": ("resnet", "application_resnet152", "caffe"),
    "ResNet50V2": ("resnet_v2", "application_resnet50_v2", "tf"),
    "ResNet101V2": ("resnet_v2", "application_resnet101_v2", "tf"),
    "ResNet152V2": ("resnet_v2", "application_resnet152_v2", "tf"),
    "InceptionV3": ("inception_v3", "application_inception_v3", "tf"),
    "InceptionResNetV2": ("inception_resnet_v2", "application_inception_resnet_v2", "tf"),
    "Xception": ("xception", "application_xception", "tf"),
    "MobileNet": ("mobilenet", "application_mobilenet", "tf"),
    "MobileNetV2": ("mobilenet_v2", "application_mobilenet_v2", "tf"),
    "MobileNetV3Small": ("mobilenet_v3", "application_mobilenet_v3_small", "none"),
    "MobileNetV3Large": ("mobilenet_v3", "application_mobilenet_v3_large", "none"),
    "DenseNet121": ("densenet", "application_densenet121", "torch"),
    "DenseNet169": ("densenet", "application_densenet169", "torch"),
    "DenseNet201": ("densenet", "application_densenet201", "torch"),
    **{f"EfficientNetB{i}": ("efficientnet", f"application_efficientnet_b{i}", "none") for i in range(8)},
    **{f"EfficientNetV2{v}": ("efficientnet_v2", f"application_efficientnet_v2{v.lower()}", "none")
       for v in ("B0", "B1", "B2", "B3", "S", "M", "L")},
    **{f"ConvNeXt{v}": ("convnext", f"application_convnext_{v.lower()}", "none")
       for v in ("Tiny", "Small", "Base", "Large", "XLarge")},
    "NASNetMobile": ("nasnet", "application_nasnetmobile", "tf"),
    "NASNetLarge": ("nasnet", "application_nasnetlarge", "tf"),
}


#: square input sizes Keras accepts with include_top and ImageNet weights, where it accepts more than the
#: base's default size (None: any size, with a warning)
TOP_SIZES: dict[str, tuple[int, ...] | None] = {
    "MobileNet": (128, 160, 192, 224), "MobileNetV2": (96, 128, 160, 192, 224),
    "MobileNetV3Small": None, "MobileNetV3Large": None,
}


@functools.lru_cache(maxsize=None)
def architecture(name: str) -> dict[str, Any]:
    """The base's generated architecture (read once, when a spec first uses it)."""
    path = DATA / f"{name}.json.gz"
    if not path.exists():
        raise ShapeError(f"{name}: no architecture data in {DATA} (run scripts/gen_applications.py)", "type")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return json.load(f)


@functools.lru_cache(maxsize=64)
def _rows(name: str, head: str, classes: int) -> tuple:
    """The base's rows as (name, layer, inputs), with the chosen head (top / avg / max / none)."""
    from cnnspec.layers import BY_TYPE
    from cnnspec.layers.internal import INTERNAL_CLASSES

    types = {**BY_TYPE, **{t: c for c in INTERNAL_CLASSES for t in c.type_names()}}
    arch = architecture(name)
    raw = list(arch["rows"]) + list(arch["heads"].get(head, []))
    out = []
    for type_, rname, opts, inputs in raw:
        if head == "top" and rname == arch.get("classifier", [None])[0]:
            opts = {**opts, arch["classifier"][1]: classes}
        out.append((rname, types[type_].model_validate({"type": type_, **opts}), tuple(inputs)))
    return tuple(out)


def rows_of(name: str, head: str) -> list[tuple[str, str]]:
    """(name, type) of every row inside the base with a head (top / avg / max / none), without
    validating them (fast: what import needs to list ``base.layers``)."""
    arch = architecture(name)
    return [(r[1], r[0]) for r in list(arch["rows"]) + list(arch["heads"].get(head, []))]


@functools.lru_cache(maxsize=64)
def weighted_rows(name: str) -> frozenset[str]:
    """Names of the rows inside the base that hold weights, over every head."""
    size = architecture(name)["default_size"]
    out: set[str] = set()
    for top, pooling in ((True, None), (False, None), (False, "avg"), (False, "max")):
        base = application_class(name).model_validate({"type": name, "include_top": top, "pooling": pooling,
                                                       "weights": None})
        out |= {i.name for i in base.expand((size, size, 3)) if i.count.weights}
    return frozenset(out)


def keras_name(name: str) -> str:
    """The name Keras gives the base's model, as a regular expression (``mobilenetv2_1\\.00_\\d+``)."""
    return architecture(name).get("keras_name", re.escape(name.lower()))


class Inner:
    """One row inside a base (for ``summary --expand``)."""

    def __init__(self, name: str, layer: Layer, inputs: tuple, output: Shape, count: Count) -> None:
        self.name, self.layer, self.inputs, self.output, self.count = name, layer, inputs, output, count


class Application(Layer):
    """A keras.applications base as one row (Keras prints it as one ``Functional`` row)."""

    keras_summary_type: ClassVar[str] = "Functional"
    module: ClassVar[str]
    preprocessing: ClassVar[str]
    #: options cnnspec adds (not keras.applications parameters)
    cnnspec_options: ClassVar[tuple[str, ...]] = ("fine_tune_from", "preprocess")
    positional = ()
    include_top: bool = True
    # stored as `pretrained`: a field named weights would hide Layer.weights
    pretrained: str | None = Field(default="imagenet", alias="weights",
                                   description="'imagenet', a weights file saved by Keras "
                                               "(.weights.h5 or .h5), or none (random initialisation)")
    input_shape: tuple[Size, ...] | None = None
    pooling: Literal["avg", "max"] | None = None
    classes: Size = 1000
    classifier_activation: Activation = "softmax"
    fine_tune_from: str | None = None
    preprocess: bool = Field(default=True, description="apply the base's own input preprocessing "
                             "(keras.applications.<module>.preprocess_input, for pixels in 0..255)")

    @field_validator("input_shape", mode="before")
    @classmethod
    def _shape(cls, v):
        return tuple(v) if isinstance(v, list) else v

    @classmethod
    def default_name(cls) -> str:
        return cls.keras_class.lower()  # Keras's own names: vgg19, resnet50

    @property
    def takes_pixels(self) -> bool:
        """With its preprocessing, the base takes pixels in 0..255 (the training default scale is then 1)."""
        return self.preprocess or self.preprocessing == "none"  # "none": rescaling built into the base

    def _head(self) -> str:
        return "top" if self.include_top else (self.pooling or "none")  # the heads of the generated data

    def _check_input(self, shape: Shape) -> None:
        arch = architecture(self.keras_class)
        if self.input_shape is not None and tuple(self.input_shape) != tuple(shape):
            raise ShapeError(f"input_shape {list(self.input_shape)} differs from the row's input "
                             f"{format_shape(shape)}", "input_shape")
        if len(shape) != 3:
            raise ShapeError(f"{self.keras_class} takes images (rows, cols, channels), got {format_shape(shape)}",
                             "inputs")
        if self.pretrained == "imagenet" and shape[-1] != 3:
            raise ShapeError("The input must have 3 channels with weights 'imagenet'; "
                             f"Received: input_shape={format_shape(shape)}", "weights")
        sizes = TOP_SIZES.get(self.keras_class, (arch["default_size"],))
        square = shape[0] if shape[0] == shape[1] else None
        if self.include_top and self.pretrained == "imagenet" and sizes is not None and square not in sizes:
            want = " or ".join(f"({n}, {n}, 3)" for n in sizes)
            raise ShapeError(f"include_top with weights 'imagenet' needs input_shape {want}, got "
                             f"{format_shape(shape)}", "include_top")
        m = arch["min_size"]
        if any(d is not None and d < m for d in shape[:2]):
            raise ShapeError(f"Input size must be at least {m}x{m}; Received: input_shape={tuple(shape)}",
                             "input_shape")
        if self.include_top and self.pretrained == "imagenet" and self.classes != 1000:
            raise ShapeError("If using `weights='imagenet'` with `include_top=True`, `classes` should be 1000",
                             "classes")

    def expand(self, shape: Shape) -> list[Inner]:
        """Every row inside the base, with its output shape and count (trainability as declared)."""
        self._check_input(shape)
        rows = _rows(self.keras_class, self._head(), self.classes)
        names = [r[0] for r in rows]
        if self.fine_tune_from is not None and self.fine_tune_from not in names:
            from cnnspec.util import suggest

            raise ShapeError(f"fine_tune_from: no layer '{self.fine_tune_from}' in {self.keras_class}"
                             f"{suggest(self.fine_tune_from, names)}", "fine_tune_from")
        frozen = not self.trainable or self.fine_tune_from is not None
        shapes: dict[str, Shape] = {"input": tuple(shape)}
        out = []
        for name, layer, inputs in rows:
            if name == self.fine_tune_from and self.trainable:
                frozen = False
            try:
                o, cnt = layer.infer([shapes[i] for i in inputs])
            except ShapeError as exc:
                raise ShapeError(f"inside {self.keras_class}, layer '{name}': {exc}", "input_shape") from exc
            if frozen and cnt.trainable:
                cnt = count_weights([Weight(w.name, w.shape, False) for w in cnt.weights])
            shapes[name] = o
            out.append(Inner(name, layer, inputs, o, cnt))
        return out

    def output_shape(self, shape: Shape) -> Shape:
        return self.expand(shape)[-1].output

    def weights(self, shape: Shape) -> list[Weight]:
        return [w for inner in self.expand(shape) for w in inner.count.weights]

    def infer(self, shapes: list[Shape]) -> tuple[Shape, Count]:
        """Trainability is decided per inner layer (trainable / fine_tune_from), not for the row."""
        if len(shapes) != 1:
            raise ShapeError(f"{self.keras_class} takes one input, got {len(shapes)}", "inputs")
        inner = self.expand(shapes[0])
        ws = [w for i in inner for w in i.count.weights]
        cnt = count_weights(ws)
        n = len(inner)
        frozen = "" if self.trainable and self.fine_tune_from is None else (
            " (frozen)" if not self.trainable else f" (frozen before '{self.fine_tune_from}')")
        return inner[-1].output, Count(cnt.trainable, cnt.non_trainable,
                                       f"{n} layers inside {self.keras_class}{frozen}", cnt.weights)

    # -- Keras --------------------------------------------------------------------------------
    def build_keras(self, name: str | None, input_shape: Shape | None = None):
        """The real keras.applications model (weights loaded), preprocessing in front, frozen as declared."""
        from cnnspec.keras.applications import build_application

        return build_application(self, name, input_shape)

    def apply_keras(self, layer, tensors: list):
        return layer(tensors[0], training=False)  # BatchNormalization stays in inference mode


def _make(name: str) -> type[Application]:
    module, r_name, prep = BASES[name]
    cls = create_model(name, __base__=Application, __module__=__name__,
                       __doc__=f"``keras.applications.{name}``: pretrained base ({prep} preprocessing).",
                       type=(Literal[name, r_name], ...))  # type: ignore[valid-type]
    cls.module, cls.preprocessing = module, prep
    return cls


#: every type name of a base (Keras name and R name) -> the base's Keras name
TYPE_NAMES: dict[str, str] = {**{n: n for n in BASES}, **{v[1]: n for n, v in BASES.items()}}


@functools.lru_cache(maxsize=None)
def application_class(name: str) -> type[Application]:
    """The row class of a base, made on first use (keeps `check` start-up fast)."""
    return _make(TYPE_NAMES[name])


def application_classes() -> tuple[type[Application], ...]:
    """Every base's row class (for docs, the JSON Schema and the importers)."""
    return tuple(application_class(n) for n in BASES)

"""The ``fine_tune:`` key of the train section: seed 002's two-phase transfer learning. Phase 1
trains the new head with the pretrained base frozen (``trainable: false`` on the base row) for
``epochs``; phase 2 unfreezes the base from a layer and trains ``fine_tune.epochs`` more epochs at
``fine_tune.learning_rate`` (batch normalization stays in inference mode). Pure Python."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from cnnspec.errors import SpecError


class FineTune(BaseModel):
    """``fine_tune: {from: block5_conv1, epochs: 10, learning_rate: 1.0e-5}``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_layer: str = Field(alias="from", description="first layer of the base that trains in phase 2")
    epochs: int = Field(ge=1, le=1_000_000, description="epochs of phase 2 (after the train section's epochs)")
    learning_rate: float = Field(gt=0, description="learning rate of phase 2 (usually 10-100 times lower)")


def check_fine_tune(spec, ft: FineTune) -> None:
    """The spec has a frozen pretrained base containing ``ft.from_layer`` (a one-line error otherwise)."""
    line = getattr(spec.train, "line_of", lambda k: None)("fine_tune") if spec.train is not None else None
    bases = [r for r in spec.rows if hasattr(type(r.layer), "keras_summary_type")]
    if not bases:
        raise SpecError("fine_tune needs a pretrained base row (type: VGG19, ResNet50, ...)", file=spec.file,
                        line=line, field="train.fine_tune")
    frozen = [r for r in bases if not r.layer.trainable]
    if not frozen:
        raise SpecError("fine_tune: phase 1 trains the head with the base frozen: write `trainable: false` on the "
                        f"base row (line {bases[0].line})", file=spec.file, line=line, field="train.fine_tune")
    from cnnspec.check.infer import infer

    shapes = {r.row.name: r.input_shapes[0] for r in infer(spec)}
    names = [i.name for r in frozen for i in r.layer.expand(shapes[r.name])]
    if ft.from_layer not in names:
        from cnnspec.util import suggest

        raise SpecError(f"fine_tune: no layer '{ft.from_layer}' in the frozen base{suggest(ft.from_layer, names)}",
                        file=spec.file, line=line, field="train.fine_tune.from")

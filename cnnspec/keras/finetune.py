"""Phase 2 of a two-phase transfer-learning run (``train: fine_tune:``): unfreeze the pretrained
base from a layer and recompile at the fine-tuning learning rate. The base is called with
``training=False``, so its batch normalization stays in inference mode."""
from __future__ import annotations

from cnnspec.errors import CnnspecError


def start_phase2(model, cfg, ft, make_optimizer, make_metrics) -> str:
    """Unfreeze the nested base holding ``ft.from_layer`` from that layer on; recompile. Returns the base's name."""
    from cnnspec.spec.trainconfig import with_flags

    for base in model.layers:
        inner = [layer.name for layer in getattr(base, "layers", [])]
        if ft.from_layer not in inner:
            continue
        base.trainable = True
        for layer in base.layers[:inner.index(ft.from_layer)]:
            layer.trainable = False
        phase2 = with_flags(cfg, {"learning_rate": ft.learning_rate})
        if len(model.outputs) > 1:  # several outputs: each head's loss, weight and metrics again
            from cnnspec.keras.compiled import head_compile_args

            model.compile(optimizer=make_optimizer(phase2), **head_compile_args(model, cfg))
        else:
            model.compile(optimizer=make_optimizer(phase2), loss=cfg.loss, metrics=make_metrics(cfg))
        return base.name
    raise CnnspecError(f"fine_tune: no layer '{ft.from_layer}' in a pretrained base of the model",
                       field="train.fine_tune.from")

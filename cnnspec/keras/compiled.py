"""A spec's Keras model compiled from its ``train:`` section (a TrainConfig): the same optimizer
(with its learning rate), loss and metrics the training runs use, for callers that fit the model
themselves (the R bridge). Keras is imported lazily, inside the functions."""
from __future__ import annotations


def compile_model(model, cfg) -> str:
    """Compile ``model`` with ``cfg``'s optimizer, loss and metrics; returns the loss name. A one-unit
    output gets binary cross-entropy (the section's losses are categorical) unless a loss was set."""
    from cnnspec.keras.training import make_metrics, make_optimizer

    if len(model.outputs) > 1:
        kw = head_compile_args(model, cfg)
        model.compile(optimizer=make_optimizer(cfg), **kw)
        return kw["loss"]
    units = int(model.outputs[0].shape[-1])
    loss = cfg.loss
    if units == 1 and "loss" not in cfg.model_fields_set:
        loss = "binary_crossentropy"
    metrics = make_metrics(cfg) if units > 1 else list(cfg.metrics[:1])
    model.compile(optimizer=make_optimizer(cfg), loss=loss, metrics=metrics)
    return loss


def head_compile_args(model, cfg) -> dict:
    """``compile()``'s loss, loss_weights and metrics of a model with several outputs, as mappings keyed by
    output name (the section's per-head settings: cnnspec.spec.heads)."""
    from cnnspec.keras.training import make_metrics
    from cnnspec.spec.heads import heads

    hs = heads(list(model.output_names), cfg)
    return {"loss": {h.name: h.loss for h in hs}, "loss_weights": {h.name: h.weight for h in hs},
            "metrics": {h.name: make_metrics(cfg.model_copy(update={"loss": h.loss, "metrics": h.metrics}))
                        for h in hs}}


def heads_feed(model, cfg) -> list | None:
    """[(output name, units, loss)] of a model with several outputs (how make_dataset feeds the labels);
    None for one output."""
    if len(model.outputs) == 1:
        return None
    from cnnspec.spec.heads import heads

    units = [int(t.shape[-1]) for t in model.outputs]
    return [(h.name, k, h.loss) for h, k in zip(heads(list(model.output_names), cfg), units)]


def build_compiled(spec, cfg, compile: bool = True):
    """``(model, loss)``: the spec built with ``cfg``'s seed and layer overrides (initializer, L2),
    compiled by :func:`compile_model` (``loss`` None when ``compile`` is false)."""
    from cnnspec.keras.build import build_model
    from cnnspec.keras.util import import_keras_quietly

    import_keras_quietly()
    import keras

    keras.utils.set_random_seed(cfg.seed)
    model = build_model(spec, overrides=cfg.overrides())
    return model, (compile_model(model, cfg) if compile else None)

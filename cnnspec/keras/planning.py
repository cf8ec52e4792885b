"""Planning a run: everything that can be refused is refused here, before TensorFlow is imported
and before any file is written (a new run's spec, train section, flags and run directory; a
resume's records, saved spec, flags and resume point). Also the checks repeated under the run
directory's lock and the loading of a resume point."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnspec.errors import CnnspecError, ModelFileError
from cnnspec.keras.callbacks import RunState
from cnnspec.runs import rundir as rd
from cnnspec.runs.rundir import RunDir
from cnnspec.spec.trainconfig import TrainConfig, for_spec, with_flags
from cnnspec.util import split_variant

RESUME_FLAGS_OK = ("epochs",)


@dataclass
class Request:
    """What the user asked for (CLI flags or the Python API)."""

    spec_path: str | None
    out: Path
    flags: dict = field(default_factory=dict)
    resume: bool = False
    force: bool = False
    distribute: str | None = None


@dataclass
class Plan:
    """A validated run: nothing written, TensorFlow not imported."""

    req: Request
    spec: Any
    cfg: TrainConfig
    distribute: str | None
    run: RunDir
    data: Any = None                           # cnnspec.keras.pipeline.Prepared
    spec_bytes: bytes | None = None            # a new run's spec file
    state: RunState = field(default_factory=RunState)
    history: list = field(default_factory=list)
    prev: dict = field(default_factory=dict)   # a resumed run's run.json
    resuming: bool = False                     # a resume point (last.keras + state.json) exists
    replacing: str | None = None               # --force: the run being replaced


def plan(req: Request) -> Plan:
    """Spec, config, data and run directory, all validated; nothing written, no TensorFlow.

    An existing run directory (a resume, or a run --force replaces) is locked here already, so
    that a second process is refused at once; the caller releases ``plan.run.lock``."""
    from cnnspec.keras.pipeline import prepare_data

    run = RunDir(req.out)
    if (req.resume or req.force) and run.looks_like_run():
        run.lock.acquire()  # an existing run: a second process is refused at once, before any work
    try:
        p = plan_resume(req, run) if req.resume else plan_new(req, run)
        p.data = prepare_data(p.spec, p.cfg)
        if req.resume:
            was = (p.prev.get("data") or {}).get("fingerprint")
            if was and was != p.data.ds.fingerprint():
                raise CnnspecError(f"the data changed since this run started (fingerprint {was}, now "
                                   f"{p.data.ds.fingerprint()}): resume with the same data or start a new run",
                                   file=str(p.run))
    except BaseException:
        run.lock.release()
        raise
    return p


def plan_new(req: Request, run: RunDir) -> Plan:
    """A new run: its spec and flags, and a run directory it may use (see RunDir.check_new)."""
    from cnnspec.keras.distribute import is_chief, worker_count
    from cnnspec.spec.loader import load_spec

    if not req.spec_path:
        raise CnnspecError("give a SPEC to train, or --resume RUN_DIR")
    spec = load_spec(req.spec_path)
    cfg = with_flags(for_spec(spec), req.flags, spec.file)
    if req.distribute == "multiworker" and worker_count() > 1:
        raise CnnspecError("--distribute multiworker with more than one worker in TF_CONFIG: Keras 3's "
                           "model.fit does not run under MultiWorkerMirroredStrategy across workers "
                           "(keras-team/keras#20585, tensorflow/tensorflow#72388); use --distribute "
                           "mirrored on one machine")
    replacing = None
    if req.distribute != "multiworker" or is_chief()[0]:  # other workers write to a temp dir
        replacing = run.check_new(req.force)
    spec_bytes = split_variant(req.spec_path)[0].read_bytes()
    return Plan(req, spec, cfg, req.distribute, run, spec_bytes=spec_bytes, replacing=replacing)


def _saved_spec(req: Request, run: RunDir, conf: dict, prev: dict):
    """The run's spec.yaml, refused when it (or a SPEC given with --resume) is not the network
    the run was trained with."""
    from cnnspec.spec.loader import load_spec

    variant = conf.get("variant")
    spec = load_spec(str(run / rd.SPEC_YAML) + (f"#{variant}" if variant else ""))
    saved = conf.get("spec_fingerprint") or prev.get("spec_fingerprint")
    if saved and spec.fingerprint() != saved:
        raise CnnspecError(f"no longer describes the network this run was trained with (fingerprint "
                           f"{spec.fingerprint()}, run {saved}): restore it or start a new run",
                           file=str(run / rd.SPEC_YAML))
    if req.spec_path:
        given = load_spec(req.spec_path)
        if given.fingerprint() != spec.fingerprint():
            raise CnnspecError(f"differs from the spec of run {run} ({spec.label}, fingerprint "
                               f"{spec.fingerprint()}); a run continues only with the network it started "
                               "with: train this spec into a new --out", file=req.spec_path)
    return spec


def _resume_config(req: Request, run: RunDir, conf: dict) -> TrainConfig:
    from pydantic import ValidationError

    try:
        cfg = TrainConfig.model_validate(conf["train"])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()))
        raise CnnspecError(f"corrupt run record: train.{where}: {first.get('msg')}",
                           file=str(run / rd.CONFIG_JSON)) from exc
    extra = {k: v for k, v in req.flags.items() if v is not None and k not in RESUME_FLAGS_OK
             and conf["train"].get(k) != v}
    if extra:
        raise CnnspecError(f"--resume continues with the run's config; only --epochs may change "
                           f"(got {', '.join(sorted(extra))})", file=str(run))
    if req.flags.get("epochs"):
        cfg = cfg.model_copy(update={"epochs": req.flags["epochs"]})
    return cfg


def plan_resume(req: Request, run: RunDir) -> Plan:
    """A resume: the run's records, spec, config and resume point, all checked before anything
    is written (a finished run is refused unless --epochs asks for more)."""
    run.check_resumable()
    conf, prev = run.read_config(), run.read_run()
    spec = _saved_spec(req, run, conf, prev)
    cfg = _resume_config(req, run, conf)
    distribute = req.distribute if req.distribute is not None else conf.get("distribute")
    p = Plan(req, spec, cfg, distribute, run, prev=prev)
    raw = run.read_state()
    # resuming before any epoch finished (killed in epoch 1) starts over with the run's config
    p.resuming = raw is not None and (run / rd.LAST_MODEL).exists()
    if not p.resuming:
        return p
    try:
        p.state = RunState.from_json(raw)
    except (TypeError, ValueError) as exc:
        raise CnnspecError(f"corrupt run record: {exc}", file=str(run / rd.STATE_JSON)) from exc
    p.history = run.read_history(p.state.epoch)
    st = p.state
    if st.epoch >= cfg.epochs or (st.stopped_early and not req.flags.get("epochs")):
        why = "stopped early" if st.stopped_early else f"finished {st.epoch} epochs"
        if (run / rd.METRICS_JSON).exists() and prev.get("status") == "finished":
            raise CnnspecError(f"the run already {why}; pass --epochs N (more than {st.epoch}) "
                               "to train further", file=str(run))
    if req.flags.get("epochs"):
        st.stopped_early = False
    return p


def recheck_locked(p: Plan) -> None:
    """Repeat the run directory checks under its lock: another process may have written it
    between planning and locking."""
    if not p.req.resume:
        p.replacing = p.run.check_new(p.req.force)
        return
    raw = p.run.read_state()
    if (raw is None) == p.resuming or (raw is not None and RunState.from_json(raw).epoch != p.state.epoch):
        raise CnnspecError("the run changed while this resume was being prepared (another process?): "
                           "try again", file=str(p.run))


def load_resume_model(p: Plan):
    """last.keras (model and optimizer state), refused when it is not the spec's network."""
    import keras

    from cnnspec.check.infer import check
    from cnnspec.keras.build import compare_rows, keras_rows

    path = p.run / rd.LAST_MODEL
    try:
        model = keras.saving.load_model(str(path))
    except Exception as exc:  # noqa: BLE001 - any failure is "not a loadable resume point"
        raise ModelFileError(f"cannot load the resume point: {type(exc).__name__}: "
                             f"{' '.join(str(exc).split())[:200]}", file=str(path)) from exc
    diffs = compare_rows(check(p.spec), keras_rows(model))
    if diffs:
        raise ModelFileError(f"the resume point is not the network of {rd.SPEC_YAML}: {diffs[0]}",
                             file=str(path))
    return model

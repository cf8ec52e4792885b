"""`cnnspec build`, `cnnspec train` and `cnnspec evaluate`. TensorFlow/Keras are imported inside
the command functions only (``check`` must stay TF-free)."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from cnnspec.errors import CnnspecError
from cnnspec.cli.app import app, console, emit_json, err_console, safe


def _quiet_tf() -> None:
    from cnnspec.keras.util import import_keras_quietly

    import_keras_quietly()


# ----------------------------------------------------------------------------------------------
@app.command("build")
def build_cmd(
    spec: str = typer.Argument(..., help="Spec file; FILE#VARIANT picks one variant."),
    out: Path = typer.Option(..., "--out", "-o", "--output", help="Where to save the model (.keras)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
) -> int:
    """Build the Keras 3 model, save it, and confirm its summary equals `cnnspec check`'s."""
    from cnnspec.runs.files import check_output
    from cnnspec.runs.modelmeta import sidecar_path
    from cnnspec.spec.loader import load_spec
    from cnnspec.util import split_variant

    if out.suffix != ".keras":
        raise CnnspecError("the output file must end in .keras", file=str(out))
    src = split_variant(spec)[0]
    check_output(out, [src], what="model output")
    check_output(sidecar_path(out), [src], what="sidecar output")
    s = load_spec(spec)
    _quiet_tf()
    from cnnspec.keras.build import build_check_report

    res = build_check_report(s, out)
    diffs = res["differences"]
    if json_out:
        emit_json(res)
        return 1 if diffs else 0
    from rich.table import Table
    from rich.text import Text

    t = Table(title=f"{s.label}: Keras model", title_justify="left")
    for c in ("Layer (type)", "Output Shape", "Trainable", "Non-trainable"):
        t.add_column(c, justify="right" if c != "Layer (type)" else "left")
    for r in res["layers"]:
        t.add_row(f"{r['name']} ({r['type']})", "(None, " + ", ".join(map(str, r["output_shape"])) + ")",
                  f"{r['trainable']:,}", f"{r['non_trainable']:,}")
    console.print(t)
    tr, nt = res["trainable_params"], res["non_trainable_params"]
    console.print(f"Total params: {tr + nt:,}  (trainable {tr:,}, non-trainable {nt:,})")
    for d in diffs:
        err_console.print(Text.assemble(("differs from check:", "red"), " ", safe(d)))
    if not diffs:
        console.print(Text.assemble(("equals check", "green"),
                                    f": {len(res['layers'])} layers, shapes and counts agree"))
    console.print(f"saved {out} and {sidecar_path(out)}", markup=False)
    return 1 if diffs else 0


# ----------------------------------------------------------------------------------------------
class Distribute(str, Enum):
    """--distribute choices."""

    none = "none"
    mirrored = "mirrored"
    multiworker = "multiworker"


def _progress_factory(to_stderr: bool, quiet: bool):
    """A callable the training loop calls with ('begin'|'batch'|'end'|'close', ...)."""
    con = err_console if to_stderr else console

    def factory(epochs: int, steps: int):
        if quiet:
            return None
        if con.is_terminal:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            prog = Progress(TextColumn("epoch {task.fields[ep]}/" + str(epochs)), BarColumn(),
                            MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                            console=con, transient=True)
            state = {"task": None}

            def cb(event, **kw):
                if event == "begin":
                    if not prog.live.is_started:
                        prog.start()
                    state["task"] = prog.add_task("", total=steps, ep=kw["epoch"])
                elif event == "batch" and state["task"] is not None:
                    prog.update(state["task"], completed=kw["batch"])
                elif event == "end" and state["task"] is not None:
                    prog.remove_task(state["task"])
                    state["task"] = None
                    prog.console.print(f"epoch {kw['epoch']}/{epochs}  {_epoch_text(kw['row'])}",
                                       highlight=False, markup=False)
                elif event == "close":
                    prog.stop()
            cb.batches = True
            return cb

        def cb(event, **kw):
            if event == "end":
                con.out(f"epoch {kw['epoch']}/{epochs}  {_epoch_text(kw['row'])}", highlight=False)
        return cb

    return factory


def _epoch_text(row: dict) -> str:
    parts = []
    for k in ("loss", "accuracy", "val_loss", "val_accuracy"):
        if row.get(k) is not None:
            parts.append(f"{k} {row[k]:.4f}")
    parts.append(f"lr {row['lr']:.3g}")
    parts.append(f"{row['seconds']:.1f}s")
    return "  ".join(parts)


@app.command("train")
def train_cmd(
    spec: Optional[str] = typer.Argument(None, help="Spec file with an optional train: section (with --resume: "
                                         "optional, must be the run's spec)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", "--output", help="Run directory to create/fill."),
    data: Optional[str] = typer.Option(None, "--data", help="Dataset name (train.dataset; default sample)."),
    data_path: Optional[str] = typer.Option(None, "--data-path", help="Where the dataset's files are."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Keep the first N train and N test images."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0),
    learning_rate: Optional[float] = typer.Option(None, "--learning-rate", "--lr"),
    optimizer: Optional[str] = typer.Option(None, "--optimizer"),
    validation_split: Optional[float] = typer.Option(None, "--validation-split"),
    validation: Optional[str] = typer.Option(None, "--validation", help="'test' or a dataset name."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this directory."),
    distribute: Optional[Distribute] = typer.Option(None, "--distribute", help="mirrored or multiworker."),
    force: bool = typer.Option(False, "--force", help="Replace the cnnspec run in --out (never other files)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-epoch progress."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout (progress on stderr)."),
) -> int:
    """Train a spec on real data; writes a run directory (see docs/training.md)."""
    from cnnspec.keras.training import Request, run_training

    if resume is not None:
        if out is not None and out != resume:
            raise CnnspecError("--resume RUN_DIR already names the run directory: drop --out")
        out = resume
    elif out is None:
        raise CnnspecError("give --out RUN_DIR (where the run is written)")
    if optimizer is not None:
        optimizer = optimizer.lower()
    flags = {"dataset": data, "data_path": data_path, "epochs": epochs, "batch_size": batch_size,
             "limit": limit, "seed": seed, "learning_rate": learning_rate, "optimizer": optimizer,
             "validation_split": validation_split, "validation": validation}
    req = Request(spec_path=spec, out=out, flags=flags, resume=resume is not None, force=force,
                  distribute=None if distribute is None else distribute.value)
    res = run_training(req, progress_factory=_progress_factory(json_out, quiet),
                       log=lambda text: err_console.print(text))
    if json_out:
        emit_json({k: v for k, v in res.items() if k != "metrics"})
    else:
        m = res["metrics"]
        console.print(f"{out}: {res['epochs_finished']} epoch(s), best epoch {res['best_epoch']}, test accuracy "
                      f"{m['accuracy']:.4f}, test loss {m['loss']:.4f}, "
                      f"{m['train_images_per_second']} train images/s")
    return 0


# ----------------------------------------------------------------------------------------------
@app.command("evaluate")
def evaluate_cmd(
    target: str = typer.Argument(..., help="A run directory or a .keras file (with its .cnnspec.json sidecar)."),
    data: Optional[str] = typer.Option(None, "--data", help="Dataset (default: the run's, else sample)."),
    data_path: Optional[str] = typer.Option(None, "--data-path"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1),
    output: Optional[Path] = typer.Option(None, "--out", "-o", "--output", help="Metrics JSON file to write."),
    json_out: bool = typer.Option(False, "--json", help="Print the metrics JSON on stdout."),
) -> int:
    """Test-split metrics of a trained model: accuracy, per-class precision/recall/F1, confusion matrix."""
    from cnnspec.keras.evaluate import evaluate_to_file
    from cnnspec.keras.stopping import StopSignals

    with StopSignals():  # SIGTERM ends like Ctrl-C: one line, exit 130, nothing half-written
        m, path = evaluate_to_file(target, data, data_path, limit, output)
    if m.get("warning"):
        err_console.print(f"warning: {m['warning']}", markup=False)
    if json_out:
        emit_json({**m, "written": str(path)})
        return 0
    from rich.table import Table
    from rich.text import Text

    # user text (model path, dataset and class names) as Text: printed literally, never as markup
    t = Table(title=Text(f"{m['model']} on {m['dataset']} test ({m['n']} images)"), title_justify="left")
    for c in ("class", "precision", "recall", "f1", "support"):
        t.add_column(c, justify="left" if c == "class" else "right")
    for name, r in m["per_class"].items():
        t.add_row(Text(safe(name)), f"{r['precision']:.4f}", f"{r['recall']:.4f}", f"{r['f1']:.4f}",
                  str(r["support"]))
    mac = m["macro_avg"]
    t.add_row("macro avg", f"{mac['precision']:.4f}", f"{mac['recall']:.4f}", f"{mac['f1']:.4f}", str(m["n"]),
              style="bold")
    console.print(t)
    heads = m.get("heads") or {}
    if len(heads) > 1:  # the table is the first head's; every head's own figures
        for head, h in heads.items():
            console.print(f"{safe(head)}: accuracy {h['accuracy']:.4f}  loss {h['loss']:.4f}", markup=False)
    else:
        console.print(f"accuracy {m['accuracy']:.4f}  loss {m['loss']:.4f}")
    cm = Table(title="confusion matrix (rows: true, columns: predicted)", title_justify="left")
    cm.add_column("")
    for i in range(len(m["class_names"])):
        cm.add_column(str(i), justify="right")
    for i, (name, row) in enumerate(zip(m["class_names"], m["confusion_matrix"])):
        cm.add_row(Text(safe(f"{i} {name}")), *[str(v) for v in row])
    console.print(cm)
    if m.get("worst_images"):
        console.out(f"wrote {m['worst_images']['png']} (the {len(m['worst_images']['images'])} worst-classified "
                    "test images)", highlight=False)
    console.print(f"wrote {path}", markup=False)
    return 0

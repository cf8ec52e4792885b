"""`cnnspec doctor`, `lr-find`, `ensemble` and `inspect`: looking at a model before and after training
(seed 004). TensorFlow is imported inside the commands (through cnnspec.keras)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from cnnspec.cli.app import app, console, emit_json, safe

_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red"}


@app.command("doctor")
def doctor_cmd(
    spec: str = typer.Argument(..., help="Spec file (FILE#VARIANT picks a variant) with an optional train: section."),
    data: Optional[str] = typer.Option(None, "--data", help="Dataset (default: train.dataset, else sample)."),
    data_path: Optional[str] = typer.Option(None, "--data-path", help="Where the dataset's files are."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Keep the first N train and N test images."),
    json_out: bool = typer.Option(False, "--json", help="Print the checks as a JSON list."),
) -> int:
    """Sanity checks before a long run: data, initial loss, init, dead ReLUs, update ratios, overfitting 20 images.

    Exit 0 when no check fails (warnings allowed), 1 when one fails, 2 on bad input."""
    from cnnspec.keras.doctor import diagnose

    checks = diagnose(spec, data, data_path, limit)
    if json_out:
        emit_json([c.to_json() for c in checks])
    else:
        from rich.table import Table
        from rich.text import Text

        title = Text(f"cnnspec doctor {safe(spec)}" + (f" on {safe(checks.dataset)}" if checks.dataset else ""))
        t = Table(title=title, title_justify="left", show_lines=False)
        for col in ("status", "check", "measured", "advice"):
            t.add_column(col, overflow="fold")
        for c in checks:
            t.add_row(Text(c.status.upper(), style=_STYLE[c.status]), Text(safe(c.name)), Text(safe(c.value)),
                      Text(safe(c.advice)))
        console.print(t)
        counts = {s: sum(c.status == s for c in checks) for s in _STYLE}
        console.print(f"{counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail", markup=False)
    return 1 if any(c.status == "fail" for c in checks) else 0


def _output_file(path: Path, suffix: str, inputs: list[str | None]) -> Path:
    """Refuse an output that is not ``suffix``, whose folder is missing, or that is one of the inputs."""
    from cnnspec.errors import CnnspecError

    if path.suffix.lower() != suffix:
        raise CnnspecError(f"the output file must end in {suffix}", file=str(path))
    if not path.parent.resolve().is_dir():
        raise CnnspecError("the output folder does not exist", file=str(path.parent))
    for inp in inputs:
        if inp and Path(str(inp).split("#")[0]).resolve() == path.resolve():
            raise CnnspecError("the output would overwrite an input", file=str(path))
    return path


@app.command("lr-find")
def lr_find_cmd(
    spec: str = typer.Argument(..., help="Spec file with an optional train: section (optimizer, loss, batch size)."),
    data: Optional[str] = typer.Option(None, "--data", help="Dataset (default: train.dataset, else sample)."),
    data_path: Optional[str] = typer.Option(None, "--data-path"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1),
    out: Path = typer.Option(Path("lr_find.png"), "--out", "-o", "--output", help="The loss-vs-learning-rate PNG."),
    steps: int = typer.Option(200, "--steps", min=10, max=100_000, help="Training steps of the test."),
    min_lr: float = typer.Option(1e-7, "--min-lr"),
    max_lr: float = typer.Option(10.0, "--max-lr"),
    json_out: bool = typer.Option(False, "--json", help="Print the curve and the suggestions as JSON."),
) -> int:
    """Learning-rate range test: the loss while the rate grows exponentially; a PNG and a suggested rate."""
    from cnnspec.keras.lrfind import range_test, write_plot

    _output_file(out, ".png", [spec, data_path])
    res = range_test(spec, data, data_path, limit=limit, steps=steps, min_lr=min_lr, max_lr=max_lr)
    write_plot(res, out)
    if json_out:
        emit_json({**res, "plot": str(out)})
        return 0
    s = res["suggestions"]
    console.out(f"{res['spec']} on {res['dataset']}: {res['optimizer']}, batch {res['batch_size']}, "
                f"{res['steps_run']} steps from {res['min_lr']:.1e} to {res['lrs'][-1]:.2e}"
                + (" (stopped: loss diverged)" if res["stopped_early"] else ""), highlight=False)
    console.out(f"lowest smoothed loss {s['min_smoothed_loss']:.4f} at lr {s['min_loss']:.3g}; "
                f"steepest descent at lr {s['steepest']:.3g}", highlight=False)
    console.out(f"suggested learning rate: {res['suggested_lr']:.3g} (lowest-loss rate / 10)", highlight=False)
    console.out(f"wrote {out}", highlight=False)
    return 0


@app.command("ensemble")
def ensemble_cmd(
    runs: Optional[List[str]] = typer.Argument(None, help="Run directories (or .keras files with sidecars)."),
    out: Path = typer.Option(..., "--out", "-o", "--output", help="Directory for model.keras, model.onnx, ensemble.json."),
    data: Optional[str] = typer.Option(None, "--data", help="Dataset whose test split is evaluated (default: the first member's)."),
    data_path: Optional[str] = typer.Option(None, "--data-path"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1),
    weighted: bool = typer.Option(False, "--weighted", help="Weight members by their validation accuracy."),
    force: bool = typer.Option(False, "--force", help="Overwrite an ensemble already in --out."),
    from_sweep: Optional[Path] = typer.Option(None, "--from-sweep", help="Add a sweep directory's best trials."),
    top: int = typer.Option(3, "--top", min=1, max=1000, help="How many of the sweep's best trials (by its metric)."),
    json_out: bool = typer.Option(False, "--json", help="Print ensemble.json on stdout."),
) -> int:
    """Average members' class probabilities; report each member's and the ensemble's test accuracy; export ONNX."""
    from cnnspec.keras.ensemble import make_ensemble, sweep_members

    members, selection = list(runs or []), None
    if from_sweep is not None:
        picked, selection = sweep_members(from_sweep, top)
        members += picked
    res = make_ensemble(members, out, data=data, data_path=data_path, limit=limit, weighted=weighted, force=force,
                        selection=selection)
    if json_out:
        emit_json(res)
        return 0
    from rich.table import Table
    from rich.text import Text

    t = Table(title=f"test accuracy on {res['dataset']} ({res['test_images']} images)", title_justify="left")
    for col in ("member", "weight", "test accuracy"):
        t.add_column(col, justify="left" if col == "member" else "right")
    for r in res["members"]:
        t.add_row(Text(r["run"]), f"{r['weight']:.3f}", f"{r['test_accuracy']:.4f}")
    t.add_row(Text("ensemble", style="bold"), "", f"{res['ensemble_test_accuracy']:.4f}", style="bold")
    console.print(t)
    if selection:
        console.out(f"from {selection['sweep']}: the {len(selection['trials'])} best trials by {selection['metric']}",
                    highlight=False)
    par = res["parity"]
    console.out(f"wrote {res['onnx']}: parity {'ok' if par['ok'] else 'FAILED'} (max abs diff "
                f"{par['max_abs_diff']:.2e} on {par['source']}), and {Path(out) / 'model.keras'}", highlight=False)
    return 0


@app.command("inspect")
def inspect_cmd(
    target: str = typer.Argument(..., help="A run directory or a .keras file (with its .cnnspec.json sidecar)."),
    image: Path = typer.Option(..., "--image", help="The image to look at (PNG/JPEG), read as predict reads it."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", "--output", help="Folder for the PNGs (default RUN/inspect/IMAGE)."),
    cls: Optional[int] = typer.Option(None, "--class", min=0, help="Class index for the saliency (default: predicted)."),
    max_maps: int = typer.Option(32, "--max-maps", min=1, max=1024, help="Channels drawn per layer."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> int:
    """Feature maps per layer, first-layer filters and a saliency map for one image, as PNG grids."""
    from cnnspec.keras.inspect import inspect_model

    res = inspect_model(target, str(image), out, cls=cls, max_maps=max_maps)
    if json_out:
        emit_json(res)
        return 0
    console.out(f"{res['image']}: predicted {res['predicted']} ({res['confidence']:.3f}); saliency of the "
                f"{res['saliency_of']} of {res['saliency_class']}", highlight=False)
    for f in res["files"]:
        console.out(f"wrote {f}", highlight=False)
    return 0

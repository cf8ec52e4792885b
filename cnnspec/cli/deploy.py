"""Deployment commands: export, predict, bench, serve.

Kept light: TensorFlow/Keras are imported only by ``export``, by ``predict`` on a
``.keras``/run directory and by ``bench --keras``; ``predict model.onnx`` and ``serve``
need only the ``runtime`` extra.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from cnnspec.errors import CnnspecError
from cnnspec.deploy.images import DEFAULT_MAX_PIXELS
from cnnspec.cli.app import app, console, emit_json, err_console

DEVICE_HELP = "auto (TensorRT/CUDA if they really start, else CPU with a one-line notice), cpu, cuda, tensorrt"
ENGINE_HELP = ("auto (a GPU that really starts, else the fastest installed CPU engine, measured once per model "
               "file and CPU and announced in one line), onnxruntime, openvino")
PRECISION_HELP = "auto (an engine may compute in bf16, measured and reported) or fp32 (forbids it)"


def _warn(line: str) -> None:
    from rich.markup import escape

    err_console.print(f"[yellow]warning:[/] {escape(line)}", markup=True)


def _notice(line: str) -> None:
    err_console.print(line, markup=False)


@app.command()
def export(
    model: Path = typer.Argument(..., help="Run directory (model.keras + model.cnnspec.json) or a .keras file"),
    output: Path = typer.Option(..., "--out", "-o", "--output", help="Where to write the .onnx file"),
    opset: Optional[int] = typer.Option(None, "--opset", help="ONNX opset (default: tf2onnx's, 15)"),
    data: Optional[str] = typer.Option(None, "--data", help="Dataset whose test split is used for the parity check "
                                                            "(default: deterministic random inputs)"),
    limit: int = typer.Option(512, "--limit", min=1, help="Number of parity inputs"),
    quantize: Optional[str] = typer.Option(None, "--quantize", help="int8: static QDQ quantization with an "
                                                                    "accuracy gate (needs --calibrate)"),
    calibrate: Optional[str] = typer.Option(None, "--calibrate", help="Dataset: its training split calibrates, "
                                                                      "its test split gates the INT8 model"),
    calibration_size: int = typer.Option(256, "--calibration-size", min=1,
                                         help="Calibration images drawn from the training split"),
    max_accuracy_drop: float = typer.Option(0.5, "--max-accuracy-drop", min=-100, max=100,
                                            help="INT8 gate: largest test-accuracy drop vs fp32, in points"),
    rewrite: bool = typer.Option(True, "--rewrite/--no-rewrite", help="Exact graph rewrites (parity-checked)"),
    head: Optional[str] = typer.Option(None, "--head", help="A model with several outputs: export this output "
                                                            "(its row name) alone"),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON"),
) -> None:
    """Export a trained Keras model to ONNX (optionally INT8), embed its metadata, check parity.

    Nothing is written under the output name unless every check passes."""
    from cnnspec.keras.export import export_model

    if output.suffix != ".onnx":
        raise CnnspecError("output file must end in .onnx", file=str(output))
    if opset is not None and not 9 <= opset <= 18:
        raise CnnspecError(f"--opset {opset} is outside the range tf2onnx supports here (9..18)")
    if quantize is not None and quantize != "int8":
        raise CnnspecError(f"--quantize {quantize}: only int8 is supported")
    if quantize is None and calibrate is not None:
        raise CnnspecError("--calibrate is only used with --quantize int8")
    try:
        rep = export_model(model, output, opset=opset, data=data, limit=limit, rewrite=rewrite,
                           quantize=quantize, calibrate=calibrate, calibration_size=calibration_size,
                           max_accuracy_drop=max_accuracy_drop, head=head)
    except CnnspecError as exc:
        if getattr(exc, "report", None):
            _export_report(exc.report, as_json)
        raise
    _export_report(rep, as_json)


def _export_report(rep: dict, as_json: bool) -> None:
    if rep.get("warning"):
        _warn(rep["warning"])
    if as_json:
        emit_json(rep)
        return
    md, par = rep["metadata"], rep["parity"]
    if "size_bytes" in rep:
        console.print(f"exported {rep.get('keras', 'model')} -> {rep['output']} "
                      f"({rep['size_bytes'] / 1024:.1f} KiB, opset {md['opset']}, "
                      f"input '{md['input_name']}' [batch, {', '.join(map(str, md['input_shape']))}], "
                      f"output '{md['output_name']}' [batch, {len(md['class_names'])}])", markup=False)
    if rep.get("dropped_layers"):
        console.print(f"removed training-only layers: {', '.join(rep['dropped_layers'])}", markup=False)
    if rep.get("rewrites"):
        console.print("graph rewrites: " + ", ".join(f"{k} x{v}" for k, v in rep["rewrites"].items()), markup=False)
    t = Table(title=f"parity on {par['source']}")
    for col in ("check", "value", "required", "ok"):
        t.add_column(col, justify="left" if col == "check" else "right")
    t.add_row("max |keras - onnx|", f"{par['max_abs_diff']:.2e}", f"<= {par['atol']:.0e}",
              _ok(par["max_abs_diff"] <= par["atol"]))
    t.add_row("argmax agreement", f"{par['argmax_agreement'] * 100:.2f}%", "100%", _ok(par["argmax_agreement"] == 1.0))
    q = rep.get("quantization")
    if q and q.get("gate"):
        g = q["gate"]
        t.add_section()
        t.add_row(f"INT8 top-1 agreement ({g['dataset']} test, {g['n']})", f"{g['top1_agreement'] * 100:.2f}%", "", "")
        t.add_row("test accuracy fp32 -> int8", f"{g['accuracy_fp32'] * 100:.2f}% -> {g['accuracy_int8'] * 100:.2f}%",
                  "", "")
        t.add_row("accuracy change", f"{g['delta_pt']:+.2f} pt", f">= -{g['max_drop_pt']:g} pt", _ok(g["passed"]))
    console.print(t)


def _ok(flag: bool):
    from rich.text import Text

    return Text("yes", style="green") if flag else Text("NO", style="red")


def _predict_keras(model_path: Path, images: List[Path], max_pixels: int):
    """Probabilities from a RUN_DIR / .keras model (Keras imported lazily)."""
    import numpy as np

    from cnnspec.keras.export import load_keras
    from cnnspec.deploy.runtime import preprocess_image

    model, meta, _ = load_keras(model_path)
    if meta.get("warning"):
        _warn(meta["warning"])
    x = np.stack([preprocess_image(p, meta["input_shape"], max_pixels=max_pixels) for p in images])
    x = x * np.float32(meta["scale"]) + np.float32(meta["offset"])
    probs = np.asarray(model(x, training=False))
    return probs, meta["class_names"], {"engine": "keras", "device": "tensorflow"}


@app.command()
def predict(
    model: Path = typer.Argument(..., help="model.onnx, a .keras file or a run directory"),
    images: List[Path] = typer.Argument(..., help="Image files (PNG, JPEG, ...; any size, RGB or gray)"),
    top: int = typer.Option(3, "--top", "-k", min=1, help="How many classes to show per image"),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    engine: str = typer.Option("auto", "--engine", help=ENGINE_HELP),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
    threads: Optional[int] = typer.Option(None, "--threads", help="Engine intra-op threads"),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", min=1,
                                   help="Largest image (width x height) decoded"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Classify images with an exported .onnx model (no TensorFlow) or a Keras model."""
    import numpy as np

    from cnnspec.deploy.images import require_files

    require_files(images)  # a mistyped image path is said before the model loads or the engine is probed
    if model.suffix == ".onnx":
        from cnnspec.deploy.runtime import OnnxModel

        m = OnnxModel(model, device=device, threads=threads, engine=engine, precision=precision,
                      max_pixels=max_pixels, on_notice=_notice)
        if m.warning:
            _warn(m.warning)
        probs = m.predict(np.stack([m.load_image(p) for p in images]))
        names, run = m.class_names, {"engine": m.engine, "device": m.device, "precision": m.precision}
    elif model.is_dir() or model.suffix == ".keras":
        probs, names, run = _predict_keras(model, images, max_pixels)
    else:
        from cnnspec.errors import ModelFileError

        raise ModelFileError("expected a .onnx file, a .keras file or a run directory", file=str(model))
    k = min(top, probs.shape[-1])
    results = []
    for path, row in zip(images, probs):
        idx = np.argsort(-row, kind="stable")[:k]
        results.append({"image": str(path),
                        "top": [{"class": names[i], "probability": float(row[i])} for i in idx]})
    if as_json:
        emit_json({"model": str(model), **run, "predictions": results})
        return
    t = Table(title=f"{model.name} ({run['engine']}, {run['device']})")
    t.add_column("image")
    t.add_column("rank", justify="right")
    t.add_column("class")
    t.add_column("probability", justify="right")
    for res in results:
        for rank, item in enumerate(res["top"], 1):
            t.add_row(res["image"] if rank == 1 else "", str(rank), item["class"], f"{item['probability']:.4f}")
        t.add_section()
    console.print(t)


@app.command()
def bench(
    model: Path = typer.Argument(..., help="model.onnx (fp32)"),
    int8: Optional[Path] = typer.Option(None, "--int8", help="Its INT8 export (cnnspec export --quantize int8)"),
    keras_model: Optional[Path] = typer.Option(None, "--keras", help="Compare with this .keras / run directory "
                                                                     "(the baseline of the ratios)"),
    engine: str = typer.Option("all", "--engine", help="all (every installed engine), onnxruntime, openvino"),
    data: Optional[str] = typer.Option(None, "--data", help="Dataset: accuracy and top-1 agreement on its test split"),
    limit: int = typer.Option(2000, "--limit", min=1, help="Test images for --data"),
    threads: Optional[int] = typer.Option(None, "--threads", help="Engine intra-op threads (default: all cores)"),
    batch: int = typer.Option(256, "--batch", min=1, help="Batch size for the throughput measurement"),
    runs: int = typer.Option(300, "--runs", min=10, help="Batch-1 calls timed for latency"),
    rounds: int = typer.Option(3, "--rounds", min=1, help="Rounds (variants in turn); best round per variant"),
    png: Optional[Path] = typer.Option(None, "--png", help="Also write a bar chart of the ratios here"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Every installed engine x precision (fp32, OpenVINO's bf16, INT8) vs Keras: latency, throughput, accuracy."""
    from cnnspec.deploy import bench as B
    from cnnspec.deploy.engines import cpu_name

    for path in (model, int8):
        if path is not None and path.suffix != ".onnx":
            raise CnnspecError("bench takes .onnx models (use --keras for the Keras side)", file=str(path))
    if engine not in ("all", "onnxruntime", "openvino"):
        raise CnnspecError(f"--engine {engine}: choose all, onnxruntime or openvino")
    models = B.engine_variants(model, int8, threads=threads, engines=None if engine == "all" else [engine],
                               on_notice=_notice)
    ref = next(iter(models.values()))
    runs_by_label = {label: m.run_scaled for label, m in models.items()}
    baseline = None
    if keras_model is not None:
        from cnnspec.keras.bench import keras_label, keras_runner
        from cnnspec.keras.export import load_keras

        km, meta, _ = load_keras(keras_model)
        if list(meta["input_shape"]) != list(ref.input_shape):
            raise CnnspecError(f"--keras model input {meta['input_shape']} differs from the ONNX model's "
                               f"{list(ref.input_shape)}")
        baseline = keras_label()
        runs_by_label = {baseline: keras_runner(km), **runs_by_label}
    x1, xb = B.inputs(ref.input_shape, ref.scale, ref.offset, batch)
    out = B.compare_variants(runs_by_label, x1, xb, rounds=rounds, baseline=baseline, latency_runs=runs)
    for label, m in models.items():
        out["variants"][label].update({"engine": m.engine, "precision": m.precision, "file": str(m.path)})
    if data:
        out["accuracy"] = _bench_accuracy(runs_by_label, ref, data, limit)
    out.update({"model": str(model), "int8": str(int8) if int8 else None, "cpu": cpu_name(), "batch": batch})
    if png is not None:
        B.write_png(png, out, f"{model.name} on {out['cpu']} (batch 1 / batch {batch})")
    if as_json:
        emit_json(out)
        return
    _bench_table(out, model.name, batch)


def _bench_accuracy(runs_by_label: dict, ref, data: str, limit: int) -> dict:
    """Accuracy of every variant on ``data``'s test split; agreement is with onnxruntime fp32."""
    import numpy as np

    from cnnspec.deploy.bench import accuracy
    from cnnspec.deploy.quantize import load_split

    x, y = load_split(data, "test", ref.input_shape, limit=limit)
    xs = (x.astype(np.float32) * ref.scale + ref.offset).astype(np.float32)
    ordered = {k: v for k, v in runs_by_label.items() if not k.startswith("keras")}
    ordered.update(runs_by_label)  # the onnxruntime fp32 reference first, Keras last
    acc = accuracy(ordered, xs, y)
    acc["_source"] = f"{data} test split ({len(x)} images)"
    return acc


def _bench_table(out: dict, name: str, batch: int) -> None:
    acc = out.get("accuracy", {})
    t = Table(title=f"{name} on {out['cpu']}: batch-1 latency, batch-{batch} throughput, ratios vs "
                    f"{out['baseline']}" + (f"; accuracy on {acc['_source']}" if acc else ""))
    cols = ["variant", "p50 ms", "p95 ms", "images/s", "latency ratio", "throughput ratio"] + \
        (["top-1 agreement", "accuracy"] if acc else [])
    for col in cols:
        t.add_column(col, justify="left" if col == "variant" else "right")
    for label, r in out["variants"].items():
        row = [label, f"{r['latency_ms_p50']:.3f}", f"{r['latency_ms_p95']:.3f}", f"{r['throughput_ips']:,.0f}",
               f"{r['latency_p50_ratio']:.2f}x", f"{r['throughput_ratio']:.2f}x"]
        if acc:
            a = acc.get(label, {})
            row += [f"{a['agreement'] * 100:.2f}%" if "agreement" in a else "",
                    f"{a['accuracy'] * 100:.2f}%" if "accuracy" in a else ""]
        t.add_row(*row)
    console.print(t)


@app.command()
def serve(
    model: Path = typer.Argument(..., help="model.onnx"),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: loopback only)"),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port (0: a free one, printed)"),
    engine: str = typer.Option("auto", "--engine", help=ENGINE_HELP),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    threads: Optional[int] = typer.Option(None, "--threads", help="Engine intra-op threads"),
    max_body: int = typer.Option(10 * 1024 * 1024, "--max-body", min=1, help="Largest accepted request body (bytes)"),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", min=1,
                                   help="Largest image (width x height) decoded; larger ones get 413"),
    max_batch: int = typer.Option(16, "--max-batch", min=1,
                                  help="Dynamic batching: most examples per engine call (1: no batching)"),
    max_wait_ms: float = typer.Option(2.0, "--max-wait-ms", min=0, max=10000,
                                      help="Dynamic batching: longest wait for a batch to fill (ms)"),
    batch_workers: int = typer.Option(2, "--batch-workers", min=1, max=64,
                                      help="Worker threads (each decodes, runs and answers one batch or, "
                                           "with --max-batch 1, one request at a time)"),
    max_concurrent: int = typer.Option(64, "--max-concurrent", min=1,
                                       help="Requests in progress at once (others wait unread)"),
) -> None:
    """Serve an .onnx model over HTTP: GET /health, GET /metadata, POST /predict."""
    from cnnspec.deploy.runtime import OnnxModel
    from cnnspec.deploy.serve import ServerLimits, bind, run

    if model.suffix != ".onnx":
        raise CnnspecError("serve takes an .onnx model: run `cnnspec export RUN -o model.onnx` first (a model "
                           "with several outputs: export one of them with --head NAME)", file=str(model))
    limits = ServerLimits(max_body=max_body, max_pixels=max_pixels, max_concurrent=max_concurrent,
                          max_batch=max_batch, max_wait_ms=max_wait_ms,
                          batch_workers=batch_workers)
    limits.check()
    sock = bind(host, port)  # a port in use is said before the model loads and the engine probe runs
    try:
        # Requests share the cores with the decode threads: no spin-waiting worker threads.
        m = OnnxModel(model, device=device, threads=threads, engine=engine, precision=precision, spinning=False,
                      max_pixels=max_pixels, on_notice=_notice)
    except BaseException:
        sock.close()
        raise
    if m.warning:
        _warn(m.warning)

    def serving(url: str) -> None:
        err_console.print(f"serving {model.name} on {url} ({m.engine}, {m.device}, {m.precision}; "
                          f"batching up to {max_batch} within {max_wait_ms:g} ms); Ctrl-C to stop", markup=False)

    run(m, host=host, port=port, limits=limits, on_serving=serving, sock=sock)

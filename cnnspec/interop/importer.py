"""`cnnspec import`: anything a user already has -> a spec. Pure Python, nothing is ever run.

One entry point, :func:`import_file`, detects what the file is and hands it to the importer for
that job: R code (:mod:`.import_r`), Python code (:mod:`.import_python`), a printed summary
table (:mod:`.import_summary`) or a saved model (:mod:`.import_model`). Every importer produces
an :class:`~cnnspec.interop.import_common.ImportedModel`; :mod:`.spec_writer` writes it as YAML
and validates it in memory before anything is written.
"""
from __future__ import annotations

import re
from pathlib import Path

from cnnspec.errors import SpecError
from cnnspec.interop.import_common import ImportedModel, safe_name
from cnnspec.interop.spec_writer import prune, to_yaml, validate
from cnnspec.spec.yamlio import read_text

FORMATS = ("r", "python", "summary", "model")
_LABELS = {"r": "R", "python": "Python", "summary": "printed summary", "model": "saved model"}
_MODEL_EXT = (".keras", ".h5", ".hdf5", ".json")


def detect_format(path: str, text: str | None) -> str:
    """r, python, summary or model, from the extension and then the content."""
    ext = Path(path).suffix.lower()
    if ext in (".r", ".rmd"):
        return "r"
    if ext == ".py":
        return "python"
    if ext in _MODEL_EXT:
        return "model"
    if text is None:
        return "model"
    if _looks_like_summary(text):
        return "summary"
    if re.search(r"%>%|\|>|<-|\blayer_[a-z_0-9]+\s*\(", text):
        return "r"
    return "python"


def _looks_like_summary(text: str) -> bool:
    head = text[:20000]
    if re.search(r"Param\s*#|Output\s+Shape|Total params", head, re.IGNORECASE):
        return True
    lines = [ln for ln in head.splitlines() if ln.strip()]
    return bool(lines) and bool(re.search(r"(?i)\blayer\b.*\b(shape|output)\b.*\bparam", lines[0]))


def build_model(text: str | None, file: str, fmt: str, input_shape: tuple | None = None) -> ImportedModel:
    """The imported model of a source in a given format."""
    try:
        if fmt == "r":
            from cnnspec.interop.import_r import RImporter

            return RImporter(text, file).run()
        if fmt == "python":
            from cnnspec.interop.import_python import PyImporter

            return PyImporter(text, file).run()
        if fmt == "summary":
            from cnnspec.interop.import_summary import import_summary

            return import_summary(text, file, input_shape)
        from cnnspec.interop.import_model import import_model_file

        return import_model_file(file)
    except RecursionError as exc:
        raise SpecError("nesting too deep for cnnspec import (it reads model definitions)", file=file) from exc


def import_text(text: str, file: str, name: str | None = None, lang: str | None = None,
                input_shape: tuple | None = None) -> str:
    """The spec YAML for code or a printed summary given as text (validated in memory).
    ``input_shape``: the model input, for summaries that do not print it."""
    fmt = lang or detect_format(file, text)
    if fmt not in FORMATS or fmt == "model":
        raise SpecError(f"cannot import text as '{fmt}': choose one of r, python, summary", file=file)
    return _finish(build_model(text, file, fmt, input_shape), file, name, fmt)


def import_file(path: str, name: str | None = None, lang: str | None = None,
                input_shape: tuple | None = None) -> str:
    """The spec YAML for a file: R or Python code, a printed summary, or a saved model."""
    path = str(path)
    if Path(path).suffix.lower() in (".yaml", ".yml") and lang is None:
        raise SpecError("this is a spec already (YAML): check it with `cnnspec check`, or give --from to read it "
                        "as code or a summary", file=path)
    if path == "-":
        return import_text(_stdin(), "<stdin>", name=name, lang=lang, input_shape=input_shape)
    what = "R or Python code or a printed summary (saved models: .keras, .h5, .json)"
    fmt = lang or detect_format(path, None if Path(path).suffix.lower() in _MODEL_EXT else read_text(path, what))
    if fmt == "model":
        return _finish(build_model(None, path, fmt), path, name, fmt)
    return import_text(read_text(path, what), path, name=name, lang=fmt, input_shape=input_shape)


def _stdin() -> str:
    """Text piped in (``cnnspec summary X | cnnspec import -``), bounded like a file."""
    import sys

    from cnnspec.spec.yamlio import MAX_BYTES

    data = sys.stdin.buffer.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise SpecError(f"more than {MAX_BYTES} bytes on standard input", file="<stdin>")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(f"standard input is not UTF-8 text (byte {exc.start})", file="<stdin>") from exc
    if not text.strip():
        raise SpecError("nothing on standard input", file="<stdin>")
    return text


def _finish(model: ImportedModel, file: str, name: str | None, fmt: str) -> str:
    prune(model)
    spec_name = name or model.name or (safe_name(Path(file).stem) if file != "<stdin>" else "imported")
    out = to_yaml(model, spec_name, f"{Path(file).name} ({_LABELS[fmt]})")
    report = validate(out, file)
    stored = (model.expect or {}).get("total")
    if fmt == "model" and stored is not None and stored != report.total:
        raise SpecError(f"the imported spec computes {report.total:,} parameters but the file's weights hold "
                        f"{stored:,}: a layer option cnnspec reads differently", file=file)
    return out

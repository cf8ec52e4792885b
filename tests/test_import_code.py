"""`cnnspec import` of R and Python code: the faults found from outside (Embedding arguments, deeply
nested files), idioms of published scripts, and the train section from compile()/fit()."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cnnspec.check.infer import check
from cnnspec.errors import SpecError
from cnnspec.interop.codegen import generate
from cnnspec.interop.importer import import_text
from cnnspec.spec.loader import load_spec

ROOT = Path(__file__).resolve().parents[1]

EMBED = """
name: emb
input: [100]
layers:
  - {type: Embedding, input_dim: 5000, output_dim: 50}
  - {type: Conv1D, filters: 250, kernel_size: 3, activation: relu}
  - {type: GlobalMaxPooling1D}
  - {type: Dense, units: 1, activation: sigmoid}
"""


def _spec(text: str):
    return load_spec("imported.yaml", text=text)


@pytest.mark.parametrize("lang", ["r", "python"])
def test_embedding_code_printed_by_cnnspec_imports(lang):
    spec = load_spec("emb.yaml", text=EMBED)
    back = _spec(import_text(generate(spec, lang), f"gen.{'R' if lang == 'r' else 'py'}"))
    assert back.rows[0].layer.options() == {"input_dim": 5000, "output_dim": 50}
    assert check(back).total == check(spec).total == 5000 * 50 + 3 * 50 * 250 + 250 + 251


def test_embedding_input_length_gives_the_input_shape():
    r = ("model <- keras_model_sequential()\nmodel %>%\n"
         "  layer_embedding(input_dim = 5000, output_dim = 50, input_length = 400) %>%\n"
         "  layer_flatten() %>% layer_dense(1)\n")
    spec = _spec(import_text(r, "imdb.R"))
    assert spec.input_shape == (400,) and spec.rows[0].layer.options() == {"input_dim": 5000, "output_dim": 50}
    py = ("from tensorflow.keras import layers, Sequential\n"
          "model = Sequential([layers.Embedding(20000, 128, input_length=80), layers.GlobalAveragePooling1D(),\n"
          "                    layers.Dense(1, activation='sigmoid')])\n")
    spec = _spec(import_text(py, "imdb.py"))
    assert spec.input_shape == (80,) and spec.rows[0].layer.options() == {"input_dim": 20000, "output_dim": 128}
    assert check(spec).total == 20000 * 128 + 129


@pytest.mark.parametrize("text,file", [
    ("x <- " + "c(" * 3000 + "1" + ")" * 3000 + "\n", "deep.R"),
    ("x <- " + "{" * 500 + "1" + "}" * 500 + "\n", "deep2.R"),
    ("x <- " + "-" * 5000 + "1\n", "deep3.R"),
    ("x = " + "[" * 3000 + "1" + "]" * 3000 + "\n", "deep.py"),
    ("x = " + "[" * 150 + "1" + "]" * 150 + "\n", "deep2.py"),
    ("x = 1" + " + 1" * 100000 + "\n", "long.py"),
])
def test_deeply_nested_file_is_a_one_line_error(text, file, tmp_path):
    p = tmp_path / file
    p.write_text(text)
    r = subprocess.run([sys.executable, "-m", "cnnspec", "import", str(p)], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ") and r.stderr.strip().count("\n") == 0, r.stderr
    assert "internal error" not in r.stderr and str(p) in r.stderr


def test_import_output_over_input_is_refused(tmp_path):
    src = tmp_path / "m.R"
    text = "model <- keras_model_sequential(input_shape = 4) |> layer_dense(2)\n"
    src.write_text(text)
    r = subprocess.run([sys.executable, "-m", "cnnspec", "import", str(src), "-o", str(src)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "is the input" in r.stderr
    assert src.read_text() == text

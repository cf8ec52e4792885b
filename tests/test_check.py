"""The spec language and `cnnspec check`: seeds, diagnostics, JSON, exit codes, no TensorFlow."""
import json
import subprocess
import sys

import pytest

from cnnspec.check.infer import check
from cnnspec.errors import SpecError
from cnnspec.spec.loader import load_spec, load_specs
from conftest import ROOT, SPECS, cli_subprocess

ALL_SPECS = sorted(SPECS.glob("*.yaml"))


def flagged(path):
    return sorted((m.name, m.field) for rep in map(check, load_specs(path)) for m in rep.mismatches)


@pytest.mark.parametrize("name", ["table3", "table5", "table6", "cifar10_m", "seed001_appendix",
                                  "seed002_mnist", "seed002_vgg"])
def test_correct_seed_tables_agree(name):
    assert flagged(SPECS / f"{name}.yaml") == []


def test_table3_2_flags_exactly_conv2d_6_output():
    rep = check(load_spec(SPECS / "table3_2.yaml"))
    assert [(m.name, m.field, m.expected, m.computed) for m in rep.mismatches] == [
        ("conv2d_6", "output", (4, 4, 128), (8, 8, 128))]
    hint = rep.mismatches[0].hint
    assert "max_pooling2d_3" in hint and "batch_normalization_3" in hint
    assert rep.total == 551978 and rep.trainable == 551274 and rep.non_trainable == 704


def test_lenet5_flags_exactly_the_wrong_printed_counts():
    rep = check(load_spec(SPECS / "lenet5.yaml"))
    got = {(m.name, m.field): (m.expected, m.computed) for m in rep.mismatches}
    assert got == {("S2", "params"): (12, 0), ("C3", "params"): (416, 2416), ("S4", "params"): (32, 0),
                   ("C5", "params"): (3000, 48120), ("output", "params"): (924, 850)}
    by = {m.name: m for m in rep.mismatches}
    assert "input channels left out" in by["C3"].hint
    assert by["C3"].formula == "5*5*6*16 + 16 = 2416"
    assert "input channels and the bias" in by["C5"].hint
    assert "no weights" in by["S2"].hint


def test_seed001_dense_without_bias_explains_5760():
    rep = check(load_spec(SPECS / "seed001_appendix.yaml"))
    dense = rep.rows[-1]
    assert dense.count.total == 5760 and dense.count.formula == "576*10 = 5760"
    assert (rep.total, rep.trainable, rep.non_trainable) == (34912, 34656, 256)


def test_family_variants_expand_as_table9():
    specs = {s.variant: s for s in load_specs(SPECS / "cifar10_m.yaml")}
    assert list(specs) == [f"M{i}" for i in range(1, 9)]
    count = lambda s, t: sum(r.type == t for r in s.rows)  # noqa: E731
    # (convolutions, batch norms, dense layers) per Table 9: conv layers x3 blocks, FC layers
    table9 = {"M1": (1, 0, 1), "M2": (2, 0, 1), "M3": (2, 1, 1), "M4": (2, 1, 2), "M5": (2, 1, 3),
              "M6": (3, 1, 1), "M7": (3, 1, 2), "M8": (3, 1, 3)}
    for v, (n_conv, bn, fc) in table9.items():
        s = specs[v]
        assert count(s, "Conv2D") == 3 * n_conv
        assert count(s, "BatchNormalization") == (3 * n_conv if bn else 0)
        assert count(s, "Dense") == fc
    assert load_spec(f"{SPECS / 'cifar10_m.yaml'}#M6").variant == "M6"
    with pytest.raises(SpecError, match="choose one"):
        load_spec(SPECS / "cifar10_m.yaml")


def test_json_output_schema(run_cli):
    code, out, _ = run_cli("check", "--json", SPECS / "lenet5.yaml")
    assert code == 1
    doc = json.loads(out)
    assert doc["total_params"] == doc["trainable_params"] + doc["non_trainable_params"] == 61706
    assert [l["name"] for l in doc["layers"]][:2] == ["C1", "S2"]
    first = doc["layers"][0]
    assert first["type"] == "Conv2D" and first["output_shape"] == [28, 28, 6] and first["params"] == 156
    m = doc["mismatches"][0]
    assert set(m) >= {"layer", "field", "expected", "computed", "line", "hint"}
    assert m["layer"] == 1 and m["field"] == "params" and m["line"] == 16


def test_json_totals_mismatch_has_null_layer(tmp_path, run_cli):
    p = tmp_path / "t.yaml"
    p.write_text("input: [4]\nlayers:\n  - {type: Dense, units: 2}\nexpect: {total: 8, trainable: 10}\n")
    code, out, _ = run_cli("check", "--json", p)
    doc = json.loads(out)
    assert code == 1
    assert [(m["layer"], m["field"], m["expected"], m["computed"]) for m in doc["mismatches"]] == [
        (None, "total", 8, 10)]


def test_exit_codes(run_cli, tmp_path):
    assert run_cli("check", SPECS / "table3.yaml")[0] == 0
    assert run_cli("check", SPECS / "table3_2.yaml")[0] == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [28, 28, 1]\nlayers: [{type: Conv2d}]\n")
    code, out, err = run_cli("check", bad)
    assert code == 2 and len(err.strip().splitlines()) == 1 and f"{bad}:2" in err
    # several files: the worst exit code wins, every file is reported
    code, out, err = run_cli("check", SPECS / "table3.yaml", bad, SPECS / "lenet5.yaml")
    assert code == 2 and "table3: OK" in out and "lenet5: 5 mismatch" in out


def test_check_diagnostic_names_file_line_formula(run_cli):
    code, out, _ = run_cli("check", "-q", SPECS / "lenet5.yaml")
    assert "specs/lenet5.yaml:17: C3: params expected 416, computed 2416 (5*5*6*16 + 16 = 2416)" in out


def test_summary_formats(run_cli):
    code, out, _ = run_cli("summary", SPECS / "table6.yaml", "--format", "markdown")
    assert code == 0 and "| dense (Dense) | (None, 128) | 1,179,776 |" in out
    assert "Total params: 1,199,882" in out
    code, out, _ = run_cli("summary", SPECS / "table6.yaml", "--format", "latex")
    assert r"\begin{tabular}" in out and r"max\_pooling2d (MaxPooling2D)" in out
    code, out, _ = run_cli("summary", SPECS / "table6.yaml", "--format", "json")
    assert json.loads(out)["total_params"] == 1199882
    code, out, _ = run_cli("summary", SPECS / "table6.yaml")
    assert "conv2d_1 (Conv2D)" in out and "(None, 24, 24, 64)" in out


def test_check_never_imports_tensorflow():
    code = (
        "import sys\n"
        "from cnnspec.cli import main\n"
        "try:\n"
        f"    main(['check', '-q', {str(SPECS / 'table3_2.yaml')!r}, {str(SPECS / 'cifar10_m.yaml')!r}])\n"
        "except SystemExit:\n    pass\n"
        "try:\n"
        f"    main(['summary', {str(SPECS / 'table6.yaml')!r}, '-f', 'latex'])\n"
        "except SystemExit:\n    pass\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf2onnx')]\n"
        "print('IMPORTED', bad)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert "IMPORTED []" in res.stdout, res.stdout + res.stderr


def test_cli_subprocess_has_no_traceback_on_bad_input(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"\x00\x01\x02binary")
    res = cli_subprocess("check", bad)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert "binary" in res.stderr


def test_r_names_and_printed_forms(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text(
        "input: '(None, 28, 28, 1)'\n"
        "layers:\n"
        "  - {type: layer_conv_2d, filters: 32, kernel_size: [3, 3], activation: relu,\n"
        "     expect: {output: [null, 26, 26, 32], params: '320'}}\n"
        "  - {type: layer_flatten, expect: {output: '(None, 21632)'}}\n"
        "  - {type: layer_dense, units: 10, expect: {output: [10], params: '216,330'}}\n")
    rep = check(load_spec(p))
    assert rep.ok, [m.message("x") for m in rep.mismatches]
    assert [r.row.type for r in rep.rows] == ["Conv2D", "Flatten", "Dense"]
    assert rep.spec.input_shape == (28, 28, 1)


def test_blocks_repeat_vars_and_block_input(tmp_path):
    p = tmp_path / "res.yaml"
    p.write_text(
        "input: [16, 16, 8]\n"
        "vars: {f: 8}\n"
        "blocks:\n"
        "  residual:\n"
        "    - {type: Conv2D, name: 'res${i}_a', filters: $f, kernel_size: 3, padding: same, activation: relu}\n"
        "    - {type: Conv2D, name: 'res${i}_b', filters: $f, kernel_size: 3, padding: same}\n"
        "    - {type: Add, name: 'res${i}_add', inputs: ['res${i}_b', $input]}\n"
        "layers:\n"
        "  - {type: Conv2D, filters: 8, kernel_size: 1}\n"
        "  - {use: residual, repeat: 3}\n"
        "  - {type: GlobalAveragePooling2D}\n"
        "  - {type: Dense, units: 3}\n")
    spec = load_spec(p)
    names = [r.name for r in spec.rows]
    assert names[:4] == ["conv2d", "res1_a", "res1_b", "res1_add"]
    assert spec.rows[3].inputs == ["res1_b", "conv2d"]
    assert spec.rows[6].inputs == ["res2_b", "res1_add"]
    rep = check(spec)
    assert rep.rows[-1].output == (3,)
    assert rep.total == 72 + 6 * (3 * 3 * 8 * 8 + 8) + 27


def test_inception_style_concatenate(tmp_path):
    p = tmp_path / "inc.yaml"
    p.write_text(
        "input: [32, 32, 3]\n"
        "layers:\n"
        "  - {type: Conv2D, name: b1, filters: 8, kernel_size: 1, inputs: [input]}\n"
        "  - {type: Conv2D, name: b3, filters: 16, kernel_size: 3, padding: same, inputs: [input]}\n"
        "  - {type: MaxPooling2D, name: bp, pool_size: 3, strides: 1, padding: same, inputs: [input]}\n"
        "  - {type: Concatenate, inputs: [b1, b3, bp], expect: {output: [32, 32, 27]}}\n")
    rep = check(load_spec(p))
    assert rep.ok and rep.rows[-1].output == (32, 32, 27)


def test_json_spec_equivalent_to_yaml(tmp_path):
    p = tmp_path / "t.json"
    p.write_text(json.dumps({"input": [28, 28, 1], "layers": [
        {"type": "Conv2D", "filters": 32, "kernel_size": [3, 3], "expect": {"params": 320}}]}))
    assert check(load_spec(p)).ok


def test_none_dims_pass_through(tmp_path):
    p = tmp_path / "n.yaml"
    p.write_text("input: [null, null, 3]\nlayers:\n  - {type: Conv2D, filters: 4, kernel_size: 3}\n"
                 "  - {type: GlobalMaxPooling2D}\n")
    rep = check(load_spec(p))
    assert rep.rows[0].output == (None, None, 4) and rep.rows[1].output == (4,)
    assert rep.to_json()["layers"][0]["output_shape"] == [None, None, 4]


def test_fingerprint_ignores_comments_and_expectations(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("input: [4]\nlayers:\n  - {type: Dense, units: 2}\n")
    b.write_text("# comment\ninput: [4]\nlayers:\n  - {type: Dense, units: 2, expect: {params: 10}}\n")
    assert load_spec(a).fingerprint() == load_spec(b).fingerprint()
    b.write_text("input: [4]\nlayers:\n  - {type: Dense, units: 3}\n")
    assert load_spec(a).fingerprint() != load_spec(b).fingerprint()


def test_every_layer_type_is_documented_and_listed(run_cli):
    from cnnspec.layers import LAYER_CLASSES

    doc = (ROOT / "docs" / "layers.md").read_text()
    code, out, _ = run_cli("layers", "--json")
    listed = {r["type"]: r for r in json.loads(out)}
    for cls in LAYER_CLASSES:
        assert f"`{cls.keras_class}`" in doc and f"`{cls.r_name}`" in doc, cls.keras_class
        assert listed[cls.keras_class]["r_name"] == cls.r_name
    assert listed["Conv2D"]["options"]["filters"]["default"] == "required"
    assert listed["MaxPooling2D"]["options"]["pool_size"]["default"] == 2


def test_check_validates_the_train_section(tmp_path, run_cli):
    p = tmp_path / "t.yaml"
    p.write_text("input: [4]\nlayers:\n  - {type: Dense, units: 2}\ntrain:\n  batchsize: 3\n")
    code, _, err = run_cli("check", p)
    assert code == 2 and f"{p}:5:" in err and "batch_size" in err


def test_expected_shape_list_may_say_none_as_keras_prints_it():
    from cnnspec.errors import SpecError
    from cnnspec.spec.loader import load_spec

    text = "input: [28, 28, 1]\nlayers:\n  - {type: Conv2D, filters: 8, kernel_size: 3, expect: {output: %s}}\n"
    spec = load_spec("s.yaml", text=text % "[None, 26, 26, 8]")
    assert spec.rows[0].expect.output == (None, 26, 26, 8) and check(spec).ok
    assert not check(load_spec("s.yaml", text=text % "[None, 26, 25, 8]")).ok
    with pytest.raises(SpecError) as ei:
        load_spec("s.yaml", text=text % "[None, 26, x, 8]")
    assert str(ei.value) == "s.yaml:3: expect.output: dimensions must be positive integers or null, got 'x'"


@pytest.mark.parametrize("width", [60, 80, 100])
def test_a_narrow_terminal_never_cuts_counts_or_shapes(width):
    """Too wide for the page: the printed-value columns go (the mark and the mismatch lines stay);
    counts and shapes are never cut, by the plain renderer or by rich."""
    import io

    from rich.console import Console

    from cnnspec.check.render import table_model, to_rich
    from cnnspec.check.texttable import render_text

    for path in ("table3_2.yaml", "seed002_vgg.yaml"):
        for rep in [check(s) for s in load_specs(str(ROOT / "specs" / path))]:
            model = table_model(rep).fitted(width)
            buf = io.StringIO()
            Console(file=buf, width=width, color_system=None).print(to_rich(model))
            plain = render_text(model, width)
            for text in filter(None, (buf.getvalue(), plain)):
                assert max(len(ln) for ln in text.splitlines() if not ln.startswith("Model:")) <= width
                for r in rep.rows:
                    assert f"{r.count.total:,}" in text and "…" not in text
            printed_kept = any(c.header.startswith("Printed") for c in model.columns)
            assert printed_kept == (table_model(rep).width() <= width)

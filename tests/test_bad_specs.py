"""Invalid input: every bad spec gets exit 2 and one line naming the file and line, fast, with
bounded memory, never a traceback (a corpus plus property-based tests)."""
import re
import resource
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnspec.check.infer import check
from cnnspec.errors import CnnspecError, SpecError
from cnnspec.spec.loader import load_specs

BAD = Path(__file__).parent / "bad_specs"
# files that cannot carry a header comment
NO_HEADER = {"empty.yaml": ("empty file", None), "binary.yaml": ("binary file", None),
             "bad_json.json": ("malformed JSON: Expecting property name", 3)}


def header(path: Path):
    if path.name in NO_HEADER:
        return NO_HEADER[path.name]
    text = path.read_text()
    err = re.search(r"# expect-error: (.*)", text).group(1).strip()
    line = re.search(r"# expect-line: (\S+)", text).group(1)
    return err, None if line == "any" else int(line)


CORPUS = sorted(p for p in BAD.iterdir() if p.is_file())


def test_corpus_is_large():
    assert len(CORPUS) >= 35


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_bad_spec_one_line_exit_2(path, run_cli):
    err_text, line = header(path)
    code, out, err = run_cli("check", path)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert str(path) in lines[0]
    assert err_text in lines[0], lines[0]
    if line is not None:
        assert f"{path}:{line}:" in lines[0], lines[0]


def test_bad_spec_json_error_object(run_cli):
    import json

    code, out, _ = run_cli("check", "--json", BAD / "unknown_option.yaml")
    doc = json.loads(out)
    assert code == 2 and doc["line"] == 7 and doc["field"] == "filter" and "filters" in doc["error"]


def test_alias_bomb_bounded_memory():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(SpecError, match="alias bomb"):
        load_specs(BAD / "alias_bomb.yaml")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KB


def test_oversized_file(tmp_path, run_cli):
    p = tmp_path / "big.yaml"
    p.write_text("input: [4]\nlayers:\n" + "  - {type: ReLU}\n" * 200_000)
    code, _, err = run_cli("check", p)
    assert code == 2 and "at most" in err


def test_missing_file(run_cli):
    code, _, err = run_cli("check", "no/such/spec.yaml")
    assert code == 2 and "no/such/spec.yaml: no such file" in err


def _check_text(tmp_path, text: str | bytes, suffix=".yaml"):
    p = tmp_path / f"fuzz{suffix}"
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8", errors="surrogatepass") if False else p.write_bytes(
            text.encode("utf-8", "surrogatepass"))
    try:
        for spec in load_specs(p):
            check(spec)
    except CnnspecError as exc:
        msg = str(exc)
        assert "\n" not in msg.strip() or len(msg.strip().splitlines()) == 1
        assert exc.exit_code == 2
        assert msg.startswith(str(p))


VALID = """\
input: [28, 28, 1]
layers:
  - {type: Conv2D, filters: 8, kernel_size: 3, activation: relu}
  - {type: MaxPooling2D, pool_size: 2}
  - {type: Flatten}
  - {type: Dense, units: 10}
"""


@settings(max_examples=150, deadline=1000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400))
def test_random_bytes_never_crash(tmp_path, data):
    _check_text(tmp_path, data)


@settings(max_examples=200, deadline=1000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pos=st.integers(0, len(VALID)), junk=st.text(max_size=12), cut=st.integers(0, 20))
def test_mutated_spec_never_crashes(tmp_path, pos, junk, cut):
    _check_text(tmp_path, VALID[:pos] + junk + VALID[pos + cut:])


scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=8), st.sampled_from(["same", "valid", "relu", "-1", "$x", "${i}"]))
options = st.dictionaries(st.sampled_from(["filters", "kernel_size", "strides", "padding", "units", "rate",
                                           "pool_size", "target_shape", "inputs", "name", "axis", "size",
                                           "cropping", "padding", "use_bias", "expect", "repeat", "use"]),
                          st.one_of(scalars, st.lists(scalars, max_size=4)), max_size=4)
rows = st.builds(lambda t, o: {"type": t, **o},
                 st.sampled_from(["Conv2D", "Conv1D", "Dense", "MaxPooling2D", "Reshape", "Flatten", "Add",
                                  "Concatenate", "ZeroPadding2D", "Cropping2D", "BatchNormalization",
                                  "Conv2DTranspose", "UpSampling2D", "Embedding", "Nope"]), options)


@settings(max_examples=300, deadline=1000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(inp=st.lists(st.one_of(st.none(), st.integers(-2, 64)), min_size=0, max_size=4),
       layers=st.lists(rows, max_size=6))
def test_random_structures_give_spec_errors_only(tmp_path, inp, layers):
    import json

    _check_text(tmp_path, json.dumps({"input": inp, "layers": layers}, default=str), suffix=".json")


def test_utf16_with_its_byte_order_mark_is_read(tmp_path):
    """Windows PowerShell's `>` writes UTF-16 with a byte-order mark: a spec (or summary) saved so reads."""
    from cnnspec.spec.loader import load_spec

    p = tmp_path / "s.yaml"
    p.write_bytes("name: n\ninput: [8]\nlayers:\n  - {type: Dense, units: 2}\n".encode("utf-16"))
    assert check(load_spec(p)).total == 18
    p.write_bytes(b"\xff\xfe" + b"\x00\xd8")  # a lone surrogate: not UTF-16 text
    with pytest.raises(SpecError, match="not UTF-16 text after its byte-order mark"):
        load_spec(p)

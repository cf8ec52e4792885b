"""The TensorFlow-free runtime: imports, predictions, bad files, devices, images."""
from __future__ import annotations

import io
import json
import textwrap

import numpy as np
import pytest

from cnnspec.errors import CnnspecError, ModelFileError
from tests.deploy_helpers import artefacts, run_without_tf


@pytest.fixture(scope="module")
def art():
    return artefacts()


@pytest.fixture(scope="module")
def model(art):
    from cnnspec.deploy.runtime import OnnxModel

    return OnnxModel(art.onnx, device="cpu")


def test_runtime_imports_and_predicts_without_tensorflow(art):
    code = textwrap.dedent(f"""
        import json, sys
        import numpy as np
        from cnnspec.deploy.runtime import OnnxModel
        m = OnnxModel({str(art.onnx)!r}, device="cpu")
        x = np.zeros((3, *m.input_shape), dtype=np.uint8)
        p = m.predict(x)
        top = m.predict_images([{str(art.images[0])!r}], top=2)
        bad = [k for k in sys.modules if k.split('.')[0] in ('tensorflow', 'keras')]
        print(json.dumps({{"shape": list(p.shape), "top": top, "bad": bad}}))
    """)
    res = run_without_tf(code)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["bad"] == []
    assert out["shape"] == [3, len(art.meta["class_names"])]
    assert len(out["top"][0]) == 2 and out["top"][0][0][0] in art.meta["class_names"]


def test_cli_predict_onnx_without_tensorflow(art):
    code = textwrap.dedent(f"""
        import sys
        from cnnspec.cli import main
        main(["predict", {str(art.onnx)!r}, {str(art.images[0])!r}, {str(art.images[1])!r}, "--json", "--top", "3"])
    """)
    res = run_without_tf(code)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["engine"] == "onnxruntime" and len(out["predictions"]) == 2
    assert all(len(p["top"]) == 3 for p in out["predictions"])
    # table output too
    res = run_without_tf(code.replace('"--json", ', ""))
    assert res.returncode == 0, res.stderr
    assert "probability" in res.stdout and art.images[0].name in res.stdout


def test_keras_model_without_tensorflow_is_one_line(art):
    res = run_without_tf(f"from cnnspec.cli import main; main(['predict', {str(art.run)!r}, {str(art.images[0])!r}])")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "cnnspec[train]" in lines[0], res.stderr


def test_predict_matches_keras(art, model):
    probs = model.predict(art.x_test, batch_size=64)
    ref = np.asarray(art.model(art.x_test.astype("float32") * np.float32(art.meta["scale"]), training=False))
    assert np.max(np.abs(probs - ref)) <= 1e-5
    assert (probs.argmax(1) == ref.argmax(1)).all()
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)


def test_metadata_and_single_example(art, model):
    assert model.class_names == art.meta["class_names"]
    assert list(model.input_shape) == art.meta["input_shape"]
    assert model.scale == pytest.approx(1 / 255)
    assert model.meta["spec_fingerprint"] == "f00dfeed"
    one = model.predict(art.x_test[0])                 # (H, W, C)
    assert one.shape == (1, len(model.class_names))
    if model.input_shape[-1] == 1:
        two = model.predict(art.x_test[:2, ..., 0])   # (N, H, W) for one-channel models
        assert two.shape[0] == 2


@pytest.mark.parametrize("make, msg", [
    (lambda shape: np.zeros((2, 5, 5, 1)), "shape"),
    (lambda shape: np.array([["a", "b"]]), "numbers"),
    (lambda shape: np.ones((1, *shape), dtype=bool), "numbers"),
    (lambda shape: np.zeros((0, *shape)), "empty"),
    (lambda shape: np.full((1, *shape), np.nan), "NaN"),
])
def test_bad_arrays(model, make, msg):
    from cnnspec.deploy.runtime import InputError

    with pytest.raises(InputError, match=msg):
        model.predict(make(model.input_shape))


def test_predict_images_ordinary_photos(model, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = tmp_path / "photo.jpg"
    Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)).save(rgb, quality=90)
    rgba = tmp_path / "alpha.png"
    Image.fromarray(rng.integers(0, 256, (50, 30, 4), dtype=np.uint8), "RGBA").save(rgba)
    gray = Image.fromarray(rng.integers(0, 256, (100, 100), dtype=np.uint8), "L")
    buf = io.BytesIO()
    gray.save(buf, format="PNG")
    res = model.predict_images([rgb, rgba, gray, buf.getvalue()], top=3)
    assert len(res) == 4
    for top in res:
        assert len(top) == 3
        probs = [p for _, p in top]
        assert probs == sorted(probs, reverse=True)
        assert all(name in model.class_names for name, _ in top)
    assert model.load_image(rgb).shape == tuple(model.input_shape)


def test_non_image_is_input_error(model, tmp_path):
    from cnnspec.deploy.runtime import InputError

    txt = tmp_path / "notes.png"
    txt.write_text("hello")
    with pytest.raises(InputError, match="not a readable image"):
        model.predict_images([txt])
    with pytest.raises(InputError, match="empty"):
        model.load_image(b"")
    with pytest.raises(InputError, match="no such image"):
        model.load_image(tmp_path / "missing.png")


@pytest.mark.parametrize("content", [b"", b"this is a text file, not a model\n", bytes(range(256)) * 40,
                                     b"\x08\x07\x12\x04junk"])
def test_corrupt_onnx_is_one_line_model_file_error(tmp_path, content):
    from cnnspec.deploy.runtime import OnnxModel

    p = tmp_path / "model.onnx"
    p.write_bytes(content)
    for device in ("auto", "cpu"):
        with pytest.raises(ModelFileError) as exc:
            OnnxModel(p, device=device, on_notice=None)
        text = str(exc.value)
        assert "\n" not in text and "model.onnx" in text


def test_missing_onnx(tmp_path):
    from cnnspec.deploy.runtime import OnnxModel

    with pytest.raises(ModelFileError, match="no such file"):
        OnnxModel(tmp_path / "nope.onnx")
    with pytest.raises(ModelFileError, match="directory"):
        OnnxModel(tmp_path)


def test_cli_corrupt_onnx_exit_2(tmp_path):
    p = tmp_path / "fake.onnx"
    p.write_text("not a model")
    img = tmp_path / "x.png"
    from PIL import Image

    Image.new("L", (8, 8)).save(img)
    res = run_without_tf(f"from cnnspec.cli import main; main(['predict', {str(p)!r}, {str(img)!r}])")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "fake.onnx" in lines[0] and "not an ONNX model" in lines[0]


# ---- devices / providers ---------------------------------------------------------------

def test_auto_on_this_machine_runs_on_cpu_with_one_line_notice(art):
    import onnxruntime as ort

    from cnnspec.deploy.runtime import OnnxModel

    notes = []
    m = OnnxModel(art.onnx, device="auto", on_notice=notes.append)
    gpu_listed = any(p in ort.get_available_providers()
                     for p in ("CUDAExecutionProvider", "TensorrtExecutionProvider"))
    if m.device != "cpu":
        pytest.skip(f"a GPU provider really started here ({m.providers})")
    assert m.providers == ["CPUExecutionProvider"]
    if gpu_listed:
        assert len(notes) == 1 and "\n" not in notes[0]
        assert notes[0].startswith("cnnspec: running on CPU (")
        assert "did not start" in notes[0]
    else:
        assert notes == []


def test_auto_notice_is_the_only_stderr_output(art):
    res = run_without_tf(f"from cnnspec.deploy.runtime import OnnxModel; OnnxModel({str(art.onnx)!r}); print('ok')")
    assert res.returncode == 0 and res.stdout.strip() == "ok"
    assert len(res.stderr.strip().splitlines()) <= 1
    assert "EP Error" not in res.stderr and "Traceback" not in res.stderr


class _FakeSession:
    """Wraps a real CPU session but pretends the requested GPU provider silently fell back."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def get_providers(self):
        return ["CPUExecutionProvider"]


def _patch_ort(monkeypatch, available, behaviour):
    import onnxruntime as ort

    real_cls = ort.InferenceSession

    def fake(path, sess_options=None, providers=None, **kw):
        if providers and providers[0] != "CPUExecutionProvider":
            if behaviour == "raise":
                raise RuntimeError("CUDA failure 100: no CUDA-capable device is detected ; GPU=0")
            return _FakeSession(real_cls(path, sess_options, providers=["CPUExecutionProvider"]))
        return real_cls(path, sess_options, providers=providers, **kw)

    monkeypatch.setattr(ort, "get_available_providers", lambda: list(available))
    monkeypatch.setattr(ort, "InferenceSession", fake)


@pytest.mark.parametrize("behaviour", ["silent", "raise"])
def test_auto_falls_back_when_gpu_provider_does_not_start(art, monkeypatch, behaviour):
    from cnnspec.deploy.runtime import DeviceError, OnnxModel

    _patch_ort(monkeypatch, ["CUDAExecutionProvider", "CPUExecutionProvider"], behaviour)
    notes = []
    m = OnnxModel(art.onnx, device="auto", on_notice=notes.append)
    assert m.device == "cpu" and len(notes) == 1
    assert "CUDAExecutionProvider did not start" in notes[0]
    if behaviour == "raise":
        assert "no CUDA-capable device is detected" in notes[0]
    assert m.predict(art.x_test[:2]).shape[0] == 2
    with pytest.raises(DeviceError) as exc:
        OnnxModel(art.onnx, device="cuda", on_notice=notes.append)
    assert "device cuda unavailable" in str(exc.value) and "\n" not in str(exc.value)
    assert exc.value.exit_code == 2


def test_cpu_only_build(art, monkeypatch):
    from cnnspec.deploy.runtime import DeviceError, OnnxModel

    _patch_ort(monkeypatch, ["CPUExecutionProvider"], "silent")
    notes = []
    m = OnnxModel(art.onnx, device="auto", on_notice=notes.append)
    assert m.device == "cpu" and notes == []  # nothing surprising on a CPU-only install
    with pytest.raises(DeviceError, match="TensorrtExecutionProvider not in this onnxruntime build"):
        OnnxModel(art.onnx, device="tensorrt")


def test_gpu_that_really_starts_is_used(art, monkeypatch):
    import onnxruntime as ort

    from cnnspec.deploy.runtime import OnnxModel

    real_cls = ort.InferenceSession

    class _GpuSession(_FakeSession):
        def get_providers(self):
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]

    def fake(path, sess_options=None, providers=None, **kw):
        real = real_cls(path, sess_options, providers=["CPUExecutionProvider"])
        return _GpuSession(real) if providers and "CUDAExecutionProvider" in providers else real

    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ort, "InferenceSession", fake)
    notes = []
    m = OnnxModel(art.onnx, device="auto", on_notice=notes.append)
    assert m.device == "cuda" and notes == []


def test_bad_device_and_threads(art):
    from cnnspec.deploy.runtime import OnnxModel

    with pytest.raises(CnnspecError, match="unknown device"):
        OnnxModel(art.onnx, device="tpu")
    with pytest.raises(CnnspecError, match="threads"):
        OnnxModel(art.onnx, device="cpu", threads=0)
    m = OnnxModel(art.onnx, device="cpu", threads=1)
    assert m.predict(art.x_test[:1]).shape[0] == 1


def test_onnx_without_cnnspec_metadata(art, tmp_path):
    import onnx

    from cnnspec.deploy.runtime import OnnxModel

    m = onnx.load(str(art.onnx))
    del m.metadata_props[:]
    plain = tmp_path / "plain.onnx"
    onnx.save(m, str(plain))
    om = OnnxModel(plain, device="cpu")
    assert om.warning and "no cnnspec metadata" in om.warning
    assert om.class_names == [str(i) for i in range(len(art.meta["class_names"]))]
    assert om.scale == 1.0


def test_cli_bench_onnx_only_without_tensorflow(art):
    res = run_without_tf(f"from cnnspec.cli import main; main(['bench', {str(art.onnx)!r}, '--runs', '10', "
                         f"'--batch', '16', '--rounds', '1', '--json'])")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    o = out["variants"]["onnxruntime fp32"]
    assert o["latency_ms_p50"] > 0 and o["latency_ms_p95"] >= o["latency_ms_p50"]
    assert o["throughput_ips"] > 0 and o["throughput_batch"] == 16
    assert out["baseline"] == "onnxruntime fp32" and not any(k.startswith("keras") for k in out["variants"])


# ---- hostile files (issue 9) -------------------------------------------------------------

def _with_meta(art, tmp_path, **changes):
    import onnx

    m = onnx.load(str(art.onnx))
    props = {p.key: p.value for p in m.metadata_props}
    meta = json.loads(props["cnnspec"])
    meta.update(changes)
    del m.metadata_props[:]
    e = m.metadata_props.add()
    e.key, e.value = "cnnspec", json.dumps(meta) if not isinstance(changes.get("raw"), str) else changes["raw"]
    p = tmp_path / "lying.onnx"
    onnx.save(m, str(p))
    return p


@pytest.mark.parametrize("changes, msg", [
    ({"input_shape": [30000, 30000, 1]}, "does not match the graph's input"),
    ({"input_shape": [28, 28]}, "does not match the graph's input"),
    ({"input_shape": "big"}, "input_shape"),
    ({"scale": float("nan")}, "scale must be a finite number"),
    ({"offset": float("inf")}, "offset must be a finite number"),
    ({"scale": "1/255"}, "scale must be a finite number"),
    ({"class_names": ["a", "b"]}, "class names"),
])
def test_metadata_is_checked_against_the_graph(art, tmp_path, changes, msg):
    from cnnspec.deploy.runtime import OnnxModel

    p = _with_meta(art, tmp_path, **changes)
    with pytest.raises(ModelFileError, match=msg) as exc:
        OnnxModel(p, device="cpu", on_notice=None)
    assert "\n" not in str(exc.value) and "lying.onnx" in str(exc.value)


def test_cli_predict_with_lying_metadata_is_one_line_exit_2(art, tmp_path):
    p = _with_meta(art, tmp_path, input_shape=[30000, 30000, 1])
    res = run_without_tf(f"from cnnspec.cli import main; main(['predict', {str(p)!r}, {str(art.images[0])!r}, "
                         "'--engine', 'onnxruntime'])")
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not match the graph's input" in lines[0]


def test_sixteen_bit_png_is_scaled_not_clipped(model, art, tmp_path):
    from PIL import Image

    gray = art.x_test[0, ..., 0] if art.x_test.shape[-1] == 1 else art.x_test[0].mean(-1)
    gray = np.asarray(gray, dtype=np.uint8)
    p8, p16 = tmp_path / "eight.png", tmp_path / "sixteen.png"
    Image.fromarray(gray).save(p8)
    Image.fromarray(gray.astype(np.uint16) * 257).save(p16)
    assert Image.open(p16).mode.startswith("I")  # really a 16-bit file
    np.testing.assert_array_equal(model.load_image(p8), model.load_image(p16))
    assert model.predict_images([p8], top=3) == model.predict_images([p16], top=3)
    assert model.load_image(p16).max() <= 255


def test_image_above_the_pixel_limit_is_refused_before_decoding(art, tmp_path):
    from PIL import Image

    from cnnspec.deploy.runtime import ImageTooLarge, OnnxModel

    big = tmp_path / "bomb.png"
    Image.new("L", (3000, 2000), 0).save(big, optimize=True)  # a few KB on disk, 6 MP decoded
    assert big.stat().st_size < 100_000
    m = OnnxModel(art.onnx, device="cpu", max_pixels=5_000_000, on_notice=None)
    with pytest.raises(ImageTooLarge, match="3000x2000"):
        m.load_image(big)
    # Pillow's own bomb check fires earlier for absurd sizes: still our one-line error
    with pytest.raises(ImageTooLarge):
        m.load_image(_png_header_only(20000, 20000))
    res = run_without_tf(f"from cnnspec.cli import main; main(['predict', {str(art.onnx)!r}, {str(big)!r}, "
                         "'--engine', 'onnxruntime', '--device', 'cpu', '--max-pixels', '1000000'])")
    assert res.returncode == 2 and "above the limit" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def _png_header_only(w: int, h: int) -> bytes:
    """A PNG whose header claims w x h (its data is a tiny valid zlib stream)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")


# ---- engines (issue 14) ----------------------------------------------------------------------

def test_openvino_and_auto_give_the_same_top1_as_onnxruntime(art, model, tmp_path, monkeypatch):
    pytest.importorskip("openvino")
    from cnnspec.deploy.runtime import OnnxModel

    monkeypatch.setenv("CNNSPEC_CACHE_DIR", str(tmp_path))
    ref = model.predict(art.x_test)
    ov = OnnxModel(art.onnx, engine="openvino", precision="fp32", on_notice=None)
    assert ov.engine == "openvino" and ov.precision == "fp32"
    np.testing.assert_allclose(ov.predict(art.x_test), ref, atol=1e-5)
    assert (ov.predict(art.x_test).argmax(1) == ref.argmax(1)).all()
    notes = []
    auto = OnnxModel(art.onnx, engine="auto", device="cpu", on_notice=notes.append)
    assert auto.engine in ("onnxruntime", "openvino") and len(notes) == 1
    assert notes[0].startswith(f"cnnspec: engine {auto.engine} (probe on ") and "\n" not in notes[0]
    agree = np.mean(auto.predict(art.x_test).argmax(1) == ref.argmax(1))
    assert agree == 1.0 if auto.precision == "fp32" else agree >= 0.95
    fp32 = OnnxModel(art.onnx, engine="auto", device="cpu", precision="fp32", on_notice=notes.append)
    assert fp32.precision == "fp32" and (fp32.predict(art.x_test).argmax(1) == ref.argmax(1)).all()
    again = OnnxModel(art.onnx, engine="auto", device="cpu", on_notice=notes.append)
    assert again.engine == auto.engine and "cached probe" in notes[-1]
    assert len(list(tmp_path.iterdir())) == 1  # one cache file


def test_cli_predict_engines_agree(art):
    pytest.importorskip("openvino")
    tops = {}
    for engine in ("onnxruntime", "openvino", "auto"):
        res = run_without_tf(f"from cnnspec.cli import main; main(['predict', {str(art.onnx)!r}, "
                             f"{', '.join(repr(str(p)) for p in art.images)}, '--engine', '{engine}', "
                             "'--device', 'cpu', '--precision', 'fp32', '--json'])")
        assert res.returncode == 0, res.stderr
        out = json.loads(res.stdout)
        assert out["engine"] == (engine if engine != "auto" else out["engine"]) and out["precision"] == "fp32"
        tops[engine] = [p["top"][0]["class"] for p in out["predictions"]]
    assert tops["openvino"] == tops["onnxruntime"] == tops["auto"]


def test_unknown_engine_and_precision(art):
    from cnnspec.deploy.runtime import OnnxModel

    with pytest.raises(CnnspecError, match="unknown engine"):
        OnnxModel(art.onnx, engine="tensorflow", device="cpu")
    with pytest.raises(CnnspecError, match="unknown precision"):
        OnnxModel(art.onnx, engine="onnxruntime", device="cpu", precision="fp8")


def test_the_engine_notice_says_why_a_faster_engine_was_not_chosen():
    """OpenVINO's bf16 was faster but changed answers: the one line says so beside its figures."""
    from cnnspec.deploy.engines import auto_notice, pick

    figures = {"onnxruntime": {"latency_ms": 0.296, "throughput_ips": 900.0, "precision": "fp32", "agreement": 1.0},
               "openvino": {"latency_ms": 0.434, "throughput_ips": 1546.0, "precision": "bf16", "agreement": 0.984}}
    assert pick(figures, "auto") == "onnxruntime"
    line = auto_notice("onnxruntime", figures, "probe", "fp32")
    assert "openvino 0.434 ms/1,546 img/s [not eligible: bf16 agreed on 98.4% of top-1 answers, under 99%]" in line
    assert "onnxruntime 0.296 ms/900 img/s;" in line and "\n" not in line

"""The layout's promises: which subpackages may import TensorFlow, and what every module must carry."""
from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import cnnspec

ROOT = Path(cnnspec.__file__).parent
#: Subpackages that must never import TensorFlow/Keras when imported (only cnnspec.keras may).
TF_FREE = ["spec", "layers", "check", "data", "runs", "deploy", "interop", "experiments", "cli"]
TF_ROOTS = ("tensorflow", "keras", "tf2onnx", "tf_keras")


def _modules(pkg: str) -> list[str]:
    mod = importlib.import_module(f"cnnspec.{pkg}")
    return [mod.__name__] + [m.name for m in pkgutil.walk_packages(mod.__path__, mod.__name__ + ".")]


@pytest.mark.parametrize("pkg", TF_FREE)
def test_subpackage_never_imports_tensorflow(pkg):
    """Importing every module of the subpackage leaves TensorFlow and Keras unloaded."""
    mods = _modules(pkg)
    assert mods
    code = ("import importlib, sys\n"
            f"for m in {mods!r}: importlib.import_module(m)\n"
            f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {TF_ROOTS!r})\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=str(ROOT.parent))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "", f"cnnspec.{pkg} imported {out.stdout.strip()}"


def test_keras_subpackage_imports_tensorflow_only_lazily():
    """Even cnnspec.keras loads TensorFlow only inside the functions that need it."""
    code = ("import importlib, pkgutil, sys, cnnspec.keras as k\n"
            "for m in pkgutil.walk_packages(k.__path__, 'cnnspec.keras.'): importlib.import_module(m.name)\n"
            f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {TF_ROOTS!r})))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=str(ROOT.parent))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == ""


def _py_files():
    return sorted(p for p in ROOT.rglob("*.py"))


def test_tensorflow_imported_only_in_the_keras_subpackage():
    """No module outside cnnspec/keras has an `import tensorflow`/`import keras` statement anywhere,
    except the layer classes' own Keras builders (a layer's facts, its builder included, live on its class)."""
    offenders = []
    for p in _py_files():
        rel = p.relative_to(ROOT)
        if rel.parts[0] in ("keras", "layers"):
            continue
        for node in ast.walk(ast.parse(p.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            if any(n.split(".")[0] in TF_ROOTS for n in names):
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == [], offenders


def test_every_module_has_a_docstring():
    missing = [str(p.relative_to(ROOT)) for p in _py_files()
               if p.stat().st_size and ast.get_docstring(ast.parse(p.read_text())) is None]
    assert missing == [], missing


def test_cli_command_map_matches_the_registered_commands():
    """cnnspec.cli.COMMANDS (which module to import for a command) equals what the modules register."""
    code = ("import cnnspec.cli as c, importlib\n"
            "for m in set(c.COMMANDS.values()): importlib.import_module('cnnspec.cli.' + m)\n"
            "import pkgutil\n"
            "for m in pkgutil.iter_modules(c.__path__): importlib.import_module('cnnspec.cli.' + m.name)\n"
            "from typer.main import get_command\n"
            "cmds = get_command(c.app).commands\n"
            "print(sorted((n, cmd.callback.__module__.rsplit('.', 1)[-1]) for n, cmd in cmds.items()))\n"
            "print(sorted(c.COMMANDS.items()))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=str(ROOT.parent))
    assert out.returncode == 0, out.stderr[-2000:]
    registered, mapped = out.stdout.strip().splitlines()
    assert registered == mapped


_HELPERS = {"cnnspec.cli.app", "cnnspec.cli.console", "cnnspec.cli.output", "cnnspec.cli.fast", "cnnspec.cli.checking"}


def _cli_modules_after(args: list[str]) -> str:
    code = ("import sys\nfrom cnnspec.cli import main\n"
            f"try:\n    main({args!r})\nexcept SystemExit as e:\n    code = e.code\n"
            f"print(code, sorted(m for m in sys.modules if m.startswith('cnnspec.cli.') and m not in {_HELPERS!r}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=str(ROOT.parent))
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-1000:]


def test_check_command_loads_only_its_own_cli_module():
    """`check` (the fast path) loads no command module; `layers` (typer) loads only its own."""
    assert _cli_modules_after(["check", "specs/table6.yaml", "-q"]) == "0 []"
    assert _cli_modules_after(["layers", "--json"]) == "0 ['cnnspec.cli.check']"


def test_layer_index_is_current():
    """cnnspec/layers/_index.py (what lets `check` import only the families a spec uses) matches the
    registry; regenerate it with `python -m cnnspec.layers.registry`."""
    from cnnspec.layers.registry import index_source

    assert (ROOT / "layers" / "_index.py").read_text() == index_source()


def test_check_imports_only_the_families_it_uses():
    code = ("import sys\nimport cnnspec.check.infer as c, cnnspec.spec.loader as l\n"
            "c.check(l.load_spec('specs/table6.yaml'))\n"
            "print(sorted(m.rsplit('.', 1)[-1] for m in sys.modules if m.startswith('cnnspec.layers.')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=str(ROOT.parent))
    assert out.returncode == 0, out.stderr[-2000:]
    loaded = set(eval(out.stdout.strip().splitlines()[-1]))
    assert {"conv", "pooling", "core", "regularization"} <= loaded
    assert not loaded & {"recurrent", "attention", "wrappers", "registry", "applications"}, loaded


def test_public_functions_and_classes_have_docstrings():
    """Every public module-level function and class says what it is for."""
    missing = []
    for p in _py_files():
        for node in ast.parse(p.read_text()).body:
            if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                    and not node.name.startswith("_") and ast.get_docstring(node) is None):
                missing.append(f"{p.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert missing == [], missing


def test_every_subpackage_is_a_regular_package():
    """Each folder of Python modules has its __init__.py (setuptools' find would leave a namespace
    folder out of a non-editable install)."""
    folders = {p.parent for p in _py_files()}
    assert [str(f.relative_to(ROOT)) for f in sorted(folders) if not (f / "__init__.py").is_file()] == []

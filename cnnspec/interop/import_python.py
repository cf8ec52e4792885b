"""Python Keras model code -> an :class:`ImportedModel`, by interpreting the ``ast`` statically
(the code is never run): ``keras.Sequential``, ``model.add``, the functional API with helper
functions (``def block(x): ...``), ``for`` over literal lists, ``if`` on known values, literal
arithmetic (``img_size + (3,)``, ``128 * 16 * 16``) and ``compile``/``fit`` for ``train:``."""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from cnnspec.errors import SpecError
from cnnspec.interop.import_common import (
    Function, ImportedModel, ModuleRef, Opaque, RowBuilder)
from cnnspec.interop.import_bases import InnerLayer
from cnnspec.interop.import_python_bases import PyBases
from cnnspec.interop.import_python_calls import PyCalls

MAX_STEPS = 100_000
_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Pow: "**",
        ast.Mod: "%"}


@dataclass
class PyFunction(Function):
    """A function defined in the script (``def block(x, filters): ...``)."""

    node: ast.FunctionDef
    defaults: dict[str, Any]
    env: "Scope"


class Scope:
    """Python variables of the module or of one function call."""

    def __init__(self, parent: "Scope | None" = None) -> None:
        self.vars: dict[str, Any] = {}
        self.parent = parent

    def get(self, name: str) -> Any:
        """A variable's value, looked up through the enclosing scopes."""
        s: Scope | None = self
        while s is not None:
            if name in s.vars:
                return s.vars[name]
            s = s.parent
        raise KeyError(name)


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class PyImporter(PyCalls, PyBases, RowBuilder):
    """``PyImporter(text, file).run()`` -> the model the script builds."""

    def __init__(self, text: str, file: str) -> None:
        RowBuilder.__init__(self, file)
        PyCalls.__init__(self)
        try:
            self.tree = ast.parse(text, filename=file)
        except SyntaxError as exc:
            raise SpecError(f"Python syntax error: {exc.msg}", file=file, line=exc.lineno) from exc
        except (RecursionError, MemoryError) as exc:
            raise SpecError("nesting too deep for cnnspec import: it reads model code", file=file) from exc
        self.globals = Scope()
        self.steps = 0
        self.depth = 0

    def run(self) -> ImportedModel:
        """Interpret the module and return the model it builds."""
        self.block(self.tree.body, self.globals)
        from cnnspec.interop.import_bases import two_phase

        fine_tune = two_phase(self.phases, self.recorder)
        self.train, self.train_notes = self.recorder.section()
        if fine_tune is not None:
            self.train["fine_tune"] = fine_tune
        return self.result()

    # -- statements --------------------------------------------------------------------------------
    def block(self, body: list[ast.stmt], env: Scope) -> None:
        """Interpret statements in order (bounded work)."""
        for st in body:
            self.steps += 1
            if self.steps > MAX_STEPS:
                raise self.err(f"more than {MAX_STEPS} statements to follow: cnnspec import reads model "
                               "definitions, not long computations", st.lineno)
            self.statement(st, env)

    def statement(self, st: ast.stmt, env: Scope) -> None:
        """Interpret one statement."""
        if isinstance(st, (ast.Import, ast.ImportFrom)):
            self.imports(st, env)
            return
        if isinstance(st, (ast.Pass, ast.Global, ast.Nonlocal, ast.Break, ast.Continue, ast.Delete, ast.Assert)):
            return
        if isinstance(st, ast.Assign):
            v = self.eval(st.value, env)
            for t in st.targets:
                self.assign(t, v, env)
        elif isinstance(st, ast.AnnAssign) and st.value is not None:
            self.assign(st.target, self.eval(st.value, env), env)
        elif isinstance(st, ast.AugAssign):
            cur = self.eval(st.target, env) if isinstance(st.target, ast.Name) else Opaque("a target")
            self.assign(st.target, self.binop(_OPS.get(type(st.op)), cur, self.eval(st.value, env)), env)
        elif isinstance(st, ast.Expr):
            self.note_model(None, self.eval(st.value, env))
        elif isinstance(st, ast.FunctionDef):
            self.define(st, env)
        elif isinstance(st, ast.Return):
            raise _Return(self.eval(st.value, env) if st.value is not None else None)
        elif isinstance(st, ast.If):
            self.if_(st, env)
        elif isinstance(st, ast.For):
            self.for_(st, env)
        elif isinstance(st, (ast.With, ast.Try)):
            self.block(st.body, env)
        else:
            self.opaque_statement(st, env)

    def imports(self, st: ast.Import | ast.ImportFrom, env: Scope) -> None:
        """Bind imported names to their dotted paths (``l2`` -> keras.regularizers.l2)."""
        base = f"{st.module}." if isinstance(st, ast.ImportFrom) and st.module else ""
        for alias in st.names:
            full = base + alias.name
            local = alias.asname or (alias.name if base else alias.name.split(".")[0])
            path = full if (alias.asname or base) else alias.name.split(".")[0]
            env.vars[local] = ModuleRef(f"the module {path}", path)

    def assign(self, target: ast.expr, value: Any, env: Scope) -> None:
        """Bind a value to a name or unpack it into a tuple of names."""
        if isinstance(target, ast.Name):
            env.vars[target.id] = value
            self.note_model(target.id, value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            parts = value if isinstance(value, list) and len(value) == len(target.elts) else None
            for i, t in enumerate(target.elts):
                self.assign(t, parts[i] if parts else Opaque("an unpacked value"), env)
        elif isinstance(target, ast.Attribute):
            self.assign_attribute(target, value, env)

    def define(self, st: ast.FunctionDef, env: Scope) -> None:
        """Record a function definition (defaults evaluated now, as Python does)."""
        a = st.args
        params = [p.arg for p in a.posonlyargs + a.args]
        defaults = {p: self.eval(d, env) for p, d in zip(params[len(params) - len(a.defaults):], a.defaults)}
        defaults.update({p.arg: self.eval(d, env) for p, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None})
        env.vars[st.name] = PyFunction(st, defaults, env)

    def if_(self, st: ast.If, env: Scope) -> None:
        """Take the branch a known condition selects; an unknown one may not build layers."""
        cond = self.eval(st.test, env)
        if isinstance(cond, (bool, int, float, str)) or cond is None:
            self.block(st.body if cond else st.orelse, env)
            return
        before = self.layer_count()
        self.block(st.body, env)
        self.block(st.orelse, env)
        if self.layer_count() != before:
            raise self.err("the model depends on a condition cnnspec import cannot decide statically "
                           f"({getattr(cond, 'what', 'a value')}): write the value in the script", st.lineno)

    def for_(self, st: ast.For, env: Scope) -> None:
        """Unroll a loop over a literal sequence; a loop over data may not build layers."""
        seq = self.eval(st.iter, env)
        if not isinstance(seq, list):
            msg = (f"unsupported Python construct 'for' over {getattr(seq, 'what', 'a value')} around the model "
                   "definition (loop over a literal list or range)")
            before = self.layer_count()
            self.assign(st.target, Opaque("the loop variable of a loop over unknown values"), env)
            try:
                self.block(st.body, env)
            except SpecError as exc:
                raise self.err(msg, st.lineno) from exc
            if self.layer_count() != before:
                raise self.err(msg, st.lineno)
            return
        for item in seq:
            self.assign(st.target, item, env)
            self.block(st.body, env)
        self.block(st.orelse, env)

    def opaque_statement(self, st: ast.stmt, env: Scope) -> None:
        """while, class, match ...: fine when they build no layers."""
        for node in ast.walk(st):
            if isinstance(node, ast.Call) and self.builds(node):
                kind = type(st).__name__.lower().replace("classdef", "class (a subclassed model)")
                raise self.err(f"unsupported Python construct '{kind}' around the model definition "
                               "(cnnspec import reads Sequential and functional code)", st.lineno)

    def layer_count(self) -> int:
        """Rows and layer objects built so far (to see whether code built any)."""
        return self.rows_built + self.pending_rows

    # -- expressions -------------------------------------------------------------------------------
    def eval(self, node: ast.expr, env: Scope) -> Any:
        """The static value of an expression (Opaque when it cannot be known)."""
        self.depth += 1
        try:
            if self.depth > 200:
                raise self.err("expression nested too deeply for cnnspec import", getattr(node, "lineno", None))
            return self._eval(node, env)
        finally:
            self.depth -= 1

    def _eval(self, node: ast.expr, env: Scope) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.Tuple, ast.List)):
            out = []
            for e in node.elts:
                if isinstance(e, ast.Starred):
                    v = self.eval(e.value, env)
                    out.extend(v if isinstance(v, list) else [Opaque("a starred value")])
                else:
                    out.append(self.eval(e, env))
            return out
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):
                return Opaque("a dict with **")
            return {self.eval(k, env): self.eval(v, env) for k, v in zip(node.keys, node.values)}
        if isinstance(node, ast.Name):
            try:
                return env.get(node.id)
            except KeyError:
                return Opaque(f"'{node.id}' is not a literal defined in this file")
        if isinstance(node, ast.UnaryOp):
            v = self.eval(node.operand, env)
            if isinstance(node.op, ast.USub) and isinstance(v, (int, float)) and not isinstance(v, bool):
                return -v
            if isinstance(node.op, ast.Not) and not isinstance(v, Opaque):
                return not v
            return Opaque("a unary expression")
        if isinstance(node, ast.BinOp):
            return self.binop(_OPS.get(type(node.op)), self.eval(node.left, env), self.eval(node.right, env))
        if isinstance(node, ast.IfExp):
            cond = self.eval(node.test, env)
            if isinstance(cond, Opaque):
                return Opaque("a conditional expression")
            return self.eval(node.body if cond else node.orelse, env)
        if isinstance(node, (ast.Compare, ast.BoolOp)):
            return self.compare(node, env)
        if isinstance(node, ast.Subscript):
            return self.subscript(node, env)
        if isinstance(node, ast.Call):
            return self.call(node, env)
        if isinstance(node, ast.Attribute):
            return self.attribute(node, env)
        if isinstance(node, ast.JoinedStr):
            return self.fstring(node, env)
        if isinstance(node, ast.ListComp):
            return self.listcomp(node, env)
        return Opaque(f"a {type(node).__name__} expression")

    def fstring(self, node: ast.JoinedStr, env: Scope) -> Any:
        """An f-string of literals (``f"block{i}_conv"``)."""
        out = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                out.append(str(part.value))
                continue
            v = self.eval(part.value, env)
            spec = self.eval(part.format_spec, env) if part.format_spec is not None else ""
            if isinstance(v, Opaque) or not isinstance(v, (int, float, str)) or not isinstance(spec, str):
                return Opaque("an f-string of values not known in the file")
            try:
                out.append(format(v, spec))
            except (ValueError, TypeError):
                return Opaque("an f-string with a format it cannot apply")
        return "".join(out)

    def binop(self, op: str | None, a: Any, b: Any) -> Any:
        """Arithmetic on literals."""
        from cnnspec.interop.import_common import arith

        return arith(op, a, b) if op else Opaque("an expression")

    def compare(self, node: ast.expr, env: Scope) -> Any:
        """A comparison or boolean expression on literals."""
        if isinstance(node, ast.BoolOp):
            vals = [self.eval(v, env) for v in node.values]
            if any(isinstance(v, Opaque) for v in vals):
                return Opaque("a condition")
            return all(vals) if isinstance(node.op, ast.And) else any(vals)
        left = self.eval(node.left, env)
        ops = {ast.Eq: "__eq__", ast.NotEq: "__ne__", ast.Lt: "__lt__", ast.Gt: "__gt__", ast.LtE: "__le__",
               ast.GtE: "__ge__"}
        for op, right_node in zip(node.ops, node.comparators):
            right = self.eval(right_node, env)
            if isinstance(left, Opaque) or isinstance(right, Opaque) or type(op) not in ops:
                return Opaque("a comparison")
            try:
                ok = getattr(left, ops[type(op)])(right)
            except TypeError:
                return Opaque("a comparison")
            if ok is NotImplemented or not ok:
                return False if ok is not NotImplemented else Opaque("a comparison")
            left = right
        return True

    def listcomp(self, node: ast.ListComp, env: Scope) -> Any:
        """``[l.name for l in base.layers if ...]`` over literal lists (one or more ``for``)."""
        local = Scope(env)
        out: list = []

        def gen(i: int) -> Any:
            """Run generator i and the ones after it; an Opaque when a value is not known."""
            if i == len(node.generators):
                out.append(self.eval(node.elt, local))
                return None
            g = node.generators[i]
            seq = self.eval(g.iter, local)
            if not isinstance(seq, list) or g.is_async:
                return Opaque("a list comprehension over values not known in the file")
            for item in seq:
                self.assign(g.target, item, local)
                conds = [self.eval(c, local) for c in g.ifs]
                if any(isinstance(c, Opaque) for c in conds):
                    return Opaque("a list comprehension with a condition not known in the file")
                if all(conds):
                    bad = gen(i + 1)
                    if bad is not None:
                        return bad
            return None

        bad = gen(0)
        return bad if bad is not None else out

    def subscript(self, node: ast.Subscript, env: Scope) -> Any:
        """Indexing or slicing a literal list, tuple, dict or string."""
        if isinstance(node.slice, ast.Slice):
            base = self.eval(node.value, env)
            bounds = [self.eval(b, env) if b is not None else None
                      for b in (node.slice.lower, node.slice.upper, node.slice.step)]
            if isinstance(base, (list, str)) and all(b is None or (isinstance(b, int) and not isinstance(b, bool))
                                                     for b in bounds) and bounds[2] != 0:
                return base[slice(*bounds)]
            if isinstance(base, list) and any(isinstance(x, InnerLayer) for x in base):
                raise self.err("the layers of a base are sliced with a bound not known in the file: write the "
                               "number (cnnspec import reads the code, it does not run it)", node.lineno)
            return Opaque("a slice")
        base, idx = self.eval(node.value, env), self.eval(node.slice, env)
        if isinstance(base, (list, dict, str)) and isinstance(idx, (int, str)) and not isinstance(idx, bool):
            try:
                return base[idx]
            except (IndexError, KeyError, TypeError):
                return Opaque("an index out of range")
        return Opaque("an indexing expression")

    def call_function(self, f: PyFunction, node: ast.Call, env: Scope) -> Any:
        """Call a function defined in the script with its arguments bound."""
        a = f.node.args
        params = [p.arg for p in a.posonlyargs + a.args] + [p.arg for p in a.kwonlyargs]
        local = Scope(f.env)
        local.vars.update(f.defaults)
        for p, arg in zip(params, node.args):
            local.vars[p] = self.eval(arg, env)
        if len(node.args) > len(params):
            raise self.err(f"{f.node.name}() takes {len(params)} arguments, called with {len(node.args)}",
                           node.lineno)
        for kw in node.keywords:
            if kw.arg is None or kw.arg not in params:
                raise self.err(f"{f.node.name}() has no parameter '{kw.arg}'", kw.value.lineno)
            local.vars[kw.arg] = self.eval(kw.value, env)
        missing = [p for p in params if p not in local.vars]
        if missing:
            raise self.err(f"{f.node.name}() called without '{missing[0]}'", node.lineno)
        self.call_depth += 1
        if self.call_depth > 50:
            raise self.err("functions call each other more than 50 deep", node.lineno)
        try:
            self.block(f.node.body, local)
            return None
        except _Return as r:
            return r.value
        finally:
            self.call_depth -= 1

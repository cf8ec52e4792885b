"""R keras / keras3 model code -> an :class:`ImportedModel`, by interpreting the parse tree of
:mod:`cnnspec.interop.r_parser` statically (the code is never run). Variables bound to literals
are substituted, ``if`` with a known condition takes its branch, ``for`` over a literal sequence
is unrolled, small functions are called; anything that cannot be known is a one-line error."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnnspec.errors import SpecError
from cnnspec.interop.import_common import (
    R_NAMES, Function, ImportedModel, Opaque, PendingLayer, RowBuilder, Tensor, as_shape, arith, layer_class,
    static_shape)
from cnnspec.interop.import_bases import BaseObject, InnerLayer, preprocessed
from cnnspec.interop.import_r_bases import RBases
from cnnspec.interop.import_r_calls import RCalls
from cnnspec.interop.r_parser import RParser
from cnnspec.util import suggest

MAX_CALLS = 100_000  # statements run, with unrolled loops and function calls: stops runaway code


@dataclass
class RFunction(Function):
    """A function defined in the script (``block <- function(x, filters) {...}``)."""

    params: list
    body: Any
    env: "Env"
    line: int


class Env:
    """A scope of R variables (a function call gets its own, over its definition's)."""

    def __init__(self, parent: "Env | None" = None) -> None:
        self.vars: dict[str, Any] = {}
        self.parent = parent

    def get(self, name: str) -> Any:
        """A variable's value, looked up through the enclosing scopes."""
        env: Env | None = self
        while env is not None:
            if name in env.vars:
                return env.vars[name]
            env = env.parent
        raise KeyError(name)

    def set(self, name: str, value: Any) -> None:
        """Bind a variable in this scope."""
        self.vars[name] = value


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class RImporter(RCalls, RBases, RowBuilder):
    """``RImporter(text, file).run()`` -> the model the script builds."""

    def __init__(self, text: str, file: str) -> None:
        RowBuilder.__init__(self, file)
        RCalls.__init__(self)
        self.stmts = RParser(text, file).program()
        self.globals = Env()
        self.steps = 0

    def run(self) -> ImportedModel:
        """Interpret the script and return the model it builds."""
        for st in self.stmts:
            self.exec(st, self.globals)
        from cnnspec.interop.import_bases import two_phase

        fine_tune = two_phase(self.phases, self.recorder)
        self.train, self.train_notes = self.recorder.section()
        if fine_tune is not None:
            self.train["fine_tune"] = fine_tune
        return self.result()

    def exec(self, st, env: Env) -> Any:
        """Interpret one statement (bounded work)."""
        self.steps += 1
        if self.steps > MAX_CALLS:
            raise self.err(f"more than {MAX_CALLS} statements to follow: cnnspec import reads model "
                           "definitions, not long computations", st[-1])
        v = self.eval(st, env)
        if st[0] != "assign":
            self.note_model(None, v)
        return v

    # -- evaluation --------------------------------------------------------------------------------
    def eval(self, node, env: Env) -> Any:
        """The static value of an expression tree (Opaque when it cannot be known)."""
        kind = node[0]
        if kind in ("num", "str", "const", "null"):
            return node[1]
        handler = getattr(self, f"_eval_{kind}", None)
        if handler is None:
            raise self.err(f"unsupported R construct '{kind}'", node[-1])
        return handler(node, env)

    def _eval_id(self, node, env: Env) -> Any:
        name = node[1]
        try:
            return env.get(name)
        except KeyError:
            pass
        for prefix in ("activation_", "loss_", "metric_"):
            if name.startswith(prefix):  # activation = activation_relu (the R function)
                return name[len(prefix):]
        if name.startswith("layer_") or name in ("keras_model_sequential",):
            return Opaque(f"the function {name}")
        return Opaque(f"'{name}' is not a literal defined in this file")

    def _eval_neg(self, node, env: Env) -> Any:
        v = self.eval(node[1], env)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return -v
        if isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
            return [-x for x in v]
        return Opaque("a negated expression")

    def _eval_not(self, node, env: Env) -> Any:
        v = self.eval(node[1], env)
        return (not v) if isinstance(v, bool) else Opaque("a negated condition")

    def _eval_assign(self, node, env: Env) -> Any:
        target, value = node[1], node[2]
        v = self.eval(value, env)
        if target[0] == "id":
            env.set(target[1], v)
            self.note_model(target[1], v)
        elif target[0] == "dollar":
            self.assign_dollar(target, v, env)
        return v

    def _eval_block(self, node, env: Env) -> Any:
        v = None
        for st in node[1]:
            v = self.exec(st, env)
        return v

    def _eval_if(self, node, env: Env) -> Any:
        cond = self.eval(node[1], env)
        if isinstance(cond, bool):
            branch = node[2] if cond else node[3]
            return self.exec(branch, env) if branch is not None else None
        # unknown condition (interactive(), data read at run time): fine when no branch builds layers
        before = self._layer_count()
        for branch in (node[2], node[3]):
            if branch is not None:
                self.exec(branch, env)
        if self._layer_count() != before:
            raise self.err("the model depends on a condition cnnspec import cannot decide statically "
                           f"({cond.what if isinstance(cond, Opaque) else repr(cond)}): set it to TRUE or "
                           "FALSE in the script", node[-1])
        return Opaque("the value of an if")

    def _layer_count(self) -> int:
        return self.rows_built + self.pending_rows

    def _eval_for(self, node, env: Env) -> Any:
        var, seq, body, line = node[1], self.eval(node[2], env), node[3], node[4]
        if isinstance(seq, (int, float, str)):
            seq = [seq]
        if not isinstance(seq, list):
            msg = (f"unsupported R construct 'for' over {getattr(seq, 'what', 'a value')} around the model "
                   "definition (loop over literal values, e.g. c(32, 64))")
            before = self._layer_count()
            env.set(var, Opaque("the loop variable of a loop over unknown values"))
            try:
                self.exec(body, env)  # a loop over data: fine when it builds nothing
            except SpecError as exc:
                raise self.err(msg, line) from exc
            if self._layer_count() != before:
                raise self.err(msg, line)
            return None
        for item in seq:
            env.set(var, item)
            self.exec(body, env)
        return None

    def _eval_loop(self, node, env: Env) -> Any:
        raise self.err(f"unsupported R construct '{node[1]}' (cnnspec import reads model code statically: "
                       "write the layers out, or loop with for over a literal sequence)", node[-1])

    def _eval_function(self, node, env: Env) -> Any:
        return RFunction(node[1], node[2], env, node[3])

    def _eval_bin(self, node, env: Env) -> Any:
        op, left, right, line = node[1], node[2], node[3], node[4]
        if op in ("%>%", "|>", "%<>%"):
            lhs = self.eval(left, env)
            if right[0] == "call":
                out = self.call(right[1], [(None, lhs, line)] + self.eval_args(right[2], env), right[3], env)
            elif right[0] in ("id", "function"):
                out = self.call(right, [(None, lhs, line)], line, env)
            else:
                raise self.err(f"unsupported R construct: the right side of {op} must be a function call", line)
            if op == "%<>%" and left[0] == "id":
                env.set(left[1], out)
                self.note_model(left[1], out)
            return out
        if op == "%in%":
            return Opaque(f"an expression with '{op}'")
        a = self.eval(left, env)
        if op in ("&&", "||") and isinstance(a, bool) and a == (op == "||"):
            return a  # R evaluates the right side only when the left does not decide
        b = self.eval(right, env)
        if op in ("%%", "%/%"):
            return _vector_arith({"%%": "%", "%/%": "//"}[op], a, b)
        if op == ":":
            if isinstance(a, int) and isinstance(b, int) and abs(b - a) <= 10_000:
                return list(range(a, b + 1) if b >= a else range(a, b - 1, -1))
            return Opaque("a sequence")
        if op in ("==", "!=", "<", ">", "<=", ">=", "&&", "||", "&", "|"):
            return _compare(op, a, b)
        return _vector_arith(op, a, b)

    def _eval_dollar(self, node, env: Env) -> Any:
        base = self.eval(node[1], env)
        if isinstance(base, (BaseObject, InnerLayer)):
            return self.base_dollar(base, node[2], node[-1])
        if isinstance(base, Tensor) and node[2] == "shape":
            return static_shape(base)  # list(NULL, 8, 8, 16), as keras3 gives it
        if isinstance(base, (ImportedModel, Tensor)):
            return ("method", base, node[2])
        if isinstance(base, dict) and node[2] in base:
            return base[node[2]]
        return Opaque(f"'{_r_text(node)}'")

    def _eval_call(self, node, env: Env) -> Any:
        args = node[2]
        if node[1][0] == "id" and node[1][1] == "c":
            args = [a for a in args if a[1][0] != "null"]  # c(NULL, 10) is 10; c(NA, 10) keeps NA
        return self.call(node[1], self.eval_args(args, env), node[3], env)

    def _eval_index(self, node, env: Env) -> Any:
        """``x[i]`` / ``x[a:b]`` on a literal vector or list (1-based, negative drops; ``[[i]]`` too)."""
        base = self.eval(node[1], env)
        idx = [self.eval(e, env) for _, e, _ in node[2]]
        if not isinstance(base, list) or len(idx) != 1:
            return Opaque("an indexing expression")
        want = idx[0] if isinstance(idx[0], list) else [idx[0]]
        if not want or not all(isinstance(i, (int, float)) and not isinstance(i, bool) and i == int(i) for i in want):
            if any(isinstance(x, InnerLayer) for x in base):
                raise self.err("the layers of a base are indexed with values not known in the file: write the "
                               "numbers (cnnspec import reads the code, it does not run it)", node[-1])
            return Opaque("an indexing expression")
        want = [int(i) for i in want]
        if all(i < 0 for i in want):
            return [x for k, x in enumerate(base, 1) if -k not in want]
        if any(i <= 0 or i > len(base) for i in want):
            return Opaque("an index out of range")
        out = [base[i - 1] for i in want]
        # [[i]], and [i] of one atomic element (R's length-1 vector is its scalar: c(16, 1)[1] is 16)
        return out[0] if node[3] == "[[" or (len(out) == 1 and not isinstance(out[0], (list, dict))) else out

    def _eval_opaque(self, node, env: Env) -> Any:
        self.eval(node[2], env)
        return Opaque(node[1])

    def eval_args(self, args, env: Env) -> list:
        """Evaluated call arguments: (name, value, line)."""
        return [(name, self.eval(e, env), line) for name, e, line in args]

    # -- calls ---------------------------------------------------------------------------------------
    def call(self, fnode, args: list, line: int, env: Env) -> Any:
        """The value of a call: a script function, a layer object applied, or a known function."""
        if fnode[0] == "function":
            return self.call_function(RFunction(fnode[1], fnode[2], env, fnode[3]), args, line)
        if fnode[0] == "dollar":
            text = _r_text(fnode)
            if text.endswith("$preprocess_input") and "$applications$" in text:
                x = args[0][1] if args else None
                return preprocessed(x, text.split("$")[-2]) if isinstance(x, Tensor) else Opaque("preprocessed data")
            target = self.eval(fnode, env)
            if isinstance(target, tuple) and target[0] == "method":  # model$compile(...), model$add(...)
                return self.method(target[1], target[2], args, line)
            return self._unknown_call(_r_text(fnode), args, line)
        if fnode[0] != "id":
            return self._unknown_call("a computed function", args, line)
        fn = fnode[1]
        try:
            value = env.get(fn)
        except KeyError:
            value = None
        if isinstance(value, RFunction):
            return self.call_function(value, args, line)
        if isinstance(value, PendingLayer):
            return self.apply_pending(value, args, line)
        if isinstance(value, BaseObject):
            return self.apply_base(value, args, line)
        if fn == "return":
            raise _Return(args[0][1] if args else None)
        return self.builtin(fn, args, line)

    def call_function(self, f: RFunction, args: list, line: int) -> Any:
        """Call a function defined in the script (R argument matching)."""
        local = Env(f.env)
        names = [p for p, _ in f.params]
        named = {n: v for n, v, _ in args if n is not None}
        pos = [v for n, v, _ in args if n is None]
        for p, default in f.params:
            if p == "...":
                continue
            match = p if p in named else next((n for n in named if p.startswith(n) and n not in names), None)
            if match is not None:
                local.set(p, named[match])
            elif pos:
                local.set(p, pos.pop(0))
            elif default is not None:
                local.set(p, self.eval(default, local))
        if pos and "..." not in names:
            raise self.err(f"a function defined on line {f.line} takes {len(names)} arguments, called with more",
                           line)
        self.depth_guard(line)
        try:
            return self.eval(f.body, local)
        except _Return as r:
            return r.value
        finally:
            self.call_depth -= 1

    def depth_guard(self, line: int) -> None:
        """Refuse runaway recursion between the script's functions."""
        self.call_depth += 1
        if self.call_depth > 50:
            raise self.err("functions call each other more than 50 deep: cnnspec import follows small "
                           "helper functions, not recursion", line)

    def _unknown_call(self, what: str, args: list, line: int) -> Any:
        for _, v, _ in args:
            if isinstance(v, (ImportedModel, Tensor)):
                raise self.err(f"unsupported R construct: {what} applied to the model (not a known layer "
                               "function or verb)", line)
        return Opaque(f"the result of {what}()")

    def unknown_layer(self, fn: str, line: int) -> SpecError:
        """The error for a ``layer_*`` function no layer class has."""
        return self.err(f"unknown layer function '{fn}'{suggest(fn, R_NAMES)}", line)


def _vector_arith(op: str, a: Any, b: Any) -> Any:
    """R arithmetic: element by element, the shorter vector recycled (``c(28, 28) / 2``)."""
    if not isinstance(a, list) and not isinstance(b, list):
        return arith(op, a, b)
    la, lb = (a if isinstance(a, list) else [a]), (b if isinstance(b, list) else [b])
    if not la or not lb or max(len(la), len(lb)) % min(len(la), len(lb)):
        return Opaque(f"an expression with '{op}' on vectors of different lengths")
    out = [arith(op, la[i % len(la)], lb[i % len(lb)]) for i in range(max(len(la), len(lb)))]
    return next((x for x in out if isinstance(x, Opaque)), out)


def _compare(op: str, a: Any, b: Any) -> Any:
    if isinstance(a, Opaque) or isinstance(b, Opaque) or isinstance(a, list) or isinstance(b, list):
        return Opaque(f"a comparison with '{op}'")
    try:
        return {"==": a == b, "!=": a != b, "<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b,
                "&&": bool(a) and bool(b), "||": bool(a) or bool(b), "&": bool(a) and bool(b),
                "|": bool(a) or bool(b)}[op]
    except TypeError:
        return Opaque(f"a comparison with '{op}'")


def _r_text(node) -> str:
    if node[0] == "id":
        return node[1]
    if node[0] == "dollar":
        return f"{_r_text(node[1])}${node[2]}"
    return "an expression"


__all__ = ["RImporter", "as_shape", "layer_class"]

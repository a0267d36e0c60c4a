"""Dispatch-level counting: a ``TorchDispatchMode`` that sees every ATen operator, and a module tracker that says
which YAML layer and sub-module each operator ran in.

Why a dispatch mode: functional calls (``torch.matmul``, ``F.scaled_dot_product_attention``, ``softmax``,
``F.interpolate``) reach the dispatcher like module calls do, so nothing is missed the way module hooks miss them.
On ``meta`` the mode answers common operators from shapes (:mod:`archscope.build.meta`, which explains why: start-up
time); the op costs come from :mod:`archscope.analysis.costs`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.weak import WeakIdKeyDictionary

from archscope.analysis import costs
from archscope.analysis.liveness import LiveStorages
from archscope.analysis.records import OpRecord
from archscope.build.meta import shape_rule_for
from archscope.vocab import CLASS_FEATURES

# ------------------------------------------------------------------------------------------ the mode

aten = torch.ops.aten

#: Matrix products whose output is materialised in memory; when both operands are activations that output is an
#: attention score matrix. (The SDPA kernels never materialise theirs, so they are not listed.)
_SCORE_OPS = frozenset({aten.bmm, aten.baddbmm})

def elements(t: torch.Tensor) -> int:
    """Distinct elements a tensor addresses: broadcast (stride-0) dimensions are read once."""
    n = 1
    for size, stride in zip(t.shape, t.stride()):
        if stride:
            n *= size
        elif size == 0:
            return 0
    return n


def tensors_in(value: Any, out: list | None = None) -> list[torch.Tensor]:
    """Every tensor inside nested tuples/lists/dicts, in order (no de-duplication)."""
    if out is None:
        out = []
    if isinstance(value, torch.Tensor):
        out.append(value)
    elif isinstance(value, (list, tuple)):
        for v in value:
            tensors_in(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            tensors_in(v, out)
    return out


#: Matrix products that Ultralytics-thop counts when they run functionally (torch.matmul, @, bmm, einsum,
#: F.linear, F.scaled_dot_product_attention) outside every module that has a counting rule of its own. A functional
#: convolution is not among them.
FUNCTIONAL_PRODUCTS = frozenset({
    aten.mm, aten.addmm, aten.bmm, aten.baddbmm, aten.dot, aten.mv, aten.addmv,
    aten._scaled_dot_product_flash_attention_for_cpu, aten._scaled_dot_product_flash_attention,
    aten._scaled_dot_product_efficient_attention, aten._scaled_dot_product_cudnn_attention,
    aten._flash_attention_forward, aten._efficient_attention_forward,
})


def _is_view(func) -> bool:
    """True for operators whose output aliases an input without writing it (``OpOverload.is_view``, or read from
    the schema on torch versions without that property)."""
    flag = getattr(func, "is_view", None)
    if flag is not None:
        return bool(flag)
    returns = func._schema.returns
    return bool(returns) and returns[0].alias_info is not None and not returns[0].alias_info.is_write


class _OpInfo:
    """What the mode needs to know about one overload, looked up once per mode (the registry is keyed by packet)."""

    __slots__ = ("name", "qualified_name", "kind", "rule", "shape_rule", "first_only", "free", "functional",
                 "activation_product", "score", "allocates", "op_class", "by_call", "packet")

    def __init__(self, func):
        packet = func.overloadpacket
        self.name = packet.__name__
        self.qualified_name = str(packet)  # "aten.foo": how the report lists an op without a cost
        self.kind = costs.classify(packet)
        self.rule = costs.rule_for(packet)
        self.shape_rule = shape_rule_for(func)
        self.first_only = packet in costs.FIRST_OUTPUT_ONLY
        self.functional = packet in FUNCTIONAL_PRODUCTS
        self.activation_product = packet in costs.ACTIVATION_MATMULS
        self.score = packet in _SCORE_OPS
        # a result that aliases an input (a view, an in-place or out= op) allocates nothing
        self.allocates = not any(r.alias_info is not None for r in func._schema.returns)
        self.packet = packet
        self.op_class = costs.op_class(packet)
        self.by_call = packet in costs.CLASS_BY_CALL  # a convolution: dense or depthwise, by its weight
        # views and aliases move nothing
        self.free = self.kind == "none" or (_is_view(func) and self.kind == "unknown")
        if self.free:
            self.kind = "none"


class Recorder:
    """Where the counted ops go, and where they are: the current YAML layer and sub-module path."""

    __slots__ = ("ops", "layer", "path", "bpe", "enabled", "uncounted", "functional_depth", "functional_macs",
                 "live")

    def __init__(self, bpe: int, live: LiveStorages | None = None):
        self.ops: list[OpRecord] = []
        self.layer = -1
        self.path = ""
        self.bpe = bpe
        self.enabled = True
        self.uncounted: dict[str, int] = {}  # "aten.foo" -> calls of ops that have no cost
        # Ultralytics-thop's functional products: counted while no module with its own rule runs
        self.functional_depth = 0
        self.functional_macs: dict[int, int] = {}
        # live storages and their element sizes (None: every tensor at ``bpe``)
        self.live = live


class _ScoreChain:
    """One candidate score matrix: the output of an activation-by-activation product (``bmm``), followed through
    views and same-sized ops (softmax, scaling, masking). It *is* a score matrix once another activation product
    reads it (``PV``); then every byte of it that the chain's ops moved is marked on their records. A chain stays
    inside the sub-module that started it and never passes a multiply-add op (a projection ends it)."""

    __slots__ = ("where", "pending", "confirmed", "output", "operands")

    def __init__(self, where: tuple[int, str], output: bool = False) -> None:
        self.where = where  # (layer, sub-module path) of the product that made it
        self.output = output  # made by a product that read scores (PV): its copies are the kernel's own layout
        self.operands: list[_Prep] = []  # what made the product's operands (QK^T's Q and K), marked on confirmation
        self.pending: list[tuple[int, int]] = []  # (record index, score bytes that op moved)
        self.confirmed = False

    def charge(self, ops: list[OpRecord], index: int, nbytes: int) -> None:
        if self.confirmed:
            ops[index] = replace(ops[index], score_bytes=ops[index].score_bytes + nbytes)
        else:
            self.pending.append((index, nbytes))

    def confirm(self, ops: list[OpRecord]) -> None:
        self.confirmed = True
        for index, nbytes in self.pending:
            ops[index] = replace(ops[index], score_bytes=ops[index].score_bytes + nbytes)
        self.pending.clear()
        for prep in self.operands:
            prep.mark(ops)
        self.operands.clear()


class _Prep:
    """A tensor made by a copy or a one-tensor elementwise op (a re-layout, a scale): if QK^T or PV reads it, a fused
    kernel would have read the original instead, so the op's traffic is marked :attr:`OpRecord.prep_bytes`."""

    __slots__ = ("index", "where", "inputs", "marked")

    def __init__(self, index: int, where: tuple[int, str], inputs: list[_Prep]) -> None:
        self.index, self.where, self.inputs, self.marked = index, where, inputs, False

    def mark(self, ops: list[OpRecord]) -> None:
        if self.marked:
            return
        self.marked = True
        op = ops[self.index]
        ops[self.index] = replace(op, prep_bytes=op.bytes - op.score_bytes)
        for p in self.inputs:
            if p.where == self.where:
                p.mark(ops)


def _element_bytes(rec: Recorder, t: torch.Tensor | None, default: int) -> int:
    """Bytes per element of a score tensor: its storage's size where storages are tracked (``--dtype int8`` keeps
    scores in fp16, :mod:`archscope.analysis.precision`), else the analysed dtype's."""
    if rec.live is None or t is None:
        return default
    return rec.live.element_bytes(t)


def _mark_prep(ops: list[OpRecord], index: int) -> None:
    op = ops[index]
    ops[index] = replace(op, prep_bytes=op.bytes - op.score_bytes)


#: The op classes whose features end in ``operand_age`` (vocab.CLASS_FEATURES).
AGED = frozenset(c for c, names in CLASS_FEATURES.items() if names and names[-1] == "operand_age")


class CountingMode(TorchDispatchMode):
    """Counts every ATen operator into a :class:`Recorder`; on meta, answers common operators from shapes.

    It also follows attention score matrices (see :class:`_ScoreChain`) and marks the bytes of them each record
    moves (:attr:`OpRecord.score_bytes`), so the roofline can run attention eager or fused.
    """

    @classmethod
    def _should_skip_dynamo(cls) -> bool:  # torch >= 2.8 private hook: keep torch._dynamo out (see module doc)
        return False

    def __init__(self, recorder: Recorder, *, shape_only: bool):
        super().__init__()
        self.recorder = recorder
        self.shape_only = shape_only
        self._info: dict[Any, _OpInfo] = {}
        self._scores: Any = WeakIdKeyDictionary()  # tensor -> _ScoreChain (entries go with their tensors)
        self._preps: Any = WeakIdKeyDictionary()  # tensor -> _Prep

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        info = self._info.get(func)
        if info is None:
            info = self._info[func] = _OpInfo(func)
        out = None
        if self.shape_only and info.shape_rule is not None:
            out = info.shape_rule(args, kwargs)
        if out is None:
            out = func(*args, **kwargs)
        rec = self.recorder
        if rec.enabled:
            fresh = 0
            clock = rec.live.written if rec.live is not None else 0  # before this op's outputs
            if rec.live is not None and info.allocates:
                fresh = rec.live.created(tensors_in(out), info.name, rec.layer, rec.path, info.activation_product)
            counted = not info.free
            if counted:
                self._count(info, args, kwargs, out, rec, fresh, clock)
            if info.score or len(self._scores):
                self._follow_scores(info, args, kwargs, out, rec, counted)
            if not info.activation_product and (info.free or info.kind in ("data", "other")):
                self._follow_preps(info, args, kwargs, out, rec, counted)
        return out

    def _follow_preps(self, info: _OpInfo, args, kwargs, out, rec: Recorder, counted: bool) -> None:
        """Remember what copies and one-tensor elementwise ops make (views pass it on)."""
        preps = self._preps
        ins = [t for t in tensors_in(args) + tensors_in(kwargs) if t.numel() > 1]
        if info.free:
            found = next((preps.get(t) for t in ins if t in preps), None)
            if found is not None:
                for t in tensors_in(out):
                    preps[t] = found
            return
        if not counted or len(ins) != 1:
            return
        made = _Prep(len(rec.ops) - 1, (rec.layer, rec.path), [p for p in (preps.get(ins[0]),) if p is not None])
        for t in tensors_in(out)[:1]:
            preps[t] = made

    def _follow_scores(self, info: _OpInfo, args, kwargs, out, rec: Recorder, counted: bool) -> None:
        """Start a score chain at a materialised activation product; carry chains through views and same-sized
        ops; confirm a chain when an activation product reads it."""
        scores = self._scores
        index = len(rec.ops) - 1
        read: list[tuple[_ScoreChain, int]] = []
        first: torch.Tensor | None = None  # the first score tensor read: its element size prices the chain
        where = (rec.layer, rec.path)
        if len(scores):
            seen: set[int] = set()
            for t in tensors_in(args) + tensors_in(kwargs):
                chain = scores.get(t)
                if chain is not None and chain.where == where and id(t) not in seen:
                    seen.add(id(t))
                    read.append((chain, elements(t)))
                    first = first if first is not None else t
        bpe = rec.bpe
        if info.activation_product:
            scored = False
            for chain, n in read:
                if chain.output:
                    continue
                scored = True
                chain.confirm(rec.ops)
                if counted:
                    chain.charge(rec.ops, index, n * _element_bytes(rec, first, bpe))
            operands = [p for t in tensors_in(args) if (p := self._preps.get(t)) is not None and p.where == where]
            if scored:
                for prep in operands:
                    prep.mark(rec.ops)
            if info.score and counted:
                outs = tensors_in(out)[:1]
                if outs:
                    chain = _ScoreChain(where, output=scored)
                    chain.operands = [] if scored else operands
                    scores[outs[0]] = chain
                    chain.charge(rec.ops, index, elements(outs[0]) * _element_bytes(rec, outs[0], bpe))
            return
        if not read or info.kind == "mac":
            return
        chain = read[0][0]
        if chain.output:  # the PV output re-laid out: a fused kernel writes it so
            if info.free or info.kind == "data":
                for t in tensors_in(out):
                    scores[t] = chain
                if counted:
                    _mark_prep(rec.ops, index)
            return
        size = max(n for _, n in read)
        moved = sum(n for _, n in read)
        for t in tensors_in(out):
            if t.numel() == size or (info.free and elements(t) <= size):
                scores[t] = chain
                moved += elements(t)
        if counted:
            chain.charge(rec.ops, index, moved * _element_bytes(rec, first, bpe))

    @staticmethod
    def _count(info: _OpInfo, args, kwargs, out, rec: Recorder, fresh: int = 0, clock: int = 0) -> None:
        outs = tensors_in(out)
        if info.first_only:
            outs = outs[:1]
        mac = other = 0
        if info.rule is not None:
            mac, other = info.rule(args, kwargs, outs)
        elif info.kind == "unknown":
            rec.uncounted[info.qualified_name] = rec.uncounted.get(info.qualified_name, 0) + 1
        live = rec.live
        read = written = 0
        if live is None:
            bpe = rec.bpe
            for t in tensors_in(args):
                read += elements(t) * bpe
            for t in tensors_in(kwargs):
                read += elements(t) * bpe
            for t in outs:
                written += elements(t) * bpe
        else:  # each tensor at the element size its storage was made with (analysis.precision)
            size = live.element_bytes
            for t in tensors_in(args):
                read += elements(t) * size(t)
            for t in tensors_in(kwargs):
                read += elements(t) * size(t)
            for t in outs:
                written += elements(t) * size(t)
        shape = tuple(outs[0].shape) if info.score and outs else ()
        op_class = costs.op_class(info.packet, args) if info.by_call else info.op_class
        features: tuple[float, ...] = ()
        if op_class:
            age = live.operand_age(tensors_in(args), clock) if live is not None and op_class in AGED else None
            features = costs.op_features(op_class, info.packet, args, outs, mac + other, read + written, age)
        rec.ops.append(OpRecord(info.name, rec.layer, rec.path, mac, other, read, written, shape,
                                info.activation_product, op_class=op_class, features=features, fresh_bytes=fresh))
        if info.functional and rec.functional_depth == 0:
            rec.functional_macs[rec.layer] = rec.functional_macs.get(rec.layer, 0) + mac // 2


# --------------------------------------------------------------------------------------- module tracking


class ModuleTracker:
    """Global forward pre/post hooks that keep a stack of the running modules of one model.

    Each call is given its path relative to its YAML layer ("m.0.cv1.conv"). A module shared by several parents
    (Ultralytics shares one activation instance across all Convs) gets the path under the parent that called it.
    ``on_call(module, layer, path, args, output)`` sees every finished call (used for the GFLOPs conventions);
    ``on_layer_start(layer, args)`` sees the inputs of each YAML layer.
    """

    def __init__(self, model: torch.nn.Module, recorder: Recorder, *, on_call=None, functional_rule=None,
                 on_layer_start=None):
        self.recorder = recorder
        self.on_call = on_call
        self.functional_rule = functional_rule  # module -> True while it runs, functional products are not counted
        self.on_layer_start = on_layer_start
        self.stack: list[tuple[torch.nn.Module, int, str, bool]] = []
        layers: Any = model.layers  # an ArchModel's ModuleList (torch's stubs type module attributes loosely)
        self.layer_of = {id(layer): i for i, layer in enumerate(layers)}
        self.known = {id(m) for m in model.modules()}
        self._children: dict[int, dict[int, str]] = {}
        self._handles: list[Any] = []

    def __enter__(self):
        from torch.nn.modules import module as module_mod

        self._handles.append(module_mod.register_module_forward_pre_hook(self._pre))
        try:
            self._handles.append(module_mod.register_module_forward_hook(self._post, always_call=True))
        except TypeError:  # torch without always_call
            self._handles.append(module_mod.register_module_forward_hook(self._post))
        return self

    def __exit__(self, *exc):
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self.stack.clear()
        self.recorder.layer, self.recorder.path = -1, ""
        return False

    def _child_name(self, parent: torch.nn.Module, child: torch.nn.Module) -> str | None:
        names = self._children.get(id(parent))
        if names is None:
            names = {}
            for name, m in parent.named_modules(remove_duplicate=False):
                if name:
                    names.setdefault(id(m), name)
            self._children[id(parent)] = names
        return names.get(id(child))

    def _pre(self, module, args):
        if id(module) not in self.known:
            return None
        stack = self.stack
        if not stack:
            layer = self.layer_of.get(id(module), -1)
            path = ""
            if layer >= 0 and self.on_layer_start is not None:
                self.on_layer_start(layer, args)
        else:
            parent, layer, parent_path, _ = stack[-1]
            name = self._child_name(parent, module)
            if name is None:
                path = parent_path
            else:
                path = f"{parent_path}.{name}" if parent_path else name
        ruled = bool(self.functional_rule is not None and self.functional_rule(module))
        if ruled:
            self.recorder.functional_depth += 1
        stack.append((module, layer, path, ruled))
        self.recorder.layer, self.recorder.path = layer, path
        return None

    def _post(self, module, args, output):
        stack = self.stack
        if not stack or stack[-1][0] is not module:
            return None
        _, layer, path, ruled = stack.pop()
        if ruled:
            self.recorder.functional_depth -= 1
        if self.on_call is not None:
            self.on_call(module, layer, path, args, output)
        if stack:
            self.recorder.layer, self.recorder.path = stack[-1][1], stack[-1][2]
        else:
            self.recorder.layer, self.recorder.path = -1, ""
        return None



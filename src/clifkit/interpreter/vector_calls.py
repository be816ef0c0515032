"""Indirect calls through a signature whose vector types are not the callee's.

call_indirect (return_call_indirect, try_call_indirect) compares exact types (`machine.indirect_key`), so
the usual call costs one comparison. When that fails, `adapted` decides: a vector may stand for
another vector of the same width, as Cranelift's interpreter (whose vectors are 16 bytes) lets any
vector stand for any other. Natively the vector register passes unchanged, so the callee reads
the caller's bits as its own lane type and the caller reads the callee's result bits as the
signature's type: a `bitcast` (`lane_ops.bitcast_template`) in the lane order of the callee's
registers (`machine.big_lanes`). That order is little-endian on x86_64 and aarch64, and on s390x big-endian except under
the ``tail`` convention, whose vector lanes Cranelift keeps in little-endian order
(cranelift/codegen/src/isa/s390x/abi.rs, ``LaneOrder``). Vectors of different widths, and
scalars of different types, do not match: the call traps ``bad_sig`` (natively a narrower vector
leaves register bits no one defined).

The adapter is built once per callee address and signature (`Interpreter.vector_adapters`) and
is itself an entry of `Interpreter.indirect`'s form, so the caller's depth check and tail-call
trampoline treat it as the callee.
"""

from __future__ import annotations

from ..ir.types import parse_type
from .machine import TAIL_CALL


def _converter(src: str, dst: str, big: bool):
    """None when a value of type `src` passes as `dst` unchanged; a function reinterpreting a
    vector's lanes when both are vectors of the same width; False when they do not match."""
    if src == dst:
        return None
    a, b = parse_type(src), parse_type(dst)
    if a is None or b is None or not a.passes_as(b):
        return False
    from .integer_ops import compile_template
    from .lane_ops import bitcast_template

    return compile_template(bitcast_template(a, b, big), 1)


def _converters(srcs: tuple, dsts: tuple, big: bool):
    if len(srcs) != len(dsts):
        return False
    out = [_converter(s, d, big) for s, d in zip(srcs, dsts)]
    return False if False in out else out


def adapted(interp, addr: int, entry: list, key: tuple):
    """The entry to call at `addr` (whose entry's exact signature is not `key`) through
    signature `key`: an adapter reinterpreting the vectors that differ, or None when the
    signatures do not match."""
    cache = interp.vector_adapters
    found = cache.get((addr, key))
    if found is not None:
        return found
    big = entry[3]
    (params, returns), (own_params, own_returns) = key, entry[1]
    ins = _converters(params, own_params, big)
    outs = _converters(own_returns, returns, big)
    if ins is False or outs is False:
        return None
    found = [_adapter(entry, ins, outs, returns, big), key, entry[2], big]
    cache[(addr, key)] = found
    return found


def _adapter(entry: list, ins: list, outs: list, returns: tuple, big: bool):
    """A callee that converts its arguments, calls `entry`'s function (read at each call: a
    stub becomes the compiled function), runs its tail calls, and converts its results.

    A tail call to another adapter is followed here rather than called: each would otherwise run
    the next one's tail calls inside its own Python frame, so a tail-recursive loop through other
    vector types would nest one frame per iteration (and trap ``stk_ovf`` where native code runs).
    Every callee of the chain returns the types of the first one's (the verifier checks each tail
    call's returns), so the results are converted once, from the last callee's own types."""
    single = len(outs) == 1
    finals = {}

    def call(machine, depth, *args):
        args = [a if c is None else c(a) for a, c in zip(args, ins)]
        result = entry[0](machine, depth, *args)
        own = None
        while result is TAIL_CALL:
            fn, args = machine.tail_fn, machine.tail_args
            adapts = getattr(fn, "adapts", None)
            if adapts is not None:
                inner, inner_ins = adapts
                fn, own = inner[0], inner[1][1]
                args = [a if c is None else c(a) for a, c in zip(args, inner_ins)]
            result = fn(machine, depth, *args)
        convs = outs
        if own is not None:
            convs = finals.get(own)
            if convs is None:
                convs = finals[own] = _converters(own, returns, big)
        if single:
            return result if convs[0] is None else convs[0](result)
        if not convs:
            return result
        return tuple(r if c is None else c(r) for r, c in zip(result, convs))

    call.adapts = (entry, ins)
    return call

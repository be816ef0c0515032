"""The named rules: where native code's behaviour is undefined or left to the hardware.

Each rule says how the fuzzer keeps such behaviour out of its verdicts: the
generator avoids it (``avoid``) or the comparison canonicalises it
(``compare``), or both. `docs/fuzzing.md` explains every rule; the fuzzer's
statistics count how often each comparison rule explained a difference.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    name: str
    how: str  # "avoid", "compare" or "avoid+compare"
    summary: str


RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule(
            "nan-bits",
            "avoid+compare",
            "NaN sign and payload from float arithmetic are the hardware's choice: the generator canonicalises "
            "possibly-NaN values before any use that observes their bits (bitcast, bitwise ops, stores, "
            "fcopysign's sign, vhigh_bits, return); the comparison treats any NaN lane as equal to any NaN lane",
        ),
        Rule(
            "wild-access",
            "avoid",
            "no access outside every heap: each memory access is to a stack slot at an in-range offset, or through "
            "a bounds check (heap_addr/heap_load/heap_store/table_addr, or an explicit overflow-safe check against "
            "the bound slot) whose limit lies inside the heap's reservation; such accesses keep their trap code",
        ),
        Rule(
            "stale-heap-base",
            "avoid",
            "explicit heap accesses reload base and bound from vmctx right before the access, since %heap_grow "
            "moves a dynamic heap and leaves its old range unmapped",
        ),
        Rule(
            "uninit-stack",
            "avoid",
            "stack slots are written in full in the entry block before anything reads them: native stack memory "
            "starts with garbage, the interpreter's with zeros",
        ),
        Rule(
            "address-leak",
            "avoid",
            "addresses (stack_addr, heap_addr, table_addr, func_addr, heap bases read from vmctx) only feed address "
            "computations and memory accesses, never results or arithmetic: their values differ between engines",
        ),
        Rule(
            "simd-alignment",
            "avoid",
            "vector loads and stores use 16-byte aligned addresses: Cranelift's x64 backend may fold a vector load "
            "into an SSE instruction that faults when misaligned (Cranelift issue 5922)",
        ),
        Rule(
            "x86-lowering-gap",
            "avoid",
            "opcode/type combinations Cranelift 0.120's x86_64 backend cannot lower at baseline are not generated "
            "(i128 division, i128 min/max/select, vector rotates, i64x2 icmp/min/max, ... see specs.X86_GAPS)",
        ),
        Rule(
            "cranelift-bug",
            "avoid",
            "combinations Cranelift 0.120 is known (from this fuzzer's reduced reproducers) to compile wrongly "
            "on x86_64 or s390x are not generated (see specs.CRANELIFT_BUGS, specs.S390X_CRANELIFT_BUGS, "
            "specs.widens_load and docs/fuzzing.md)",
        ),
        Rule(
            "native-page-slack",
            "avoid+compare",
            "native memory is protected in pages: below a region's base the rest of its first page is open, and "
            "so is the rest of a static heap's last page after growth by part of a page; the generator keeps "
            "accesses inside regions (wild-access), and the comparison reports a trap the interpreter takes there "
            "as outside-guarantee (a program error), never as an agreement or an unexplained disagreement",
        ),
        Rule(
            "aarch64-lowering-gap",
            "avoid+compare",
            "with --target aarch64: combinations Cranelift 0.120's aarch64 backend cannot compile, measured under QEMU "
            "(bitwise ops on floats, fcmp one/ueq/ult/ule/ugt/uge, vhigh_bits of float vectors, i128 bitselect: "
            "specs.AARCH64_GAPS) are not generated; a run skipped because aarch64 cannot compile it is counted here",
        ),
        Rule(
            "s390x-lowering-gap",
            "avoid+compare",
            "with --target s390x: combinations Cranelift 0.120's s390x backend cannot compile, measured under QEMU "
            "(bitwise ops on floats, the *_overflow opcodes: specs.S390X_GAPS) are not generated; a run skipped "
            "because s390x cannot compile it is counted here",
        ),
        Rule(
            "x86_64-lowering-gap",
            "compare",
            "a run skipped because x86_64 cannot compile it (what x86-lowering-gap does not foresee) is counted here",
        ),
        Rule(
            "engine-skip",
            "compare",
            "a run that an engine skips (it cannot compile or run that function) is counted as skipped, never as "
            "a disagreement",
        ),
    )
}


def rule(name: str) -> Rule:
    return RULES[name]

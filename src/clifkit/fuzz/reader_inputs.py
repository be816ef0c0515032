"""The reader fuzzer's inputs: a corpus of real CLIF, mutated, and random token soup.

Mutations work on text (characters, tokens, numbers toward boundary values, lines, lines spliced
in from another file), not on IR, because the reader is what they test: most of what they make
must not parse. Every input is derived from (seed, index) alone, so input I of seed S is the
same whatever the count, and a finding is repeated by its index."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence


_BUILTIN_SEEDS = (
    """test interpret
test run
target x86_64

function %add(i32, i32) -> i32 {
block0(v0: i32, v1: i32):
    v2 = iadd v0, v1
    return v2
}
; run: %add(1, 2) == 3
""",
    """function %f(i64 vmctx, i64) -> i64 fast {
    ss0 = explicit_slot 16, align = 8
    gv0 = vmctx
    gv1 = load.i64 notrap aligned gv0+8
    sig0 = (i64) -> i64
    fn0 = %g sig0

block0(v0: i64, v1: i64):
    v2 = stack_addr.i64 ss0+4
    store.i64 little v1, v2
    v3 = call fn0(v1)
    brif v3, block1(v3), block2
block1(v4: i64):
    v5 = f64const 0x1.8p-3
    return v4
block2:
    trap user1
}
""",
)


def project_corpus() -> list[Path]:
    """The project's own CLIF: ``examples/**/*.clif`` and ``tests/data/*.clif`` of the source tree
    this module lives in (empty for an installed copy without them)."""
    root = Path(__file__).resolve().parents[3]
    found = sorted((root / "examples").rglob("*.clif")) + sorted((root / "tests" / "data").glob("*.clif"))
    return [p for p in found if p.is_file()]


def load_corpus(paths: Optional[Iterable[str]] = None) -> list[str]:
    """The texts of `paths` (files, or directories searched for *.clif), or of the project's own
    corpus, plus two small built-in programs."""
    files: list[Path] = []
    if paths:
        for p in map(Path, paths):
            files.extend(sorted(p.rglob("*.clif")) if p.is_dir() else [p])
    else:
        files = project_corpus()
    texts = []
    for f in files:
        try:
            texts.append(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
    return texts + list(_BUILTIN_SEEDS)


# -- mutations -------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"[A-Za-z_%$][\w.%$-]*|0x[0-9a-fA-F_.pP+-]+|[+-]?\d[\d_.eE+-]*|\s+|.", re.S)
_NUMBER_RE = re.compile(r"(?<![\w.])[+-]?(?:0x[0-9a-fA-F_]+(?:\.[0-9a-fA-F_]*)?(?:p[+-]?\d+)?|\d[\d_]*(?:\.\d+)?(?:e[+-]?\d+)?)(?![\w.])")

WORDS = (
    "function", "block0", "block1", "block4294967295", "v0", "v1", "v99999999999", "ss0", "dss0", "dt0", "gv0",
    "gv1", "sig0", "fn0", "fn1", "heap0", "table0", "const0", "jt0", "stack_limit", "explicit_slot",
    "explicit_dynamic_slot", "vmctx", "load", "store", "iadd_imm", "symbol", "colocated", "tls",
    "dyn_scale_target_const", "static", "dynamic", "min", "bound", "offset_guard", "index_type", "element_size",
    "i8", "i16", "i32", "i64", "i128", "f16", "f32", "f64", "f128", "i8x16", "i32x4", "f64x2", "i32x4xN",
    "i64x2x2", "i256", "iconst", "iadd", "isub", "imul", "udiv", "sdiv", "band", "icmp", "fcmp", "select",
    "brif", "jump", "br_table", "return", "return_call", "call", "call_indirect", "try_call", "trap", "trapz",
    "trapnz", "vconst", "shuffle", "extractlane", "insertlane", "splat", "bitcast", "uextend", "sextend",
    "ireduce", "fcvt_to_sint", "heap_addr", "heap_load", "heap_store", "table_addr", "atomic_rmw",
    "atomic_cas", "stack_addr", "stack_load", "stack_store", "func_addr", "global_value", "symbol_value",
    "eq", "ne", "ult", "sgt", "uno", "ord", "little", "big", "notrap", "aligned", "readonly", "heap_oob",
    "user1", "user256", "int_divz", "stk_ovf", "tail", "fast", "cold", "system_v", "windows_fastcall",
    "sret", "uext", "sext", "sarg", "test", "interpret", "run", "target", "x86_64", "aarch64", "set",
    "opt_level=speed", "feature", "NaN", "sNaN:0x1", "+Inf", "-Inf", "%f", "%heap_grow", "u0:1", "u4294967296:0",
    "userextname0", "patchable", "align", "checked", "can_move",
)
PUNCT = ("(", ")", "{", "}", "[", "]", ",", ":", "=", "->", "+", "-", ".", ";", "@", "%", "\n", " ", "*", "!", '"')
# Boundary values for number perturbation: widths, signs, huge, float syntax, odd spellings.
NUMBERS = (
    "0", "1", "-1", "-0", "7", "8", "15", "16", "63", "64", "127", "128", "255", "256", "-128", "32767", "65535",
    "2147483647", "2147483648", "-2147483648", "4294967295", "4294967296", "9223372036854775807",
    "9223372036854775808", "-9223372036854775808", "18446744073709551615", "18446744073709551616",
    "340282366920938463463374607431768211455", "340282366920938463463374607431768211456", "1" + "0" * 400,
    "0x0", "0xff", "0x7fff_ffff", "0x8000_0000", "0xffff_ffff", "0x1_0000_0000", "0xffff_ffff_ffff_ffff",
    "0x1_0000_0000_0000_0000", "0x" + "f" * 100, "0x_", "0x", "00", "1_", "_1", "1__0", "0b101", "0o17",
    "0x1.8p3", "-0x1.fffffep127", "0x1p-1074", "0x1.0p99999", "0x0.0p0", "1e10", "1.5", "-0.0",
)
ODD_CHARS = "\x00\t\r\x0b\x0c\x7f\u00a0\u2028\u200b\ufeff\U0001f600\\'\"`#~^|&?<>"


def _tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(text)


def _random_char(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.6:
        return rng.choice("abcdefghijklmnopqrstuvwxyz0123456789_%.:=,()[]{}+-; \n")
    if r < 0.85:
        return rng.choice(ODD_CHARS)
    return chr(rng.randrange(0x20, 0x3000))


def _flip_char(text: str, rng: random.Random, seeds: Sequence[str]) -> str:
    if not text:
        return _random_char(rng)
    i = rng.randrange(len(text))
    return text[:i] + _random_char(rng) + text[i + 1 :]


def _insert_char(text: str, rng: random.Random, seeds: Sequence[str]) -> str:
    i = rng.randrange(len(text) + 1)
    return text[:i] + "".join(_random_char(rng) for _ in range(rng.randint(1, 3))) + text[i:]


def _delete_span(text: str, rng: random.Random, seeds: Sequence[str]) -> str:
    if not text:
        return text
    i = rng.randrange(len(text))
    return text[:i] + text[i + rng.randint(1, 8) :]


def _token_op(op: str) -> Callable:
    def mutate(text: str, rng: random.Random, seeds: Sequence[str]) -> str:
        toks = _tokens(text)
        solid = [i for i, t in enumerate(toks) if not t.isspace()]
        if not solid:
            return text + rng.choice(WORDS)
        i = rng.choice(solid)
        if op == "delete":
            del toks[i]
        elif op == "duplicate":
            toks.insert(i, toks[i] + rng.choice(("", " ")))
        elif op == "swap":
            j = rng.choice(solid)
            toks[i], toks[j] = toks[j], toks[i]
        elif op == "replace":
            toks[i] = rng.choice(WORDS) if rng.random() < 0.7 else rng.choice(PUNCT)
        elif op == "insert":
            toks.insert(i, rng.choice(WORDS + PUNCT) + rng.choice(("", " ")))
        return "".join(toks)

    mutate.__name__ = f"token_{op}"
    return mutate


def _perturb_number(text: str, rng: random.Random, seeds: Sequence[str]) -> str:
    found = list(_NUMBER_RE.finditer(text))
    if not found:
        return _insert_char(text, rng, seeds)
    m = rng.choice(found)
    old = m.group(0)
    r = rng.random()
    if r < 0.5:
        new = rng.choice(NUMBERS)
    elif r < 0.8:
        try:
            value = int(old.replace("_", ""), 0)
        except ValueError:
            value = 1
        value = rng.choice((value + 1, value - 1, -value, value * 2, value << 32, value << 64, ~value, value ^ (1 << 63)))
        new = str(value) if rng.random() < 0.5 else (f"-0x{-value:x}" if value < 0 else f"0x{value:x}")
    else:
        new = old + rng.choice(("0", "_", "0000000000", ".5", "p3", "x"))
    return text[: m.start()] + new + text[m.end() :]


def _truncate(text: str, rng: random.Random, seeds: Sequence[str]) -> str:
    return text[: rng.randrange(len(text) + 1)]


def _line_op(op: str) -> Callable:
    def mutate(text: str, rng: random.Random, seeds: Sequence[str]) -> str:
        lines = text.split("\n")
        i = rng.randrange(len(lines))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "splice":
            other = rng.choice(seeds).split("\n")
            start = rng.randrange(len(other))
            lines[i:i] = other[start : start + rng.randint(1, 6)]
        return "\n".join(lines)

    mutate.__name__ = f"line_{op}"
    return mutate


MUTATIONS: tuple[Callable, ...] = (
    _flip_char, _insert_char, _delete_span,
    _token_op("delete"), _token_op("duplicate"), _token_op("swap"), _token_op("replace"), _token_op("insert"),
    _perturb_number, _perturb_number, _perturb_number,
    _truncate,
    _line_op("delete"), _line_op("duplicate"), _line_op("swap"), _line_op("splice"), _line_op("splice"),
)


def token_soup(rng: random.Random, seeds: Sequence[str]) -> str:
    """Random text from CLIF's own words, punctuation and numbers (sometimes after a real header)."""
    parts = []
    if rng.random() < 0.5:
        parts.append(rng.choice(("function %f(i32) -> i32 {\nblock0(v0: i32):\n", "test run\n", "")))
    for _ in range(rng.randint(1, 60)):
        r = rng.random()
        parts.append(rng.choice(WORDS) if r < 0.45 else rng.choice(PUNCT) if r < 0.85 else rng.choice(NUMBERS))
        parts.append(rng.choice((" ", " ", "", "\n", ", ")))
    return "".join(parts)


def make_input(seed: int, index: int, seeds: Sequence[str]) -> str:
    """Input `index` of run `seed`: a mutation (1 to 4 stacked) of a corpus text, or token soup."""
    rng = random.Random(f"{seed}:{index}")
    if rng.random() < 0.08:
        return token_soup(rng, seeds)
    text = rng.choice(seeds)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        text = rng.choice(MUTATIONS)(text, rng, seeds)
    return text


def mutate(text: str, rng: random.Random, seeds: Sequence[str], rounds: int = 1) -> str:
    """`rounds` random mutations of `text` (for property-based tests that bring their own `rng`)."""
    for _ in range(rounds):
        text = rng.choice(MUTATIONS)(text, rng, seeds)
    return text

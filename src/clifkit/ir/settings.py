"""The names a ``set`` line and a ``target`` line may use, and the check of a file's words.

Cranelift's reader refuses a setting it does not know ("unknown setting 'opt_levl'"): a
misspelt setting must not quietly leave the file compiled with the default. clifkit reads
CLIF from the heap era (2021) to today, so it knows every name Cranelift defined in that
time: the shared settings of ``codegen/meta/src/shared/settings.rs`` and each backend's flags
and presets (``codegen/meta/src/isa/*.rs``), gathered from their history since December 2020.
A name some era knew and the bundled Cranelift does not is accepted here; the native engine
says that it was ignored. Values are not checked: the engine that reads a setting does.

A target this module has no list for (an architecture Cranelift dropped, such as ``arm``) is
not checked."""

from __future__ import annotations

import re

from .arch import target_arch

TYPE_CHECKING = False  # typing stays unimported at run time: only annotations use it
if TYPE_CHECKING:
    from typing import Optional

SHARED_SETTINGS = frozenset("""
    avoid_div_traps baldrdash_prologue_words bb_padding_log2_minus_one emit_all_ones_funcaddrs
    enable_alias_analysis enable_atomics enable_compact_unwind_abi enable_float
    enable_heap_access_spectre_mitigation enable_incremental_compilation_cache_checks
    enable_jump_tables enable_llvm_abi_extensions enable_multi_ret_implicit_sret
    enable_nan_canonicalization enable_pcc enable_pinned_reg enable_probestack enable_safepoints
    enable_simd enable_table_access_spectre_mitigation enable_verifier is_pic libcall_call_conv
    log2_min_function_alignment machine_code_cfg_info opt_level preserve_frame_pointers
    probestack_func_adjusts_sp probestack_size_log2 probestack_strategy regalloc
    regalloc_algorithm regalloc_checker regalloc_verbose_logs stack_switch_model tls_model
    unwind_info use_colocated_libcalls use_egraphs use_pinned_reg_as_heap_base
""".split())

# riscv64's vector-length extensions, each a flag (has_zvl128b) and a preset (zvl128b).
_ZVL = [f"zvl{1 << k}b" for k in range(5, 17)]

# Each backend's flags and presets (a preset, such as ``skylake``, enables several flags).
ISA_FLAGS: dict[str, frozenset] = {
    "x86_64": frozenset("""
        alderlake amdfam10 athlon64 atom barcelona baseline bdver1 bdver2 bdver3 bdver4 bonnell
        broadwell btver1 btver2 cannonlake cascadelake cooperlake core2 corei7 goldmont grandridge
        graniterapids has_avx has_avx2 has_avx512bitalg has_avx512dq has_avx512f has_avx512vbmi
        has_avx512vl has_avx512vnni has_avx_vnni has_bmi1 has_bmi2 has_cmpxchg16b has_fma has_lzcnt
        has_popcnt has_sse3 has_sse41 has_sse42 has_ssse3 haswell icelake ivybridge k8 knl knm
        meteorlake nehalem nocona opteron penryn raptorlake sandybridge sapphirerapids sierraforest
        silvermont skx skylake slm sse3 sse41 sse42 ssse3 tigerlake tremont westmere x84_64_v3
        x86_64 x86_64_v2 x86_64_v3 x86_64_v4 znver1 znver2 znver3 znver4
        athlon-fx athlon64-sse3 core-avx-i core-avx2 corei7-avx goldmont-plus icelake-client
        icelake-server k8-sse3 opteron-sse3 skylake-avx512 x86-64 x86-64-v2 x86-64-v3 x86-64-v4
    """.split()),
    "aarch64": frozenset("""
        has_dotprod has_fp16 has_i8mm has_lse has_pauth sign_return_address sign_return_address_all
        sign_return_address_with_bkey use_bti use_csdb
    """.split()),
    "s390x": frozenset("arch13 arch14 arch15 has_mie2 has_mie3 has_mie4 has_vxrs_ext2 has_vxrs_ext3 z15 z16 z17".split()),
    "riscv64": frozenset("""
        enable_e enable_m has_a has_b has_c has_d has_f has_m has_v has_zba has_zbb has_zbc has_zbkb
        has_zbs has_zca has_zcb has_zcd has_zfa has_zfh has_zfhmin has_zicond has_zicsr has_zifencei
        has_zvbb has_zvfh supports_a supports_d supports_f supports_m
    """.split() + _ZVL + [f"has_{z}" for z in _ZVL]),
    "pulley": frozenset("big_endian pointer_width".split()),
}

# A setting's name; x86_64's presets named after LLVM's CPUs have hyphens ("skylake-avx512").
_NAME = re.compile(r"[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*")

# Cranelift's reader of March to June 2021 took one of these right after a target's name: the
# backend (new or old x86 one) to build, of any architecture. No flag has either name.
BACKEND_WORDS = ("machinst", "legacy")


def isa_family(target: str) -> str:
    """Whose flags a target's first word ("x86_64", "aarch64-apple-darwin", "riscv64gc",
    "pulley32be", "aarch64_be") takes: a key of `ISA_FLAGS`, or the word's architecture when it
    has none."""
    arch = target_arch(target)
    for family in ("riscv64", "pulley", "aarch64"):
        if arch.startswith(family):
            return family
    return arch


def unknown_word(keyword: str, words: list[str]) -> Optional[tuple[int, str]]:
    """The first word of a ``set`` line (`keyword` "set") or a ``target`` line ("target"; its
    first word is the target) that names nothing Cranelift knows there: (its index in `words`,
    the message). None when all are known."""
    if keyword == "set":
        known, what, first = SHARED_SETTINGS, "setting", 0
        expected = "a setting"
    elif keyword == "target" and words:
        family = isa_family(words[0])
        known = ISA_FLAGS.get(family)
        if known is None:
            return None
        what, first = f"{family} flag", 1
        expected = f"a flag of {family}"
        if len(words) > 1 and words[1] in BACKEND_WORDS:
            first = 2
    else:
        return None
    for i in range(first, len(words)):
        name = words[i].split("=", 1)[0]
        if name in known:
            continue
        import difflib  # (only for an error)

        close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        if not _NAME.fullmatch(name):
            if words[i].startswith("="):
                hint = " (write NAME=VALUE without spaces)"
            return i, f"expected {expected} (NAME or NAME=VALUE), found '{words[i]}'{hint}"
        elsewhere = _where_else(keyword, name)
        return i, f"unknown {what} '{name}'" + (f" ({elsewhere})" if elsewhere else hint)
    return None


def _where_else(keyword: str, name: str) -> Optional[str]:
    """Where `name`, unknown on a `keyword` line, belongs instead, if anywhere."""
    if keyword == "target" and name in SHARED_SETTINGS:
        return "a setting: write it on a 'set' line before the target"
    if keyword == "target" and name in BACKEND_WORDS:
        return "a backend of 2021: write it right after the target's name"
    if keyword == "set":
        families = [f for f, names in ISA_FLAGS.items() if name in names]
        if families:
            return f"a flag of {' and '.join(families)}: write it after the target's name on its 'target' line"
    return None

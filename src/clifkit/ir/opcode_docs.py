"""One line per opcode of the table (`opcodes.py`): what the instruction computes.

Apart from the table, which every run reads, because only documentation asks for these
(`Opcode.doc`); `tests/test_opcode_coverage.py` checks that every opcode of the table has a line
here and that every line names an opcode of the table.
"""

# One line per opcode: what it computes. The facts follow Cranelift's
# cranelift/codegen/meta/src/shared/instructions.rs (heap-era ones: docs/heap-era.md).
_DOC_TEXT = """
jump                   Jump unconditionally to a block, passing it arguments.
brif                   Branch to the first block when c is non-zero, else to the second.
br_table               Branch to the jump table's entry x, or to its default block when x is out of range.
debugtrap              Stop in the debugger (a breakpoint instruction); execution may continue.
trap                   Trap with the given code; never continues.
trapz                  Trap with the given code when c is zero.
trapnz                 Trap with the given code when c is non-zero.
return                 Return the values to the caller.
call                   Call a function by its reference and receive its results.
call_indirect          Call the function at address callee with the given signature.
return_call            Tail-call a function by its reference: its results are this function's.
return_call_indirect   Tail-call the function at address callee.
func_addr              The address of a referenced function.
try_call               Call a function by reference; continue at the normal block or, on an exception, at a handler block.
try_call_indirect      Call the function at address callee, with exception handler blocks as try_call.
splat                  A vector with every lane set to x.
swizzle                Pick bytes of x by the lane indices in y; an out-of-range index gives zero.
x86_pshufb             swizzle with the semantics of x86's pshufb (an index with its top bit set gives zero).
insertlane             x with lane Idx replaced by y.
extractlane            Lane Idx of x.
smin                   The signed minimum of x and y.
umin                   The unsigned minimum of x and y.
smax                   The signed maximum of x and y.
umax                   The unsigned maximum of x and y.
avg_round              The unsigned average of x and y, rounded up: (x + y + 1) / 2 per lane.
uadd_sat               x + y per lane, saturating at the unsigned bounds.
sadd_sat               x + y per lane, saturating at the signed bounds.
usub_sat               x - y per lane, saturating at the unsigned bounds.
ssub_sat               x - y per lane, saturating at the signed bounds.
load                   Read a value of the result type from p + Offset.
store                  Write x to p + Offset.
uload8                 Read 8 bits from p + Offset, zero-extended to the result type.
sload8                 Read 8 bits from p + Offset, sign-extended to the result type.
istore8                Write the low 8 bits of x to p + Offset.
uload16                Read 16 bits from p + Offset, zero-extended to the result type.
sload16                Read 16 bits from p + Offset, sign-extended to the result type.
istore16               Write the low 16 bits of x to p + Offset.
uload32                Read 32 bits from p + Offset, zero-extended to i64.
sload32                Read 32 bits from p + Offset, sign-extended to i64.
istore32               Write the low 32 bits of x to p + Offset.
stack_switch           Suspend this stack, saving its context, and resume the stack whose context is loaded, passing a payload.
uload8x8               Read eight 8-bit lanes (64 bits) from p + Offset, each zero-extended into an i16x8.
sload8x8               Read eight 8-bit lanes (64 bits) from p + Offset, each sign-extended into an i16x8.
uload16x4              Read four 16-bit lanes (64 bits) from p + Offset, each zero-extended into an i32x4.
sload16x4              Read four 16-bit lanes (64 bits) from p + Offset, each sign-extended into an i32x4.
uload32x2              Read two 32-bit lanes (64 bits) from p + Offset, each zero-extended into an i64x2.
sload32x2              Read two 32-bit lanes (64 bits) from p + Offset, each sign-extended into an i64x2.
stack_load             Read a value from a stack slot at a constant offset.
stack_store            Write x to a stack slot at a constant offset.
stack_addr             The address of a stack slot plus a constant offset.
dynamic_stack_load     Read a value from a dynamic stack slot.
dynamic_stack_store    Write x to a dynamic stack slot.
dynamic_stack_addr     The address of a dynamic stack slot.
global_value           The value of a global value entity.
symbol_value           The value of a symbolic global value (a symbol's address).
tls_value              The value of a thread-local global value.
get_pinned_reg         The contents of the pinned register (when the target pins one).
set_pinned_reg         Set the pinned register (when the target pins one).
get_frame_pointer      The address held in the frame pointer register.
get_stack_pointer      The address held in the stack pointer register.
get_return_address     The address this function returns to.
get_exception_handler_address The address of the handler block that one of a try_call's exception-table entries names.
sequence_point         A point that keeps debug-tag state in order: no effect on values.
iconst                 An integer constant.
f16const               An f16 constant.
f32const               An f32 constant.
f64const               An f64 constant.
f128const              An f128 constant (from the constant pool).
vconst                 A vector constant.
shuffle                A vector of bytes of a and b picked by the immediate mask (0-15 from a, 16-31 from b).
nop                    Do nothing.
select                 x when c is non-zero, else y.
select_spectre_guard   select that is never speculated: a Spectre mitigation for bounds checks.
bitselect              Bits of x where c has ones, bits of y where it has zeros.
x86_blendv             bitselect by the top bit of each lane of c, as x86's blendv does.
blendv                 The heap-era name of x86_blendv: lanes of x where c's lane has its top bit set, else of y.
vany_true              1 when any lane of a is non-zero, else 0.
vall_true              1 when every lane of a is non-zero, else 0.
vhigh_bits             The top bit of each lane of a, gathered into the low bits of an integer.
icmp                   Compare integers by a condition code: 1 (all ones per vector lane) when it holds.
icmp_imm               Compare a scalar integer with an immediate by a condition code.
iadd                   x + y, wrapping.
isub                   x - y, wrapping.
ineg                   -x, wrapping.
iabs                   The absolute value of x, wrapping (the minimum stays itself).
imul                   x * y, wrapping.
umulhi                 The high half of the unsigned double-width product x * y.
smulhi                 The high half of the signed double-width product x * y.
sqmul_round_sat        Fixed-point multiply of Q-format lanes, rounded and saturated.
x86_pmulhrsw           sqmul_round_sat with the semantics of x86's pmulhrsw.
udiv                   Unsigned x / y, rounded toward zero; traps on division by zero.
sdiv                   Signed x / y, rounded toward zero; traps on division by zero and on overflow.
urem                   Unsigned x mod y; traps on division by zero.
srem                   Signed remainder of x / y, with the sign of x; traps on division by zero.
iadd_imm               x + Y (an immediate), wrapping.
imul_imm               x * Y (an immediate), wrapping.
udiv_imm               Unsigned x / Y (an immediate).
sdiv_imm               Signed x / Y (an immediate).
urem_imm               Unsigned x mod Y (an immediate).
srem_imm               Signed remainder of x / Y (an immediate).
irsub_imm              Y - x (an immediate minus x), wrapping.
sadd_overflow_cin      x + y + c_in, wrapping, and whether the signed sum overflowed.
uadd_overflow_cin      x + y + c_in, wrapping, and whether the unsigned sum carried out.
uadd_overflow          x + y, wrapping, and whether the unsigned sum overflowed.
sadd_overflow          x + y, wrapping, and whether the signed sum overflowed.
usub_overflow          x - y, wrapping, and whether the unsigned difference underflowed.
ssub_overflow          x - y, wrapping, and whether the signed difference overflowed.
umul_overflow          x * y, wrapping, and whether the unsigned product overflowed.
smul_overflow          x * y, wrapping, and whether the signed product overflowed.
uadd_overflow_trap     x + y; traps with the given code when the unsigned sum overflows.
ssub_overflow_bin      x - y - b_in, wrapping, and whether the signed difference overflowed.
usub_overflow_bin      x - y - b_in, wrapping, and whether the unsigned difference borrowed.
band                   Bitwise x and y.
bor                    Bitwise x or y.
bxor                   Bitwise x xor y.
bnot                   Bitwise not x.
band_not               Bitwise x and not y.
bor_not                Bitwise x or not y.
bxor_not               Bitwise x xor not y.
band_imm               Bitwise x and an immediate.
bor_imm                Bitwise x or an immediate.
bxor_imm               Bitwise x xor an immediate.
rotl                   x rotated left by y (modulo the width).
rotr                   x rotated right by y (modulo the width).
rotl_imm               x rotated left by an immediate.
rotr_imm               x rotated right by an immediate.
ishl                   x shifted left by y modulo the lane width, zeros shifted in.
ushr                   x shifted right by y modulo the lane width, zeros shifted in.
sshr                   x shifted right by y modulo the lane width, sign bits shifted in.
ishl_imm               x shifted left by an immediate.
ushr_imm               x shifted right by an immediate, zeros shifted in.
sshr_imm               x shifted right by an immediate, sign bits shifted in.
bitrev                 x with its bits in reverse order.
clz                    The number of leading zero bits of x.
cls                    The number of leading bits of x equal to its sign bit, not counting the sign bit.
ctz                    The number of trailing zero bits of x.
bswap                  x with its bytes in reverse order.
popcnt                 The number of one bits of x (per lane).
fcmp                   Compare floats by a condition code (ordered or unordered): 1 (all ones per vector lane) when it holds.
fadd                   x + y, rounded to nearest even.
fsub                   x - y, rounded to nearest even.
fmul                   x * y, rounded to nearest even.
fdiv                   x / y, rounded to nearest even.
sqrt                   The square root of x.
fma                    x * y + z with one rounding.
fneg                   x with its sign bit flipped.
fabs                   x with its sign bit cleared.
fcopysign              x with the sign bit of y.
fmin                   The smaller of x and y, NaN when either is NaN, -0 below +0.
fmax                   The larger of x and y, NaN when either is NaN, +0 above -0.
ceil                   x rounded to an integral value toward positive infinity.
floor                  x rounded to an integral value toward negative infinity.
trunc                  x rounded to an integral value toward zero.
nearest                x rounded to the nearest integral value, ties to even.
bitcast                The bits of x read as another type of the same size (lane order by the byte-order flag).
scalar_to_vector       A vector with s in lane 0 and zeros elsewhere.
bmask                  All ones when x is non-zero, else zero, at the result type.
ireduce                x narrowed to a smaller integer type, dropping its high bits.
snarrow                The lanes of x then y, narrowed to half width with signed saturation.
unarrow                The lanes of x then y (read as signed), narrowed to half width with unsigned saturation.
uunarrow               The lanes of x then y (read as unsigned), narrowed to half width with unsigned saturation.
swiden_low             The low half of x's lanes, sign-extended to twice the width.
swiden_high            The high half of x's lanes, sign-extended to twice the width.
uwiden_low             The low half of x's lanes, zero-extended to twice the width.
uwiden_high            The high half of x's lanes, zero-extended to twice the width.
iadd_pairwise          Sums of adjacent lane pairs, x's pairs then y's.
x86_pmaddubsw          x86's pmaddubsw: unsigned bytes of x times signed bytes of y, adjacent products summed with saturation.
uextend                x zero-extended to a wider integer type.
sextend                x sign-extended to a wider integer type.
fpromote               x converted to a wider float type (exactly).
fdemote                x converted to a narrower float type, rounded to nearest even.
fvdemote               The two f64 lanes of x as f32 lanes 0 and 1, the other lanes zero.
fvpromote_low          The low two f32 lanes of a as f64 lanes.
fcvt_to_uint           x truncated to an unsigned integer; traps on NaN or when out of range.
fcvt_to_sint           x truncated to a signed integer; traps on NaN or when out of range.
fcvt_to_uint_sat       x truncated to an unsigned integer, saturating; NaN gives zero.
fcvt_to_sint_sat       x truncated to a signed integer, saturating; NaN gives zero.
x86_cvtt2dq            A float-to-int lane conversion as x86's cvttps2dq: NaN and out-of-range lanes give the minimum integer.
fcvt_from_uint         The unsigned integer x converted to a float, rounded to nearest even.
fcvt_from_sint         The signed integer x converted to a float, rounded to nearest even.
isplit                 The low and high halves of x.
iconcat                The integer twice as wide with lo as its low half and hi as its high half.
atomic_rmw             Atomically combine the value at p with x by the given operation; returns the old value.
atomic_cas             Atomically store x at p if the value there equals e; returns the old value.
atomic_load            Atomically read the value at p.
atomic_store           Atomically write x at p.
fence                  A memory fence: no load or store moves across it.
extract_vector         A fixed-size subvector of a dynamic vector.
heap_addr              The address of bytes index..index+Size of a heap, trapping with heap_oob when out of bounds (heap era).
heap_load              Read a value at index + Offset of a heap, trapping with heap_oob when out of bounds (heap era).
heap_store             Write a at index + Offset of a heap, trapping with heap_oob when out of bounds (heap era).
table_addr             The address of element p of a table plus an offset, trapping with table_oob when out of bounds (heap era).
brz                    Branch to the block when c is zero, else continue with the next instruction (heap era).
brnz                   Branch to the block when c is non-zero, else continue with the next instruction (heap era).
iadd_cin               x + y + c_in, wrapping (heap era).
iadd_cout              x + y, wrapping, and the carry out (heap era).
iadd_carry             x + y + c_in, wrapping, and the carry out (heap era).
isub_bin               x - y - b_in, wrapping (heap era).
isub_bout              x - y, wrapping, and the borrow out (heap era).
isub_borrow            x - y - b_in, wrapping, and the borrow out (heap era).
fmin_pseudo            y < x ? y : x by the float comparison (Wasm pmin): a NaN or two zeros give x (heap era).
fmax_pseudo            x < y ? y : x by the float comparison (Wasm pmax): a NaN or two zeros give x (heap era).
vselect                Per lane, x's lane where c's lane is non-zero, else y's (heap era).
fcvt_low_from_sint     The low two i32 lanes of x converted to f64 lanes (heap era).
widening_pairwise_dot_product_s  Signed products of x's and y's i16 lanes, adjacent pairs summed into i32 lanes (heap era).
null                   The null reference (heap era).
is_null                1 when the reference x is null, else 0 (heap era).
is_invalid             1 when the reference x is invalid (all ones), else 0 (heap era).
"""
DOCS: dict[str, str] = {n: d.strip() for n, _, d in (line.partition(" ") for line in _DOC_TEXT.strip().splitlines())}

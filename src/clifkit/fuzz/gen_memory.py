"""Emitters for memory accesses: explicit stack slots (plain and atomic), heaps (heap-era
instructions and hand-written bounds checks), `%heap_grow` calls and tables.

Every access is either in bounds or traps `heap_oob` by construction, and stored values are
canonicalised, so that both engines see the same memory.

A mixin of `FuncGen` (gen_function.py).
"""

from __future__ import annotations

from ..environment.layout import GROW_FUNCTION as GROW
from ..ir.function import AbiParam, Signature
from ..ir.immediates import ATOMIC_RMW_OPS
from ..ir.memflags import MemFlags
from ..ir.types import I8, I16, I32, I64, Type
from .gen_program import HeapPlan, HeapTable, HeapView
from .gen_values import interesting_int

NOTRAP_ALIGNED = MemFlags(trap_code=None, aligned=True)
READONLY = MemFlags(trap_code=None, aligned=True, readonly=True)  # a vmctx slot that never changes
TRAPPING = MemFlags()  # heap_oob on a fault
PLAIN = TRAPPING  # no flags (a bitcast's): MemFlags is frozen, so every instruction may share one
LITTLE = MemFlags(endianness="little")
BIG = MemFlags(endianness="big")  # heap_oob on a fault
PAGE = 0x1000  # the native engine's page size: the granularity of guard pages
VECTOR_ORDER_SHARE = 0.15  # of vector heap accesses with an explicit `big` or `little`
ODD_GROW_SHARE = 0.2  # of %heap_grow calls that must return -1
ZERO_SIZE_ADDR_SHARE = 0.05  # of heap_addr on a checked heap with size 0 (a check, no access)
NEGATIVE_OFFSET_SHARE = 0.1  # of table_addr with a negative offset


class MemoryEmitters:
    """Memory emitters of `FuncGen`."""

    # -- memory: stack slots ---------------------------------------------------------------------
    def mem_type(self, max_bytes: int = 16, vectors: bool = True) -> Type:
        key = ("mem_type", max_bytes, vectors)  # (the choices depend on the program's types alone)
        types = self.p.choices.get(key)
        if types is None:
            types = self.p.choices[key] = [t for t in self.p.types if t.bytes <= max_bytes and (vectors or not t.is_vector)] or [I8]
        return self.rng.choice(types)

    def store_value(self, ty: Type) -> int:
        return self.canon(self.value_of(ty))

    def gen_stack(self) -> bool:
        if not self.slots:
            return False
        rng = self.rng
        slot, size = rng.choice(self.slots)
        ty = self.mem_type()
        align = 16 if ty.is_vector else 1
        offset = rng.randrange(0, size - ty.bytes + 1)
        offset -= offset % align
        kind = rng.random()
        if kind >= 0.88 and "int" in self.p.features:
            return self.gen_atomic(slot, size)
        if kind < 0.05:
            return self.gen_covering_store(slot, size)
        if kind < 0.35:
            self.emit("stack_store", ty, [self.store_value(ty)], [], stack_slot=slot, offset=offset)
        elif kind < 0.7:
            self.emit1("stack_load", ty, [], ty, stack_slot=slot, offset=offset)
        else:
            # Through the address: stack_addr + load/store (rule address-leak: the address stays private).
            base_off = rng.randrange(0, offset + 1)
            base_off -= base_off % align
            addr = self.emit1("stack_addr", I64, [], I64, pool=False, stack_slot=slot, offset=base_off)
            self.access(addr, ty, offset - base_off, store=rng.random() < 0.5)
        return True

    def gen_covering_store(self, slot: int, size: int) -> bool:
        """A constant store, then a wider one over every byte of it: the interpreter's short code
        writes constant stores in a row as one write of their bytes (`merge_frame_store`), and a
        store covering the whole run before it, ending that run, is the shape it once got wrong."""
        rng = self.rng
        wide = rng.choice((I16, I32, I64))
        narrow = rng.choice([t for t in (I8, I16, I32) if t.bytes < wide.bytes])
        at = rng.randrange(0, size - wide.bytes + 1)
        inner = at + rng.randrange(0, wide.bytes - narrow.bytes + 1)
        for ty, offset in ((narrow, inner), (wide, at)):
            value = self.iconst(ty, interesting_int(rng, ty.bits))
            self.emit("stack_store", ty, [value], [], stack_slot=slot, offset=offset)
        return True

    def gen_atomic(self, slot: int, size: int) -> bool:
        """An atomic access to a naturally aligned stack location (single-threaded: deterministic)."""
        rng = self.rng
        ty = rng.choice((I8, I16, I32, I64))
        offset = rng.randrange(0, size // ty.bytes) * ty.bytes
        addr = self.emit1("stack_addr", I64, [], I64, pool=False, stack_slot=slot, offset=offset)
        kind = rng.random()
        if kind < 0.4:
            op = rng.choice(ATOMIC_RMW_OPS)
            self.emit1("atomic_rmw", ty, [addr, self.value_of(ty)], ty, flags=TRAPPING, rmw_op=op)
        elif kind < 0.6:
            self.emit1("atomic_cas", ty, [addr, self.value_of(ty), self.value_of(ty)], ty, flags=TRAPPING)
        elif kind < 0.8:
            self.emit1("atomic_load", ty, [addr], ty, flags=TRAPPING)
        else:
            self.emit("atomic_store", ty, [self.value_of(ty), addr], [], flags=TRAPPING)
        return True

    def access(self, addr: int, ty: Type, offset: int, store: bool, flags: MemFlags = TRAPPING) -> None:
        """A load or store of `ty` at `addr + offset`, sometimes through the extending/truncating forms."""
        rng = self.rng
        if store:
            v = self.store_value(ty)
            if ty.is_int and not ty.is_vector and ty.bits > 8 and rng.random() < 0.3:
                narrow = [n for n, b in (("istore8", 8), ("istore16", 16), ("istore32", 32)) if b < ty.bits and ty.bits <= 64]
                if narrow:
                    self.emit(rng.choice(narrow), ty, [v, addr], [], flags=flags, offset=offset)
                    return
            self.emit("store", ty, [v, addr], [], flags=flags, offset=offset)
            return
        if ty.is_int and not ty.is_vector and 16 <= ty.bits <= 64 and rng.random() < 0.3:
            forms = [n for n, b in (("8", 8), ("16", 16), ("32", 32)) if b < ty.bits]
            f = rng.choice(forms)
            self.emit1(rng.choice(("uload", "sload")) + f, ty, [addr], ty, flags=flags, offset=offset)
            return
        # (The extending vector loads only in the target's order: the native engine cannot lower
        # them in the other, `native/byteorder.py`.)
        if ty.is_vector and ty.is_int and ty.lane_bits >= 16 and flags.endianness is None and rng.random() < 0.3:
            name = {16: "load8x8", 32: "load16x4", 64: "load32x2"}[ty.lane_bits]
            self.emit1(rng.choice(("u", "s")) + name, I64, [addr], ty, flags=flags, offset=offset)
            return
        self.emit1("load", ty, [addr], ty, flags=flags, offset=offset)

    # -- memory: heaps and tables -----------------------------------------------------------------
    def index_value(self, ty: Type, limit: int, align: int, oob: bool) -> int:
        """An index of type `ty`: below `limit` (in bounds) unless `oob`, a multiple of `align`."""
        rng = self.rng
        r = rng.random()
        if not oob:
            if limit <= 0:
                return self.iconst(ty, 0)
            if r < 0.3:
                v = rng.randrange(0, limit)
                return self.iconst(ty, v - v % align)
            mask = (1 << (limit.bit_length() - 1)) - 1 if limit & (limit - 1) else limit - 1
            mask &= ~(align - 1)
            raw = self.value_of(ty)
            return self.emit1("band_imm", ty, [raw], ty, pool=False, imm=mask)
        # Deliberately (possibly) out of bounds: just past the end, far away, or whatever a value
        # holds (then it depends on the run's arguments).
        if r < 0.3:
            v = max(limit, 0) + rng.choice((0, 1, 8, 16, 0x100, 0x1000, 0x10000, 0xFFFF_FFF0))
            return self.iconst(ty, v - v % align)
        raw = self.value_of(ty)
        if align > 1:
            return self.emit1("band_imm", ty, [raw], ty, pool=False, imm=-align)
        return raw

    def heap_ref(self, plan: HeapPlan) -> int:
        return self.heap_refs[plan.index]

    def heap_flags(self, ty: Type) -> MemFlags:
        """A heap access's flags: the target's byte order, or explicitly `big` or `little` (less
        often for vectors: each lane in that order, docs/heaps.md "Byte order"; the native
        engine lowers the foreign order itself, `native/byteorder.py`)."""
        r = self.rng.random()
        if ty.is_vector:
            shapes = self.p.shapes
            return shapes.choice((BIG, LITTLE)) if shapes.random() < VECTOR_ORDER_SHARE else TRAPPING
        if r >= 0.35:
            return TRAPPING
        return BIG if r < 0.25 else LITTLE

    def gen_heap(self) -> bool:
        heaps = [h for h in self.p.heaps if h.style != "table"]
        if self.vmctx is None or not (heaps or self.heap_views):
            return False
        rng = self.rng
        if not heaps:  # only static declarations over a table's memory
            return self.gen_heap_era(rng.choice(self.heap_views))
        plan = rng.choice(heaps)
        r = rng.random()
        if r < 0.1:
            return self.gen_heap_grow(plan)
        if r < 0.65 and self.heap_views:
            return self.gen_heap_era(rng.choice(self.heap_views))
        # Rule simd-alignment: a heap whose size is not a multiple of 16 ends on a page boundary
        # natively, so its base is not 16-byte aligned: no vectors there.
        ty = self.mem_type(max(1, min(16, plan.size)), vectors=plan.size % 16 == 0)
        align = 16 if ty.is_vector else 1
        oob = "traps" in self.p.features and rng.random() < 0.07
        store = rng.random() < 0.45
        # Modern style: load base and bound from vmctx, check by hand, access (rules wild-access,
        # stale-heap-base: both loaded right here).
        offset = rng.choice((0, 0, 16) if align > 1 else (0, 0, 8, 16))
        end = offset + ty.bytes
        narrow = rng.random() < 0.5
        if narrow:
            # A zero-extended 32-bit index cannot make index + end wrap.
            idx32 = self.index_value(I32, plan.size - end + 1, align, oob)
            idx = self.emit1("uextend", I64, [idx32], I64, pool=False)
        else:
            idx = self.index_value(I64, plan.size - end + 1, align, oob)
        base = self.emit1("load", I64, [self.vmctx], I64, pool=False, flags=NOTRAP_ALIGNED, offset=plan.ptr)
        bound = self.emit1("load", plan.bound_type, [self.vmctx], plan.bound_type, pool=False, flags=NOTRAP_ALIGNED,
                           offset=plan.bound_slot)
        if plan.bound_type is not I64:  # the slot's width, as the declarations load it
            bound = self.emit1("uextend", I64, [bound], I64, pool=False)
        if narrow:
            last = self.emit1("iadd_imm", I64, [idx], I64, pool=False, imm=end)
        else:
            k = self.iconst(I64, end)
            last = self.emit1("uadd_overflow_trap", I64, [idx, k], I64, pool=False, code="heap_oob")
        over = self.emit1("icmp", I64, [last, bound], I8, pool=False, cond="ugt")
        self.emit("trapnz", I8, [over], [], code="heap_oob")
        addr = self.emit1("iadd", I64, [base, idx], I64, pool=False)
        self.access(addr, ty, offset, store, self.heap_flags(ty))
        return True

    def gen_heap_era(self, view: HeapView) -> bool:
        """Heap-era instructions on one of this function's heap declarations: heap_load, heap_store,
        heap_addr + load or store."""
        rng = self.rng
        if view.plan is None:
            return self.gen_vmctx_heap(view)
        limit = view.limit()
        ty = self.mem_type(max(1, min(16, limit)), vectors=view.plan.size % 16 == 0 and view.disp % 16 == 0)
        align = 16 if ty.is_vector else 1
        oob = "traps" in self.p.features and rng.random() < 0.07
        store = rng.random() < 0.45
        offset = rng.choice((0, 0, 16, 64) if align > 1 else (0, 0, 0, 4, 16, 64))
        if offset + ty.bytes > limit:
            offset = 0
        flags = self.heap_flags(ty)
        kind = rng.random()
        if kind < 0.35:
            idx = self.index_value(view.index_type, limit - offset - ty.bytes + 1, align, oob)
            self.emit1("heap_load", ty, [idx], ty, heap=view.number, flags=flags, offset=offset)
        elif kind < 0.7:
            idx = self.index_value(view.index_type, limit - offset - ty.bytes + 1, align, oob)
            v = self.store_value(ty)
            self.emit("heap_store", view.index_type, [idx, v], [], heap=view.number, flags=flags, offset=offset)
        elif not view.elided and self.p.shapes.random() < ZERO_SIZE_ADDR_SHARE:
            # heap_addr of size 0: the check alone (index + offset <= bound), its address unused.
            idx = self.index_value(view.index_type, limit - offset + 1, 1, oob)
            self.emit1("heap_addr", I64, [idx], I64, pool=False, heap=view.number, offset=offset, size=0)
        else:
            # On a heap whose checks native code may leave out, the address is accessed with
            # exactly the heap_addr's size: then the access faults where heap_addr would trap
            # (docs/native.md, case 2).
            extra = rng.choice((0, 0, 8, 16))
            size = ty.bytes + (0 if view.elided else extra)
            if offset + size > limit:
                size = ty.bytes
            idx = self.index_value(view.index_type, limit - offset - size + 1, align, oob)
            addr = self.emit1("heap_addr", I64, [idx], I64, pool=False, heap=view.number, offset=offset, size=size)
            inner = rng.randrange(0, size - ty.bytes + 1)
            inner -= inner % align
            # heap_addr already added `offset`; the access stays within [offset, offset + size).
            self.access(addr, ty, inner, store, flags)
        return True

    def gen_vmctx_heap(self, view: HeapView) -> bool:
        """A read through the heap over vmctx: inside a bound slot (a size, the same on every engine;
        base slots hold addresses, rule address-leak), or (with traps) anywhere past the struct,
        which traps heap_oob. Never a store: that would move a heap."""
        rng = self.rng
        ty = rng.choice([t for t in self.p.int_scalars if t.bytes <= 8] or [I8])
        flags = self.heap_flags(ty)
        if "traps" in self.p.features and rng.random() < 0.15:
            past = self.p.vmctx_size - view.disp + rng.choice((0, 1, 8, 0x100, 0x1000, 0x10000))
            idx = self.iconst(view.index_type, past)
        else:
            slot = rng.choice(self.p.heaps).bound_slot
            at = slot + rng.randrange(0, 8 - ty.bytes + 1) - view.disp  # (from a base derived from gv0)
            if at < 0 or at + ty.bytes > view.limit(self.p.vmctx_size):
                return False
            idx = self.iconst(view.index_type, at)
        if rng.random() < 0.6:
            self.emit1("heap_load", ty, [idx], ty, heap=view.number, flags=flags, offset=0)
        else:
            addr = self.emit1("heap_addr", I64, [idx], I64, pool=False, heap=view.number, offset=0, size=ty.bytes)
            self.emit1("load", ty, [addr], ty, flags=flags, offset=0)
        return True

    def gen_heap_grow(self, plan: HeapPlan) -> bool:
        ref = self.fn_ref(GROW, Signature([AbiParam(I64, purpose="vmctx"), AbiParam(I32), AbiParam(I64)],
                                          [AbiParam(I64)], call_conv_written=False))
        rng = self.rng
        room = plan.max_size - plan.size
        if plan.style == "static":
            # Rule static-growth-pages: native guard pages make a static heap's end exact only at
            # page granularity once it has grown, so static heaps grow in whole pages (as Wasm's do).
            pages = room // PAGE * PAGE
            delta = rng.choice((0, PAGE, pages // 2 // PAGE * PAGE, pages, room + PAGE, 1 << 40))
        else:
            delta = rng.choice((0, 0x10, 0x100, room // 2, room, room + 0x100, 1 << 40))
        index = plan.index
        shapes = self.p.shapes
        if shapes.random() < ODD_GROW_SHARE:
            # Growths that return -1 (docs/heaps.md): a negative delta, a table's index (tables
            # do not grow), an index that names no directive.
            tables = [h.index for h in self.p.heaps if h.style == "table"]
            odd = shapes.choice(("negative", "table", "none"))
            if odd == "negative":
                delta = -shapes.choice((1, 0x10, PAGE, 1 << 40))
            elif odd == "table" and tables:
                index = shapes.choice(tables)
            else:
                index = shapes.choice((len(self.p.heaps), len(self.p.heaps) + 7, 0xFFFF_FFFF))
        which = self.iconst(I32, index)
        amount = self.iconst(I64, delta)
        old = self.emit("call", None, [self.vmctx, which, amount], [I64], func_ref=ref)[0]
        self.define(old)
        return True

    def gen_table(self) -> bool:
        tables = [h for h in self.p.heaps if h.style == "table"]
        tables += [t for t in self.p.heap_tables if t.index in self.heap_refs]  # 2022 only
        if not tables or self.vmctx is None:
            return False
        rng = self.rng
        plan = rng.choice(tables)
        if isinstance(plan, HeapTable):
            return self.gen_heap_table(plan)
        ty = self.mem_type(plan.element_size)
        align = 16 if ty.is_vector else 1
        offset = rng.randrange(0, plan.element_size - ty.bytes + 1)
        offset -= offset % align
        oob = "traps" in self.p.features and rng.random() < 0.07
        if not oob and plan.elements > 1 and self.p.shapes.random() < NEGATIVE_OFFSET_SHARE:
            # A negative offset reaches back into the element before: an index of at least 1
            # (below the table's base, the native engine's page slack would differ).
            offset -= plan.element_size
            below = self.index_value(plan.index_type, plan.elements - 1, 1, False)
            idx = self.emit1("iadd_imm", plan.index_type, [below], plan.index_type, pool=False, imm=1)
        else:
            idx = self.index_value(plan.index_type, plan.elements, 1, oob)
        addr = self.emit1("table_addr", I64, [idx], I64, pool=False, table=self.heap_ref(plan), offset=offset)
        self.access(addr, ty, 0, rng.random() < 0.5)
        return True

    def gen_heap_table(self, table: HeapTable) -> bool:
        """`table_addr` on a table over a heap directive (2022 rules): its bound is the heap's byte
        count, so an index may be an element within the heap's bytes (its memory), below the bound
        but past those bytes (reserved: traps heap_oob), or at or past the bound (table_oob). The
        heap only grows, so an element within its bytes at the start stays so."""
        rng, esize = self.rng, table.element_size
        size = table.heap.size
        inside = size // esize  # whole elements within the heap's bytes
        ty = self.mem_type(esize)
        offset = rng.randrange(0, esize - ty.bytes + 1)
        offset -= offset % (16 if ty.is_vector else 1)
        r = rng.random() if "traps" in self.p.features else 0.0
        if r < 0.6:
            if inside == 0:
                return False
            idx = self.index_value(I64, inside, 1, False)
        elif r < 0.8 and size > inside:
            idx = self.iconst(I64, rng.randrange(inside, size))  # past the heap's bytes: heap_oob
        else:
            idx = self.index_value(I64, size, 1, True)  # at or past the bound: table_oob
        addr = self.emit1("table_addr", I64, [idx], I64, pool=False, table=self.heap_ref(table), offset=offset)
        self.access(addr, ty, 0, rng.random() < 0.5)
        return True

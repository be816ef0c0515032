"""CLIF syntax of Cranelift releases after 0.120 (v48.0.0): alias regions, stack slot keys,
blendv, f16 vector constants written as lane lists."""

from __future__ import annotations

from clifkit.api import call, parse, to_text, verify

REGIONS = """function %f(i64) -> i32 {
    ss0 = explicit_slot 64, align = 16, key = 0xfedc_ba98
    region0 = 0 "heap"
    region1 = 7 "other"

block0(v0: i64):
    v1 = load.i32 notrap aligned region0 v0
    store little region1 v1, v0
    return v1
}
"""


def test_alias_regions_and_slot_keys_read_and_print():
    tf = parse(REGIONS, "r.clif")
    text = to_text(tf)
    for piece in ('region0 = 0 "heap"', "load.i32 notrap aligned region0 v0", "store little region1 v1, v0",
                  "key = 0xfedc_ba98"):
        assert piece in text, piece
    assert to_text(parse(text, "r.clif")) == text
    assert verify(tf, REGIONS) == []


def test_alias_region_errors():
    dup = REGIONS.replace('7 "other"', '0 "other"')
    assert [d.message.split(":")[0] for d in verify(parse(dup, "r.clif"), dup)] == ["duplicate alias region user_id 0"]
    undefined = REGIONS.replace("store little region1", "store little region5")
    [d] = verify(parse(undefined, "r.clif"), undefined)
    assert d.message == "undefined alias region region5" and d.loc.line == 8


def test_blendv_and_f16_lane_lists():
    tf = parse("""function %b(i32x4, i32x4, i32x4) -> i32x4 {
block0(v0: i32x4, v1: i32x4, v2: i32x4):
    v3 = blendv v0, v1, v2
    return v3
}

function %h() -> i16x8 {
block0:
    v0 = vconst.f16x8 [0x1.0 -0x2.0 0.0 -0.0 0x1.0 0x1.0 0x1.0 Inf]
    v1 = bitcast.i16x8 little v0
    return v1
}
""", "b.clif")
    assert call(tf, "%b", (1 << 31, 0, 0xD << 28, 1), (1, 2, 3, 4), (5, 6, 7, 8)) == (1, 6, 3, 8)
    assert call(tf, "%h") == (0x3C00, -0x4000, 0, -0x8000, 0x3C00, 0x3C00, 0x3C00, 0x7C00)  # signed lanes


def test_stack_maps_on_calls():
    text = """function %f(i32) {
    ss0 = explicit_slot 12
    fn0 = %g(i32)

block0(v0: i32):
    call fn0(v0), stack_map=[i32 @ ss0+0, i64 @ ss0+4]
    return
}
"""
    tf = parse(text, "s.clif")
    inst = next(iter(tf.functions[0].function.blocks.values())).insts[0]
    assert [(str(t), s, o) for t, s, o in inst.stack_map] == [("i32", 0, 0), ("i64", 0, 4)]
    assert "call fn0(v0), stack_map=[i32 @ ss0+0, i64 @ ss0+4]" in to_text(tf)

"""The size of a function symbol in an ELF64 relocatable object (what ObjectModule emits).

The binding's JITModule does not say how large a compiled function is;
`NativeModule.code_size` compiles the function again into an object file and
reads its symbol's ``st_size`` here. Other object formats give None.
"""

from __future__ import annotations

import struct
from typing import Optional


def symbol_size(data: bytes, name: str) -> Optional[int]:
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2:  # ELF64 only
        return None
    e = "<" if data[5] == 1 else ">"
    shoff = struct.unpack_from(e + "Q", data, 0x28)[0]
    shentsize, shnum = struct.unpack_from(e + "HH", data, 0x3A)
    sections = []
    for i in range(shnum):
        off = shoff + i * shentsize
        _name, sh_type, _flags, _addr, sh_offset, sh_size, sh_link, _info, _align, sh_entsize = struct.unpack_from(
            e + "IIQQQQIIQQ", data, off
        )
        sections.append((sh_type, sh_offset, sh_size, sh_link, sh_entsize))
    want = name.encode()
    for sh_type, sh_offset, sh_size, sh_link, sh_entsize in sections:
        if sh_type != 2 or not sh_entsize:  # SHT_SYMTAB
            continue
        str_off = sections[sh_link][1]
        for k in range(sh_size // sh_entsize):
            entry = sh_offset + k * sh_entsize
            st_name, _info, _other, _shndx, _value, st_size = struct.unpack_from(e + "IBBHQQ", data, entry)
            end = data.index(b"\0", str_off + st_name)
            if data[str_off + st_name : end] == want:
                return st_size
    return None

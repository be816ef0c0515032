"""`clifkit cfg`: the control-flow graph of each function, as Graphviz DOT.

As ``clif-util print-cfg`` does, each block is a node labelled with its
instructions (in canonical CLIF, as ``clifkit cat`` prints them), and each
branch target is an edge from the instruction that branches, labelled with the
block arguments it passes. Nodes are records so that an edge leaves from the
line of its branch; the entry block is ranked first.
"""

from __future__ import annotations

from .ir.function import BlockCall, Function, TestFile
from .printer import block_header, instruction_texts


def _escape(text: str) -> str:
    """Text inside a DOT record label: braces, bars and angle brackets are structure there."""
    out = []
    for ch in text:
        if ch in '{}|<>"\\':
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _edge_label(bc: BlockCall) -> str:
    return ", ".join(str(a) if not isinstance(a, int) else f"v{a}" for a in bc.args)


def function_dot(func: Function) -> str:
    """One function's graph as a DOT ``digraph``."""
    name = func.name.replace('"', '\\"')
    lines = [f'digraph "{name}" {{', "    node [shape=record, fontname=monospace];"]
    entry = func.entry
    if entry is not None:
        lines.append(f"    {{rank=min; block{entry.number}}}")
    texts = instruction_texts(func)
    for block in func.blocks.values():
        fields = [_escape(block_header(func, block))]
        for i, inst in enumerate(block.insts):
            fields.append(f"<i{i}>{_escape(texts[id(inst)])}\\l")
        lines.append(f'    block{block.number} [label="{{{" | ".join(fields)}}}"];')
    for block in func.blocks.values():
        for i, inst in enumerate(block.insts):
            for bc in inst.branch_targets():
                label = _edge_label(bc)
                attrs = f' [label="{_escape(label)}"]' if label else ""
                lines.append(f"    block{block.number}:i{i} -> block{bc.block}{attrs};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def file_dot(tf: TestFile) -> str:
    """Every function of a file, one ``digraph`` after another (``dot`` renders the first; pass
    ``--function`` to choose)."""
    return "".join(function_dot(d.function) for d in tf.functions)


def render_svg(dots: list[str], output: str) -> str | None:
    """Render each graph with Graphviz's ``dot`` into `output` (the first) and ``output-N.svg``
    (the rest). Returns why it could not, or None."""
    import shutil
    import subprocess

    dot = shutil.which("dot")
    if dot is None:
        return "Graphviz's `dot` is not installed (Debian: apt-get install graphviz); without -o, or with -o FILE.dot, clifkit cfg writes DOT"
    stem = output[: -len(".svg")]
    for i, text in enumerate(dots):
        path = output if i == 0 else f"{stem}-{i}.svg"
        done = subprocess.run([dot, "-Tsvg", "-o", path], input=text, text=True, capture_output=True)
        if done.returncode != 0:
            return f"dot failed on graph {i}: {done.stderr.strip()}"
    return None

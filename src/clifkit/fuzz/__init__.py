"""Differential fuzzing of CLIF engines: `clifkit fuzz` and `clifkit reduce`.

- `features`: the feature groups ``--features`` chooses from;
- `specs`: how each opcode is generated (the fuzzing side of the opcode table),
  and the x86_64 combinations left out;
- `generator`: random, valid, terminating programs from a seed (`Generator`), built by
  `gen_function` (one function: value pool, emission) with the emitters `gen_ops` (opcodes),
  `gen_memory` (stack slots, heaps, tables), `gen_calls` and `gen_control` (blocks, branches,
  loops), from `gen_values` (edge-case constants and arguments) into a `gen_program.Program`;
- `engines`: engines by name, including deliberately broken ones for tests;
- `compare`: running a file on engines in-process, judging differences (`Harness`, `judge`);
- `rules`: the named rules for behaviour native code leaves undefined;
- `driver`: the fuzzing loop and reproducers (`fuzz`);
- `reduce`: shrinking a failing test (`reduce_file`, `reduce_text`): the driver, applying the
  edits of `reduce_edits` and the clean-ups of `reduce_cleanup` (helpers: `reduce_ir`) while
  `reduce_oracle` says the candidate still fails the same way;
- `invariants`: static checks of the generator's invariants (for the reducer);
- `cli`: the two command lines.

See docs/fuzzing.md. The package imports nothing itself, so that the
`clifkit` command line can register the fuzz options without loading the
generator.
"""

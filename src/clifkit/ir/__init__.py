"""The CLIF intermediate representation: types, the opcode table and the function model."""

"""Start-up stays lean: what `clifkit --version` and `clifkit test` on an interpreter-only file
import (module sets, not times: timed goals live in benchmarks/)."""

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "integers.clif"


def imported_after(argv: list[str]) -> set[str]:
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "from clifkit.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.strip().splitlines()[-1].split())


def test_version_imports_only_the_command_line_module():
    assert {m for m in imported_after(["--version"]) if m.startswith("clifkit")} == {"clifkit", "clifkit.cli"}
    assert "argparse" not in imported_after(["--version"])


def test_an_interpreter_only_file_leaves_the_native_engine_and_the_pool_alone(tmp_path):
    # The examples are run tests of every engine: keep only their `test interpret` line.
    text = "".join(line for line in EXAMPLE.read_text().splitlines(True)
                   if not line.startswith(("test run", "target ")))
    only = tmp_path / "integers.clif"
    only.write_text(text)
    mods = imported_after(["test", str(only)])
    assert "clifkit.interpreter" in mods
    assert not {"clifkit.native.engine", "clifkit.fuzz", "multiprocessing", "concurrent.futures"} & mods

"""``clifkit emulation setup|status``: the command line over `emulation_setup` and `emulation`."""

from __future__ import annotations

import os
import sys

from .emulation import ARCHES, UNAVAILABLE, cache_root, emulated_arches, status
from .emulation_packages import CheckFailed, SetupError
from .emulation_setup import setup
from .host import host_arch


# Exit status of `setup` when an emulated worker was set up but answered the check wrongly (1:
# anything else failed, such as a download): CI fails on this one only, since its network may fail.
CHECK_FAILED = 3


def cmd_setup(args) -> int:
    wanted = args.arch or "all"
    arches = emulated_arches() if wanted == "all" else [wanted]
    status_code = 0
    for arch in arches:
        try:
            setup(arch, sys.stdout, force=bool(getattr(args, "force", False)))
        except CheckFailed as e:
            print(f"{arch}: error: {e}", file=sys.stderr, flush=True)
            status_code = CHECK_FAILED
        except (SetupError, OSError) as e:
            print(f"{arch}: error: {e}", file=sys.stderr, flush=True)
            status_code = status_code or 1
        except KeyboardInterrupt:
            print(f"{arch}: interrupted", file=sys.stderr)
            return 130
    return status_code


def cmd_status(args) -> int:
    arches = list(args.arch) if getattr(args, "arch", None) else emulated_arches() + list(UNAVAILABLE)
    print(f"host: {host_arch()}; cache: {os.path.join(cache_root(), 'emulation')}")
    code = 0
    for arch in arches:
        st = status(arch)
        print(st.describe())
        if not (st.ready or st.native) and arch not in UNAVAILABLE:
            code = 1
    return code


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="emulation_command", metavar="ACTION")
    sub.required = True
    choices = sorted(set(ARCHES) | set(UNAVAILABLE) | {"all"})
    s = sub.add_parser("setup", help="prepare an emulated Python with cranelift-py for ARCH (or all)",
                       description="Prepare an emulated Python with cranelift-py for ARCH (or all), and check "
                                   "that a worker there compiles and runs a test function rightly. Exit status: "
                                   "0 ready; 1 something could not be fetched or run; 3 the check gave a wrong "
                                   "result.")
    s.add_argument("arch", nargs="?", choices=choices, default="all", metavar="ARCH",
                   help="aarch64, s390x or all (the default)")
    s.add_argument("--force", action="store_true", help="set up again even when ready")
    s.set_defaults(func=cmd_setup)
    s = sub.add_parser("status", help="say which architectures' code can run here")
    s.add_argument("arch", nargs="*", metavar="ARCH", help="architectures to report (default: all)")
    s.set_defaults(func=cmd_status)

"""The ``pyfastopt`` command (also ``python -m pyfastopt``).

Subcommands:
  bench   time optimizer steps against the memory-bandwidth roofline and NumPy
"""

from __future__ import annotations

import argparse
from typing import Sequence

from . import _bench


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pyfastopt", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    bench = commands.add_parser(
        "bench",
        help="time optimizer steps against the bandwidth roofline and NumPy",
        description="Times the STREAM triad, the Adam memory pattern, and Adam and SGD "
        "momentum steps (pyfastopt and NumPy), interleaved, and prints one table of medians.",
    )
    _bench.add_arguments(bench)
    args = parser.parse_args(argv)
    if args.command == "bench":
        return _bench.run(args)
    parser.error(f"unknown command {args.command!r}")  # unreachable: argparse checks
    return 2


if __name__ == "__main__":
    raise SystemExit(main())

"""The ``pyfastopt`` command (also ``python -m pyfastopt``).

Subcommands:
  bench   time optimizer steps against the memory-bandwidth roofline, NumPy and torch.optim
  demo    train a NumPy MLP on scikit-learn's digits with every optimizer
  plot    draw the survey's trajectory pictures

The command line needs the ``bench`` extra (click, rich): ``pip install "pyfastopt[bench]"``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

#: Printed when the command line's dependencies are missing.
MISSING_EXTRA = (
    "pyfastopt: the command line (pyfastopt bench) needs click and rich, which the package "
    "does not install by itself ({missing} is missing). Install them with:\n"
    '    pip install "pyfastopt[bench]"'
)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    try:
        from ._bench.cli import cli
        from ._commands import demo, lr_find, plot
    except ImportError as exc:
        missing = str(exc.name)
        if missing not in ("click", "rich") and not missing.startswith(("click.", "rich.")):
            raise
        print(MISSING_EXTRA.format(missing=missing.split(".", maxsplit=1)[0]), file=sys.stderr)
        return 1
    cli.add_command(demo)
    cli.add_command(plot)
    cli.add_command(lr_find)
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="pyfastopt")
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

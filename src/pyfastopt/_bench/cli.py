"""The ``pyfastopt`` command line (click), with a rich progress bar and tables.

Needs the ``bench`` extra (click, rich); :mod:`pyfastopt.__main__` says so when they are
missing. ``--plot`` needs matplotlib (the ``plot`` extra), torch peers need torch.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from types import ModuleType

import click
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .. import __version__, precision
from . import report
from .optimizers import BY_NAME, OPTIMIZERS
from .run import DEFAULT_SIZES, DEFAULT_TIMING, QUICK_SIZES, QUICK_TIMING, Config, run, total_weight
from .storage import STANDARD, check_storage, parse_storages
from .workload import check_all, check_roofline, parse_size


def _split(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _optimizers(_ctx, _param, value: str):  # a click callback
    if value.strip().lower() == "all":
        return list(OPTIMIZERS)
    names = [x.lower() for x in _split(value)]
    unknown = [x for x in names if x not in BY_NAME]
    if unknown or not names:
        msg = f"unknown {', '.join(unknown) or 'empty list'}; choose from all, {', '.join(BY_NAME)}"
        raise click.BadParameter(msg)
    return [BY_NAME[x] for x in dict.fromkeys(names)]


def _sizes(_ctx, _param, value: str | None):
    if value is None:
        return None
    try:
        sizes = [parse_size(x) for x in _split(value)]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if not sizes:
        msg = "empty size list"
        raise click.BadParameter(msg)
    return list(dict.fromkeys(sizes))


def _storages(_ctx, _param, value: str | None):
    if value is None:
        return None
    try:
        storages = parse_storages(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if any("bf16" in (s.param, s.grad, s.state) for s in storages) and precision.bfloat16 is None:
        msg = "bf16 storage needs ml_dtypes, which is not installed: pip install 'pyfastopt[bf16]'"
        raise click.BadParameter(msg)
    return storages


def _threads(_ctx, _param, value: str):
    try:
        threads = [int(x) for x in _split(value)]
    except ValueError:
        msg = f"not a comma-separated list of integers: {value!r}"
        raise click.BadParameter(msg) from None
    if not threads or min(threads) < 1:
        msg = f"thread counts must be >= 1: {value!r}"
        raise click.BadParameter(msg)
    return list(dict.fromkeys(threads))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pyfastopt")
def cli() -> None:
    """pyfastopt: fast in-place optimizer steps for NumPy."""


@cli.command()
@click.option("--optimizers", default="all", show_default=True, callback=_optimizers,
              help=f"Comma list of: {', '.join(BY_NAME)}.")
@click.option("--sizes", callback=_sizes, metavar="LIST",
              help="Comma list of size classes: 2^20, 1<<20, 1048576, 1M, or COUNTxN for a model "
              f"of COUNT arrays [default: {','.join(DEFAULT_SIZES)}; with --quick "
              f"{','.join(QUICK_SIZES)}].")
@click.option("--threads", default="1,2", show_default=True, callback=_threads,
              help="Comma list of thread counts (pyfastopt and torch; NumPy runs on one).")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32",
              show_default=True, help="The implementations' dtype (16-bit and 8-bit storage: "
              "--storage).")
@click.option("--storage", "storages", callback=_storages, metavar="LIST",
              help="Time storage configurations instead of the implementations: a comma list "
              "of PARAM[+master][+STATES-states][+GRADS-grads], PARAM one of fp64, fp32, bf16, "
              "fp16, STATES also 8bit (blockwise, an absmax per 256 elements); states and grads "
              "default to PARAM's dtype; master: float32 master weights for bf16/fp16 params. "
              f"'standard' is {', '.join(STANDARD)}. fp32 is always timed beside them (x fp32). "
              "Peers: torch fused beside one-dtype configurations, bitsandbytes' 8-bit "
              "optimizers beside PARAM+8bit-states (if installed; slow on CPU).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), metavar="PATH",
              help="Also write machine facts, settings, results and every sample to PATH.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), metavar="PATH",
              help="Also draw throughput vs size with the roofline to PATH (png, svg, pdf; "
              "needs matplotlib).")
@click.option("--quick", is_flag=True, help="A shorter run (under 30 s): fewer sizes, "
              "smaller time budget.")
@click.option("--repeat", type=click.IntRange(min=1), metavar="N",
              help="Exactly N interleaved samples per measurement [default: adaptive, from a "
              "time budget].")
@click.option("--no-torch", is_flag=True,
              help="Skip the torch.optim (and bitsandbytes) peers even if installed.")
@click.option("--details", is_flag=True, help="Also print every implementation's median.")
@click.option("--markdown", is_flag=True, help="Print the tables as Markdown.")
@click.pass_context
def bench(ctx, optimizers, sizes, threads, dtype, storages, json_path, plot_path, quick, repeat,
          no_torch, details, markdown) -> None:  # fmt: skip
    """Time optimizer steps against the bandwidth roofline, NumPy and torch.optim.

    Measures the STREAM triad and the Adam memory pattern (read 4 arrays, write 3, in
    place), then every optimizer step at sizes in L1, L2, L3 and DRAM and for a model of many
    small arrays: pyfastopt (the optim class, and the functional call), the best NumPy
    formulation and torch.optim (for-loop, foreach, fused) when torch is installed. Each
    (optimizer, size, threads) group is timed round-robin; tables show medians.

    With --storage: each optimizer's step in every storage configuration (and all-fp32),
    the Adam-pattern ceiling and the peers that store the same, in one group.
    """
    if storages and ctx.get_parameter_source("dtype") != click.core.ParameterSource.DEFAULT:
        msg = "--dtype is the implementations' dtype: with --storage, name it in each configuration"
        raise click.BadParameter(msg, param_hint="--dtype")
    if storages and plot_path:
        msg = "--plot draws the implementations' run, not a --storage run"
        raise click.BadParameter(msg, param_hint="--plot")
    if plot_path:
        try:
            import matplotlib  # noqa: F401  (checks that it imports)
        except ImportError:
            msg = '--plot needs matplotlib, which is not installed: pip install "pyfastopt[plot]"'
            raise click.ClickException(msg) from None
    torch: ModuleType | None = None
    if not no_torch and importlib.util.find_spec("torch") is not None:
        torch = importlib.import_module("torch")  # slow import; optional peer
    bnb: ModuleType | None = None
    if storages and torch is not None and importlib.util.find_spec("bitsandbytes") is not None:
        bnb = importlib.import_module("bitsandbytes")
    timing = QUICK_TIMING if quick else DEFAULT_TIMING
    if repeat is not None:
        timing = dataclasses.replace(timing, repeat=repeat)
    config = Config(
        specs=optimizers,
        sizes=sizes or [parse_size(s) for s in (QUICK_SIZES if quick else DEFAULT_SIZES)],
        threads=threads, dtype=np.dtype(dtype), timing=timing, torch=torch,
        mode="quick" if quick else "default" if repeat is None else f"repeat {repeat}",
        storages=storages or (), bnb=bnb,
    )  # fmt: skip
    err = Console(stderr=True)
    out = Console(width=None if sys.stdout.isatty() else 160, soft_wrap=False)
    info = report.machine_info(torch)

    with Progress(TextColumn("[progress.description]{task.description:<22}"), BarColumn(),
                  TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                  TextColumn("eta"), TimeRemainingColumn(), console=err, transient=True,
                  disable=not err.is_terminal) as bar:  # fmt: skip
        task = bar.add_task("checking results", total=total_weight(config))
        if storages:
            check_roofline(config.dtype)
            problems = []
            for spec in config.specs:
                ours, peers = check_storage(spec, storages, torch, bnb)
                problems += ours
                if peers:
                    config.excluded[spec.name] = peers
        else:
            problems = check_all(config.specs, config.dtype, torch)
        if problems:
            raise click.ClickException("implementations disagree with pyfastopt before timing:"
                                       "\n  " + "\n  ".join(problems))  # fmt: skip

        def progress(label: str, advance: float) -> None:
            if label:
                bar.update(task, description=label)
            bar.advance(task, advance)

        records, seconds = run(config, progress)

    skipped = [f"{spec.name} {s.label}: {why}" for spec in config.specs for s in config.storages
               if (why := s.unsupported(spec))]  # fmt: skip
    cfg = {**config.as_dict(), "seconds": seconds, "skipped": skipped}
    info["load_avg_1min_end"] = report.machine_info()["load_avg_1min"]
    roof, rows = report.derive(records, config.dtype.itemsize)
    storage_rows = report.derive_storage(records)
    for item in report.tables(info, cfg, roof, rows, records, storage_rows=storage_rows,
                              details=details, markdown=markdown):  # fmt: skip
        out.print(item)
        out.print()
    if json_path:
        report.write_json(json_path, info, cfg, roof, rows, records, storage_rows)
        err.print(f"wrote {json_path}")
    if plot_path:
        report.plot(plot_path, cfg, roof, records)
        err.print(f"wrote {plot_path}")

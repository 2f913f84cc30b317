"""The ``pyfastopt demo``, ``pyfastopt plot`` and ``pyfastopt lr-find`` commands (click,
rich: the bench extra; scikit-learn and matplotlib: the demo and plot extras)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


@click.command()
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Passes over the training set [default: the demo's, 50].")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--optimizers", default=None, metavar="LIST",
              help="Comma list of optimizer names [default: all].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), default="demo.png", show_default=True,
              help="The loss-curve PNG.")
@click.option("--model", type=click.Choice(["mlp", "softmax"]), default="mlp", show_default=True)
@click.option("--mixed", is_flag=True,
              help="Instead: compare float32 training of the MLP with a bfloat16 model (float32 "
                   "master weights, bfloat16 or 8-bit optimizer states); test accuracies of "
                   "seeds SEED, SEED+1, SEED+2 [default optimizers: Adam,AdamW].")
@click.option("--bf16-regression", type=click.Path(dir_okay=False), default=None, metavar="PNG",
              help="Instead: the 2000-step linear regression with bfloat16 parameters (float32, "
                   "bfloat16 rounded to nearest, bfloat16 rounded stochastically); loss curves "
                   "to PNG.")
def demo(epochs, batch_size, optimizers, seed, out, model, mixed,
         bf16_regression) -> None:  # fmt: skip
    """Train a NumPy MLP on scikit-learn's digits with every optimizer."""
    from .demo import DEFAULT_EPOCHS, format_table, run_demo

    names = [x.strip() for x in optimizers.split(",")] if optimizers else None
    if bf16_regression is not None:
        if mixed:
            msg = "--mixed and --bf16-regression are separate runs"
            raise click.UsageError(msg)
        return _bf16_regression(bf16_regression)
    epochs = epochs or DEFAULT_EPOCHS
    err = Console(stderr=True)
    with Progress(TextColumn("{task.description:<10}"), BarColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as bar:  # fmt: skip
        task = bar.add_task("training", total=None)

        def progress(name: str, epoch: int, total: int) -> None:
            bar.update(task, description=name, completed=epoch, total=total)

        try:
            if mixed:
                from .demo import format_mixed_table, run_mixed

                rows = run_mixed(names or ("Adam", "AdamW"), seeds=range(seed, seed + 3),
                                 epochs=epochs, progress=progress)  # fmt: skip
            else:
                rows = run_demo(names, epochs=epochs, batch_size=batch_size, seed=seed, out=out,
                                progress=progress, model=model)  # fmt: skip
        except (ImportError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
    if mixed:
        click.echo(format_mixed_table(rows))
        return None
    click.echo(format_table(rows))
    click.echo(f"loss curves: {Path(out).resolve()}")
    return None


def _bf16_regression(out: str) -> None:
    from .demo import bf16_regression, format_regression, plot_bf16_regression

    try:
        curves = bf16_regression()
        plot_bf16_regression(curves, out)
    except ImportError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(format_regression(curves))
    click.echo(f"loss curves: {Path(out).resolve()}")


@click.command()
@click.option("--out-dir", type=click.Path(file_okay=False), default=".", show_default=True)
@click.option("--gif", is_flag=True, help="Also write beale.gif, the trajectories animated.")
@click.option("--optimizers", default=None, metavar="LIST",
              help="Comma list of optimizer names [default: all].")
def plot(out_dir, gif, optimizers) -> None:  # fmt: skip
    """Draw the survey's pictures: optimizer trajectories on the Beale function, at a saddle
    point, and on the ill-conditioned quadratic of the lecture notes; CG and L-BFGS on that
    quadratic and on Rosenbrock."""
    from .plot import run_plot

    names = [x.strip() for x in optimizers.split(",")] if optimizers else None
    try:
        paths = run_plot(out_dir, gif=gif, optimizers=names)
    except (ImportError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    for path in paths:
        click.echo(str(path))


@click.command("lr-find")
@click.option("--optimizer", default="Momentum", show_default=True,
              help="An optimizer of `pyfastopt demo` (its names, case-insensitive).")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Epochs of each grid trial [default: the demo's 50].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--processes", type=click.IntRange(min=1), default=1, show_default=True,
              help="Grid trials run in this many processes.")
@click.option("--out", type=click.Path(dir_okay=False), default="lr_range_test.png",
              show_default=True, help="The range test and the grid's accuracies (PNG).")
def lr_find(optimizer, epochs, seed, processes, out) -> None:  # fmt: skip
    """Smith's learning-rate range test on the demo MLP, checked by a log-scale grid search:
    the suggested rate, the grid's best, and each trial's test accuracy."""
    from .lr_search import format_trials, run_lr_demo

    try:
        found = run_lr_demo(out, optimizer=optimizer, epochs=epochs, seed=seed,
                            processes=processes)  # fmt: skip
    except (ImportError, ValueError, TypeError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"range test: suggested lr {found['suggested_lr']:.3g} trains to "
               f"{found['suggested_score']:.2f}% test accuracy")  # fmt: skip
    click.echo(f"grid search: best lr {found['best_lr']:.3g}, {found['best_score']:.2f}%")
    click.echo(format_trials(found["search"]))
    click.echo(f"picture: {Path(out).resolve()}")

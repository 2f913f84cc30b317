"""What ``pyfastopt bench`` prints and saves: derived rates and ratios, tables, JSON, a plot.

Rates count bytes as STREAM does (:data:`.optimizers.TRAFFIC`): every array read or written
once per element. ``%ceil`` is a step's GB/s over the Adam-pattern kernel's GB/s measured in
the same interleaved group (same size, same threads): 100% means the step moves its bytes as
fast as a 4-read/3-write in-place loop with no arithmetic. ``%triad`` is over the STREAM
triad at the same size and threads. ``x <peer>`` is the peer's median over pyfastopt's (the
optimizer class): above 1, pyfastopt is faster. NumPy runs on one thread whatever the
thread count; its figure is the faster of the whole-array and blocked formulations.

Storage configurations (``--storage``) count each configuration's own bytes
(:meth:`.storage.Storage.bytes_per_element`); ``x fp32`` is the all-fp32 step's median over
the configuration's, timed in the same group.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__, build_info
from ..optim._common import SPREAD
from .optimizers import bytes_per_element
from .storage import BASELINE as STORAGE_BASELINE
from .workload import PEERS, Size, cache_level, cache_sizes

# --------------------------------------------------------------------------------------
# Facts and derived numbers


def machine_info(torch=None) -> dict[str, Any]:
    """CPU, caches, OS, load, library versions and the build: printed above the tables."""
    model = platform.processor() or platform.machine()
    try:
        with Path("/proc/cpuinfo").open(encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    usable: int | None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        load = round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        load = None
    return {
        "cpu": model,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "caches": cache_sizes(),
        "load_avg_1min": load,
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": None if torch is None else torch.__version__,
        "pyfastopt": __version__,
        "build": build_info(),
    }


def level_of(size: Size, itemsize: int, caches: dict[str, int]) -> str:
    """Where the Adam step's working set (4 arrays) of this size class lives."""
    return cache_level(4 * size.total * itemsize, caches)


def _mib(nbytes: float) -> str:
    if nbytes >= 1 << 20:
        return f"{nbytes / (1 << 20):.0f} MiB"
    return f"{nbytes / (1 << 10):.0f} KiB"


def derive(records: Sequence[dict[str, Any]], itemsize: int) -> tuple[list[dict], list[dict]]:
    """(roofline rows, optimizer rows) from the raw records of a run.

    A record: {"group": "roofline"|"step", "size": Size, "threads", "optimizer", "impl",
    "median_s", ...}. Optimizer rows are pyfastopt's, one per (size, threads, optimizer), with
    every implementation's median and the ratios."""
    med: dict[tuple, float] = {}
    for r in records:
        med[r["group"], r["size"], r["threads"], r["optimizer"], r["impl"]] = r["median_s"]
    sizes = list(dict.fromkeys(r["size"] for r in records))
    threads = list(dict.fromkeys(r["threads"] for r in records))
    optimizers = list(dict.fromkeys(r["optimizer"] for r in records if r["group"] == "step"))
    caches = cache_sizes()

    def gbs(kernel: str, size: Size, seconds: float) -> float:
        return bytes_per_element(kernel, itemsize) * size.total / seconds / 1e9

    roof, rows = [], []
    for size in sizes:
        for t in threads:
            tri = med.get(("roofline", size, t, None, "triad"))
            pat = med.get(("roofline", size, t, None, "adam-pattern"))
            ali = med.get(("roofline", size, t, None, "adam-pattern-aliased"))
            if tri is None or pat is None:
                continue
            roof.append({
                "size": size.label, "elements": size.total,
                "level": level_of(size, itemsize, caches),
                "threads": t, "triad_s": tri, "triad_gb_per_s": gbs("triad", size, tri),
                "adam_pattern_s": pat, "adam_pattern_gb_per_s": gbs("adam-pattern", size, pat),
                "adam_pattern_gelem_per_s": size.total / pat / 1e9,
                "adam_pattern_aliased_s": ali,
                "adam_pattern_aliased_gb_per_s":
                    None if ali is None else gbs("adam-pattern", size, ali),
            })  # fmt: skip
    for size in sizes:
        for name in optimizers:
            # NumPy is single-threaded: timed in the first thread group only
            numpy = [v for (g, s, _, o, i), v in med.items()
                     if g == "step" and s == size and o == name
                     and i.startswith("numpy")]  # fmt: skip
            for t in threads:
                ours = med.get(("step", size, t, name, "pyfastopt"))
                if ours is None:
                    continue
                rate = gbs(name, size, ours)
                pat = med.get(("step", size, t, name, "adam-pattern"))
                tri = med.get(("roofline", size, t, None, "triad"))
                peers = {"numpy": min(numpy) if numpy else None}
                for p in PEERS[1:]:
                    peers[p] = med.get(("step", size, t, name, p))
                row = {
                    "size": size.label, "elements": size.total, "threads": t, "optimizer": name,
                    "bytes_per_element": bytes_per_element(name, itemsize),
                    "median_s": ours, "gelem_per_s": size.total / ours / 1e9, "gb_per_s": rate,
                    "pct_ceiling":
                        None if pat is None else 100 * rate / gbs("adam-pattern", size, pat),
                    "pct_triad": None if tri is None else 100 * rate / gbs("triad", size, tri),
                    "functional_s": med.get(("step", size, t, name, "functional")),
                    "one_array_s": med.get(("step", size, t, name, "one-array")),
                    "peers_s": peers,
                    "speedup": {p: (None if v is None else v / ours) for p, v in peers.items()},
                }  # fmt: skip
                rows.append(row)
    return roof, rows


def derive_storage(records: Sequence[dict[str, Any]]) -> list[dict]:
    """Rows of the storage groups: one per (size, threads, optimizer, configuration), with
    its bytes, rates, ceiling shares, the all-fp32 step's median over its own ("x fp32")
    and each peer's median over its own."""
    by: dict[tuple, dict[str, Any]] = {}
    for r in records:
        if r["group"] == "storage":
            by.setdefault((r["size"], r["threads"], r["optimizer"]), {})[r["impl"]] = r
    triad = {(r["size"], r["threads"]): r["median_s"] for r in records
             if r["group"] == "roofline" and r["impl"] == "triad"}  # fmt: skip
    rows = []
    for (size, t, name), impls in by.items():
        pat = impls["adam-pattern"]
        ceiling = pat["bytes_per_element"] * size.total / pat["median_s"] / 1e9
        tri = triad.get((size, t))
        base = impls.get(STORAGE_BASELINE, {}).get("median_s")  # (the CLI always times it)
        for impl, r in impls.items():
            if r["storage"] is None or r["peer"] is not None:
                continue
            ours = r["median_s"]
            rate = r["bytes_per_element"] * size.total / ours / 1e9
            peers = {p["peer"]: p["median_s"] for p in impls.values()
                     if p["peer"] is not None and p["storage"] == impl}  # fmt: skip
            rows.append({
                "size": size.label, "elements": size.total, "threads": t, "optimizer": name,
                "storage": impl, "bytes_per_element": r["bytes_per_element"], "median_s": ours,
                "gelem_per_s": size.total / ours / 1e9, "gb_per_s": rate,
                "pct_ceiling": 100 * rate / ceiling,
                "pct_triad": None if tri is None
                    else 100 * rate / (bytes_per_element("triad", 4) * size.total / tri / 1e9),
                "x_fp32": None if base is None else base / ours, "peers_s": peers,
                "speedup": {p: v / ours for p, v in peers.items()},
            })  # fmt: skip
    return rows


def _bytes(x: float) -> str:
    return f"{x:g}" if x == int(x) else f"{x:.2f}"


def storage_tables(config: dict, rows: list[dict], style: Any, markdown: bool) -> list[Any]:
    """One table per size: every configuration of every optimizer, with its peers."""
    from rich.table import Table
    from rich.text import Text

    out: list[Any] = []
    peers = list(dict.fromkeys(p for r in rows for p in r["peers_s"]))
    for label in dict.fromkeys(r["size"] for r in rows):
        size = next(s for s in config["size_objects"] if s.label == label)
        what = (f"{size.count} arrays x {size.numel:,}" if size.count > 1
                else f"{size.label} = {size.numel:,}")  # fmt: skip
        t = Table(title=f"{what} elements: storage configurations", box=style,
                  title_justify="left")  # fmt: skip
        t.add_column("optimizer")
        t.add_column("storage")
        for col in ("thr", "B/el", "time/step", "Gelem/s", "GB/s", "%ceil", "%triad", "x fp32",
                    *(f"x {p}" for p in peers)):  # fmt: skip
            t.add_column(col, justify="right")
        last = None
        for r in (r for r in rows if r["size"] == label):
            key = (r["optimizer"], r["threads"])
            if last is not None and key != last and not markdown:
                t.add_section()
            last = key
            t.add_row(r["optimizer"], r["storage"], str(r["threads"]),
                      _bytes(r["bytes_per_element"]), _time(r["median_s"]),
                      f"{r['gelem_per_s']:.3g}", f"{r['gb_per_s']:.3g}", _pct(r["pct_ceiling"]),
                      _pct(r["pct_triad"]), _x(r["x_fp32"]),
                      *(_x(r["speedup"].get(p)) for p in peers))  # fmt: skip
        out.append(t)
    notes = [f"skipped: {x}" for x in config.get("skipped", [])]
    notes += [f"peer left out (disagrees with pyfastopt's fp32 step): {why}"
              for by_name in config.get("excluded_peers", {}).values()
              for why in by_name.values()]  # fmt: skip
    if notes:
        out.append(Text("\n".join(notes), style="bold yellow"))
    out.append(Text(
        "storage: PARAM[+master][+STATES-states][+GRADS-grads]; states and grads default to "
        "the parameter's dtype; master: float32\n"
        "master weights beside the 16-bit parameters; 8bit: blockwise 8-bit states (one "
        "float32 absmax per 256 elements).\n"
        "B/el: bytes counted per element (each array read or written once; a master read and "
        "written, the 16-bit parameter written;\n"
        "8-bit states: codes and absmax read and written). %ceil: GB/s over the fp32 "
        "Adam-pattern kernel's in the same group, %triad over the\n"
        "STREAM triad's at that size and thread count. "
        "x fp32: the all-fp32 step's time over this configuration's (same group). x <peer>: "
        "the peer's time over pyfastopt's.\n"
        "torch-fused: torch.optim.<Name>(fused=True) on the configuration's own parameters "
        "(its states in their dtype);\n"
        "bnb-8bit: bitsandbytes.optim.<Name>8bit on CPU tensors of the configuration's own "
        "parameters (min_8bit_size=0)."
    ))  # fmt: skip
    return out


# --------------------------------------------------------------------------------------
# Tables (rich)


def disturbed(roof: list[dict]) -> str:
    """A warning when more threads made the triad much slower: another process was using
    the CPUs, and every multi-threaded figure of the run is suspect."""
    one = {r["size"]: r["triad_s"] for r in roof if r["threads"] == 1}
    bad = sorted({f"{r['size']} ({r['threads']} threads: {r['triad_s'] / one[r['size']]:.0f}x "
                  f"slower than 1)" for r in roof
                  if r["threads"] > 1 and r["size"] in one
                  and r["triad_s"] > 3 * one[r["size"]]})  # fmt: skip
    if not bad:
        return ""
    return ("warning: the triad ran much slower on more threads at " + ", ".join(bad)
            + ": other processes were using the CPUs; multi-threaded figures are "
            "unreliable.")  # fmt: skip


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} us"
    return f"{seconds * 1e3:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}"


def _x(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.1f}x" if x >= 10 else f"{x:.2f}x"


def _size_title(size: Size, itemsize: int, dtype: str, caches: dict[str, int]) -> str:
    what = (f"{size.count} arrays x {size.numel:,}" if size.count > 1
            else f"{size.label} = {size.numel:,}")  # fmt: skip
    ws = 4 * size.total * itemsize
    return (f"{what} {dtype} elements  (Adam working set {_mib(ws)}: "
            f"{cache_level(ws, caches)})")  # fmt: skip


def tables(info: dict, config: dict, roof: list[dict], rows: list[dict], records: Sequence[dict],
           *, storage_rows: Sequence[dict] = (), details: bool = False,
           markdown: bool = False) -> list[Any]:  # fmt: skip
    """The rich renderables of a run, in print order (``rows``: the implementations' rows,
    :func:`derive`; ``storage_rows``: :func:`derive_storage`'s)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    style = box.MARKDOWN if markdown else box.SIMPLE_HEAD
    b = info["build"]
    caches = info["caches"]
    peers = (f"torch {info['torch']}" if info["torch"]
             else "no torch peers (torch not installed, or --no-torch)")  # fmt: skip
    if config.get("storages"):
        peers += (f", bitsandbytes {config['bitsandbytes']}" if config.get("bitsandbytes")
                  else ", no bitsandbytes peers")  # fmt: skip
    what = config["dtype"]
    if config.get("storages"):
        what = "storage " + ", ".join(config["storages"])
    head = [
        (f"pyfastopt bench: {what}, threads {','.join(map(str, config['threads']))}, "
         f"medians of interleaved samples ({config['seconds']:.0f} s, {config['mode']})"),
        (f"cpu    {info['cpu']}, {info['usable_cpus']}/{info['logical_cpus']} logical CPUs usable; "
         f"L1d {_mib(caches['L1'])}, L2 {_mib(caches['L2'])} per core, L3 {_mib(caches['L3'])}; "
         f"load {info['load_avg_1min']} at start, {info.get('load_avg_1min_end', '?')} at end; "
         f"{info['system']}"),
        (f"build  pyfastopt {info['pyfastopt']}: isa {b['isa']} "
         f"(compiled {' '.join(b['isas'])}), openmp {'on' if b['openmp'] else 'off'}, "
         f"{b.get('compiler', '?')}; numpy {info['numpy']}; {peers}; python {info['python']}"),
    ]  # fmt: skip
    out: list[Any] = [Text("\n".join(head))]

    t = Table(title="Bandwidth roofline (bytes counted as STREAM counts them)", box=style,
              title_justify="left")  # fmt: skip
    for col in ("size", "level", "thr"):
        t.add_column(col)
    for col in ("triad", "GB/s", "adam-pattern", "GB/s", "Gelem/s", "aliased", "GB/s"):
        t.add_column(col, justify="right")
    for r in roof:
        ali = r["adam_pattern_aliased_gb_per_s"]
        t.add_row(r["size"], r["level"], str(r["threads"]), _time(r["triad_s"]),
                  f"{r['triad_gb_per_s']:.1f}", _time(r["adam_pattern_s"]),
                  f"{r['adam_pattern_gb_per_s']:.1f}", f"{r['adam_pattern_gelem_per_s']:.2f}",
                  _time(r["adam_pattern_aliased_s"]),
                  "-" if ali is None else f"{ali:.1f}")  # fmt: skip
    out.append(t)

    warning = disturbed(roof)
    if warning:
        out.append(Text(warning, style="bold yellow"))

    if storage_rows:
        out += storage_tables(config, list(storage_rows), style, markdown)

    itemsize = np.dtype(config["dtype"]).itemsize
    for label in dict.fromkeys(r["size"] for r in rows):
        size = next(s for s in config["size_objects"] if s.label == label)
        t = Table(title=_size_title(size, itemsize, config["dtype"], caches), box=style,
                  title_justify="left")  # fmt: skip
        t.add_column("optimizer")
        for col in ("thr", "B/el", "time/step", "Gelem/s", "GB/s", "%ceil", "%triad",
                    "functional", "vs 1 array", "x numpy", "x t-forloop", "x t-foreach",
                    "x t-fused"):  # fmt: skip
            t.add_column(col, justify="right")
        last = None
        for r in (r for r in rows if r["size"] == label):
            if last is not None and r["optimizer"] != last and not markdown:
                t.add_section()
            last = r["optimizer"]
            sp = r["speedup"]
            t.add_row(r["optimizer"], str(r["threads"]), str(r["bytes_per_element"]),
                      _time(r["median_s"]), f"{r['gelem_per_s']:.3g}", f"{r['gb_per_s']:.3g}",
                      _pct(r["pct_ceiling"]), _pct(r["pct_triad"]), _time(r["functional_s"]),
                      _x(None if r["one_array_s"] is None else r["median_s"] / r["one_array_s"]),
                      *(_x(sp[p]) for p in PEERS))  # fmt: skip
        out.append(t)

    if details:
        t = Table(title="Every implementation (medians)", box=style, title_justify="left")
        for col in ("size", "thr", "optimizer", "impl"):
            t.add_column(col)
        for col in ("time/step", "Gelem/s", "GB/s", "calls/sample", "samples"):
            t.add_column(col, justify="right")
        t.add_column("note")
        for r in records:
            size = r["size"]
            roofline = r["group"] == "roofline" or r["impl"] == "adam-pattern"
            kernel = r["impl"] if roofline else r["optimizer"]
            nbytes = r.get("bytes_per_element") or bytes_per_element(kernel, itemsize)
            gb = nbytes * size.total / r["median_s"] / 1e9
            t.add_row(size.label, str(r["threads"]), r["optimizer"] or "-", r["impl"],
                      _time(r["median_s"]), f"{size.total / r['median_s'] / 1e9:.3g}",
                      f"{gb:.3g}", str(r["batch"]), str(len(r["samples_s"])),
                      r["note"])  # fmt: skip
        out.append(t)

    if not rows:  # (a storage run: its notes are above)
        return out
    out.append(Text(
        f"Roofline arrays start {SPREAD} B apart (as optim's state arenas); 'aliased': the Adam "
        "pattern on arrays at one page offset, as NumPy\n"
        "allocates large arrays (and as the optimizer rows use them). B/el: bytes counted per "
        "element (each array read or\n"
        "written once). %ceil: GB/s over the Adam-pattern kernel's (read 4, write 3, in place, no "
        "arithmetic; staggered)\n"
        "timed in the same group; %triad: over the STREAM triad's at that size and thread "
        "count.\n"
        "functional: the pyfastopt.functional call. vs 1 array (models): the step's time over "
        "the same optimizer's step on one\n"
        "array of as many elements, timed in the same group. x <peer>: the peer's time over "
        "pyfastopt's (the optim class, opt.step(grads)).\n"
        "numpy: the faster of whole-array and cache-blocked in-place ufuncs, one thread. "
        "t-forloop/foreach/fused: torch.optim with\n"
        "foreach=False (torch's CPU default), foreach=True, fused=True (CPU kernels exist for "
        "SGD, Adagrad, Adam, AdamW only)."
    ))  # fmt: skip
    return out


# --------------------------------------------------------------------------------------
# JSON and plot


def _jsonable(obj):
    if isinstance(obj, Size):
        return obj.label
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items() if k != "size_objects"}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def write_json(path: str, info, config, roof, rows, records, storage_rows=()) -> None:
    doc = {"machine": info, "config": config, "roofline": roof, "results": rows,
           "storage_results": list(storage_rows), "samples": records}  # fmt: skip
    with Path(path).open("w", encoding="utf-8") as f:
        json.dump(_jsonable(doc), f, indent=1)


def plot(path: str, config: dict, roof: list[dict], records: Sequence[dict]) -> None:
    """Throughput (GB/s) against elements per step, one panel per optimizer: pyfastopt and
    each peer as lines (one array) and markers (the many-array model), the triad and
    Adam-pattern rooflines as grey lines; solid 1 thread, dashed more."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    itemsize = np.dtype(config["dtype"]).itemsize
    names = list(dict.fromkeys(r["optimizer"] for r in records if r["group"] == "step"))
    threads = config["threads"]
    cols = min(4, len(names))
    rows_n = -(-len(names) // cols)
    legend_in = 1.1  # inches below the panels for the legend
    height = 3.4 * rows_n + legend_in
    fig, axes = plt.subplots(rows_n, cols, figsize=(4.4 * cols, height), squeeze=False,
                             sharex=True, sharey=True)  # fmt: skip
    colors = {"pyfastopt": "C3", "functional": "C1", "numpy": "C0", "numpy-blocked": "C9",
              "torch-forloop": "C2", "torch-foreach": "C4", "torch-fused": "C5"}  # fmt: skip
    styles = {t: ("-" if i == 0 else "--") for i, t in enumerate(threads)}

    def series(pred, kernel):
        return sorted((r["size"].total,
                       bytes_per_element(kernel, itemsize) * r["size"].total / r["median_s"] / 1e9,
                       r["size"].count > 1) for r in records if pred(r))  # fmt: skip

    for ax, name in zip(axes.flat, names):
        for t in threads:
            for kernel, color in (("triad", "0.7"), ("adam-pattern", "0.3")):
                pts = [(r["elements"], r[f"{kernel.replace('-', '_')}_gb_per_s"]) for r in roof
                       if r["threads"] == t and "x" not in r["size"]]  # fmt: skip
                if pts:
                    ax.plot(*zip(*pts), styles[t], color=color, lw=1,
                            label=f"{kernel} {t}t" if name == names[0] else None)  # fmt: skip
            for impl, color in colors.items():
                if impl == "functional":
                    continue
                pts = series(lambda r, impl=impl, t=t, name=name: r["group"] == "step"
                             and r["optimizer"] == name and r["impl"] == impl
                             and r["threads"] == t, name)  # fmt: skip
                if not pts and impl.startswith("numpy"):  # NumPy: timed once, drawn for each t
                    continue
                line = [(x, y) for x, y, many in pts if not many]
                if line:
                    ax.plot(*zip(*line), styles[t], color=color, marker=".",
                            label=f"{impl} {t}t" if name == names[0] else None)  # fmt: skip
                for x, y, many in pts:
                    if many:
                        ax.plot([x], [y], "*", color=color, ms=9)
        ax.set_title(name)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("elements per step")
    for ax in axes[:, 0]:
        ax.set_ylabel("GB/s (counted bytes)")
    fig.suptitle(f"pyfastopt bench, {config['dtype']}: throughput vs size "
                 f"(stars: the many-array model)")  # fmt: skip
    fig.tight_layout(rect=(0, legend_in / height, 1, 1 - 0.35 / height))
    fig.legend(loc="lower center", ncol=6, fontsize="small", frameon=False)
    fig.savefig(path, dpi=110)
    plt.close(fig)


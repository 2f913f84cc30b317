"""The documentation site (docs/): every public module has an API page that documents its
members, every public name has a docstring, and every gallery example runs.

A public module is one whose dotted path has no part starting with ``_``, except the
implementation modules of :mod:`pyfastopt.optim` (``pyfastopt.optim.adam``, ...), whose
classes ``pyfastopt.optim`` re-exports. Its public names are its ``__all__``. With
``PYFASTOPT_DOCS_HTML`` set to a built site (``.ci/docs`` does), the site's object inventory
must also list every public name.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
import inspect
import os
import pkgutil
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

import pyfastopt

DOCS = Path(__file__).resolve().parent.parent / "docs"
API = DOCS / "api"
EXAMPLES = sorted((DOCS / "examples").glob("plot_*.py"))

pytestmark = pytest.mark.skipif(not API.is_dir(), reason="no docs/ next to the tests")


def _all_modules() -> list[str]:
    names = ["pyfastopt"]
    for info in pkgutil.walk_packages(pyfastopt.__path__, "pyfastopt."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return names


def _is_optim_implementation(name: str) -> bool:
    return name.startswith("pyfastopt.optim.")


PUBLIC_MODULES = [m for m in _all_modules() if not _is_optim_implementation(m)]
OPTIM_IMPLEMENTATIONS = [m for m in _all_modules() if _is_optim_implementation(m)]


def _import(name: str):
    """The module, or a skip when an optional dependency or build is missing."""
    if name == "pyfastopt.torch":
        pytest.importorskip("torch")
    try:
        return importlib.import_module(name)
    except ImportError as error:
        if name == "pyfastopt.cuda":  # a build with PYFASTOPT_CUDA=ON only
            pytest.skip(f"{name}: {error}")
        raise


# --- the API pages --------------------------------------------------------------------------

_AUTOMODULE = re.compile(r"^\.\. automodule:: (\S+)[ \t]*\n((?:[ \t]+:[\w-]+:.*\n)*)", re.MULTILINE)


def _automodules() -> dict[str, set[str]]:
    """Module -> the options of its ``automodule`` directive in docs/api/*.rst."""
    found: dict[str, set[str]] = {}
    for page in sorted(API.glob("*.rst")):
        for match in _AUTOMODULE.finditer(page.read_text()):
            assert match.group(1) not in found, f"{match.group(1)}: two automodule directives"
            found[match.group(1)] = set(re.findall(r":([\w-]+):", match.group(2)))
    return found


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_public_module_has_an_api_page_with_its_members(module):
    options = _automodules().get(module)
    assert options is not None, f"no '.. automodule:: {module}' in docs/api/*.rst"
    assert "members" in options, f"docs/api: automodule {module} lacks :members:"
    assert not options & {"no-index", "noindex"}, f"docs/api: automodule {module} is not indexed"


def test_every_api_page_documents_a_public_module():
    stale = set(_automodules()) - set(PUBLIC_MODULES)
    assert not stale, f"docs/api documents modules that are not public (or gone): {stale}"


def test_every_api_page_is_in_the_api_toctree():
    toctree = (API / "index.rst").read_text()
    listed = set(re.findall(r"^   (\S+)$", toctree, re.MULTILINE))
    pages = {page.stem for page in API.glob("*.rst")} - {"index"}
    assert pages <= listed, f"api/index.rst misses {pages - listed}"


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_public_modules_declare_all(module):
    mod = _import(module)
    assert isinstance(getattr(mod, "__all__", None), list), f"{module} has no __all__"
    assert (mod.__doc__ or "").strip(), f"{module} has no module docstring"


@pytest.mark.parametrize("module", OPTIM_IMPLEMENTATIONS)
def test_optim_implementation_classes_are_exported_by_optim(module):
    """The implementation modules have no API page: their classes must be on optim's."""
    from pyfastopt import optim

    mod = importlib.import_module(module)
    defined = [name for name, obj in vars(mod).items()
               if inspect.isclass(obj) and obj.__module__ == module and not name.startswith("_")]
    missing = [name for name in defined if name not in optim.__all__]
    assert not missing, f"{module} defines {missing}, which pyfastopt.optim does not export"


# --- docstrings ------------------------------------------------------------------------------


def _own_doc(obj) -> str:
    """``obj``'s own docstring, or "" (also for the one dataclasses and NamedTuples write
    from the signature when a class has none)."""
    doc = (obj.__doc__ or "").strip()
    generated = inspect.isclass(obj) and (dataclasses.is_dataclass(obj) or hasattr(obj, "_fields"))
    if generated and doc.startswith(f"{obj.__name__}(") and doc.endswith(")") and "\n" not in doc:
        return ""
    return doc


def _member_functions(cls) -> dict[str, object]:
    """The public methods and properties ``cls`` itself defines (not inherited ones)."""
    members = {}
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, property):
            members[name] = value.fget
        elif isinstance(value, (classmethod, staticmethod)):
            members[name] = value.__func__
        elif inspect.isfunction(value):
            members[name] = value
    return members


def _has_doc_comment(module: str, name: str, depth: int = 0) -> bool:
    """Whether the module-level assignment of ``name`` has a ``#:`` comment on the line
    above it or a string right after it (what autodoc documents data by), following a
    ``from ... import name``."""
    mod = importlib.import_module(module)
    source = inspect.getsource(mod)
    lines = source.splitlines()
    body = ast.parse(source).body
    for i, node in enumerate(body):
        if isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            targets = [node.target.id]
        else:
            targets = []
        if name in targets:
            if node.lineno >= 2 and lines[node.lineno - 2].strip().startswith("#:"):
                return True
            after = body[i + 1] if i + 1 < len(body) else None
            return (isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str))  # fmt: skip
        if isinstance(node, ast.ImportFrom) and depth < 3:
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    package = module if hasattr(mod, "__path__") else module.rpartition(".")[0]
                    source_module = importlib.util.resolve_name(
                        "." * node.level + (node.module or ""), package)  # fmt: skip
                    return _has_doc_comment(source_module, alias.name, depth + 1)
    return False


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_public_name_has_a_docstring(module):
    mod = _import(module)
    missing = []
    for name in mod.__all__:
        obj = getattr(mod, name)
        if inspect.ismodule(obj):
            continue  # a public module of its own: its page and names are checked above
        if inspect.isclass(obj):
            if not _own_doc(obj):
                missing.append(name)
            missing += [f"{name}.{member}" for member, f in _member_functions(obj).items()
                        if not (getattr(f, "__doc__", None) or "").strip()]  # fmt: skip
        elif callable(obj):
            if not (obj.__doc__ or "").strip():
                missing.append(name)
        elif not _has_doc_comment(module, name):
            missing.append(f"{name} (data: add a '#:' comment above its assignment)")
    assert not missing, f"{module}: no docstring for {missing}"


def _inventory(html: Path) -> set[str]:
    """The object names in a built site's objects.inv (Sphinx's inventory, version 2)."""
    raw = (html / "objects.inv").read_bytes()
    header_end = 0
    for _ in range(4):  # four text lines, then the zlib-compressed entries
        header_end = raw.index(b"\n", header_end) + 1
    entries = zlib.decompress(raw[header_end:]).decode()
    return {line.split(" ", 1)[0] for line in entries.splitlines() if line.strip()}


@pytest.mark.skipif("PYFASTOPT_DOCS_HTML" not in os.environ,
                    reason="PYFASTOPT_DOCS_HTML (a built site) not set")  # fmt: skip
@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_the_built_site_lists_every_public_name(module):
    mod = _import(module)
    documented = _inventory(Path(os.environ["PYFASTOPT_DOCS_HTML"]))
    assert module in documented
    missing = [name for name in mod.__all__ if f"{module}.{name}" not in documented
               and not inspect.ismodule(getattr(mod, name))]  # fmt: skip
    assert not missing, f"the built API reference lacks {module}: {missing}"


# --- the gallery -----------------------------------------------------------------------------

# Runs an example as the gallery does (pyplot on Agg), warnings as errors, and checks that it
# left a figure for the gallery to show.
_RUNNER = """
import runpy, sys, time
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
start = time.perf_counter()
runpy.run_path(sys.argv[1], run_name="__main__")
assert plt.get_fignums(), "the example drew no figure"
print(f"{len(plt.get_fignums())} figures in {time.perf_counter() - start:.1f} s")
"""


def test_the_gallery_has_its_examples():
    """The examples the site promises: the survey's trajectories, the digits MLP, mixed
    precision, the distributed modes, the learning-rate range test, Hogwild! vs scikit-learn."""
    promised = {"plot_trajectories", "plot_digits_mlp", "plot_mixed_precision", "plot_distributed",
                "plot_lr_range_test", "plot_hogwild_vs_sklearn"}  # fmt: skip
    assert promised <= {p.stem for p in EXAMPLES}, [p.name for p in EXAMPLES]


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_gallery_example_runs(example, tmp_path):
    result = subprocess.run([sys.executable, "-W", "error", "-c", _RUNNER, str(example)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600,
                            check=False, env={**os.environ, "MPLBACKEND": "Agg"})  # fmt: skip
    assert result.returncode == 0, f"{example.name} failed:\n{result.stdout}\n{result.stderr}"
    print(example.name, result.stdout.strip().splitlines()[-1])

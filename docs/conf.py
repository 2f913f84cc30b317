"""Sphinx configuration of pyfastopt's documentation site.

Build (the ``docs`` extra): ``pip install ".[docs]" && python -m sphinx -b html docs
docs/_build/html``; CI adds ``-W --keep-going`` (.ci/docs). The API pages document the
installed package (its compiled ``_core``), not ``src/``. The gallery (``docs/examples``)
runs while the site builds; each example also runs as a test (tests/test_docs.py).
"""

from __future__ import annotations

import pyfastopt

project = "pyfastopt"
author = "the pyfastopt developers"
copyright = "the pyfastopt developers"
release = pyfastopt.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

# The pictures of README and docs/in_depth live next to this file; the built site and the
# gallery's output are generated (.gitignore)
exclude_patterns = ["_build"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"

html_theme = "furo"
html_title = f"pyfastopt {release}"
html_static_path = ["_static"]
html_css_files = ["pyfastopt.css"]
# MathJax comes from its CDN when a reader opens a page; the build itself needs no network

# --- autodoc and napoleon ---------------------------------------------------------------
# The docstrings are Google style (Args:, Returns:, References:) with ``.. math::`` blocks:
# napoleon reads them; numpydoc would not.
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
# pyfastopt.cuda imports the optional compiled module pyfastopt._cuda (a CUDA build); the
# docs build has none, so a stand-in lets the module's docstrings be read
autodoc_mock_imports = ["pyfastopt._cuda"]
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = True

# --- the gallery --------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    # the scripts' last expressions (a title, a line) are not output worth showing
    "capture_repr": (),
    "image_scrapers": ("matplotlib",),
    "within_subsection_order": "FileNameSortKey",
    # no cross-links from the API pages to the examples (no gen_modules pages to write)
    "doc_module": (),
    "backreferences_dir": None,
}

myst_heading_anchors = 2


def _public_bases(_app, _name, _obj, _options, bases):
    """"Bases:" lists the public classes only: pyfastopt.torch's classes derive from a
    private mixin and the torch.optim class of their name; the reader needs the latter."""
    bases[:] = [base for base in bases if not base.__name__.startswith("_")]


def setup(app):
    app.connect("autodoc-process-bases", _public_bases)

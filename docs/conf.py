"""Sphinx configuration of the cyconv documentation.

Build it with ``tools/build_docs.sh`` (a fresh virtual environment, the
installed package, warnings as errors).  The user guide is a sphinx-gallery
of scripts in ``examples/`` executed at every build; the performance page's
figures are drawn by ``plot_benchmarks.py`` from ``_static/benchmarks/``.
"""
import pathlib

import cyconv

project = "cyconv"
author = "The cyconv developers"
copyright = "the cyconv developers"
release = cyconv.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
]

templates_path = ["_templates"]
# examples/ holds the gallery's sources; sphinx-gallery turns them into auto_examples/.
exclude_patterns = ["_build", "examples"]
default_role = "py:obj"

autosummary_generate = True
autodoc_typehints = "none"
# Methods are listed by the class template, not by numpydoc's member tables.
numpydoc_show_class_members = False

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "subsection_order": ["examples/chapter", "examples/filtering", "examples/coming_from"],
    # A failing example fails the build instead of becoming a traceback on the page.
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "download_all_examples": False,
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
}

# The performance page's ndimage figure is drawn from _static/benchmarks/ndimage.json
# (benchmarks/bench_ndimage.py --json); until that file exists the page says so instead.
if (pathlib.Path(__file__).parent / "_static" / "benchmarks" / "ndimage.json").exists():
    tags.add("ndimage_results")  # noqa: F821 - Sphinx defines `tags` in conf.py

plot_formats = [("png", 100)]
plot_html_show_formats = False
plot_html_show_source_link = False
plot_rcparams = {"figure.dpi": 100}

html_theme = "pydata_sphinx_theme"
html_title = f"cyconv {release}"
html_static_path = ["_static"]
html_theme_options = {
    "github_url": "https://github.com/cyconv/cyconv",
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_sidebars = {"index": []}

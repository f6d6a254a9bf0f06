"""Run every docstring Example of the public API as a doctest."""
import doctest
import importlib
import pkgutil

import pytest

import cyconv

MODULES = sorted(
    name for _, name, _ in pkgutil.walk_packages(cyconv.__path__, "cyconv.")
    if not name.startswith("cyconv._kernels") and name != "cyconv.__main__"
)


# Modules that need an optional dependency, and the package that provides it.
OPTIONAL_DEPENDENCY = {"cyconv.dask": "dask", "cyconv.dask.ndimage": "dask"}


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name):
    if module_name in OPTIONAL_DEPENDENCY:
        dependency = OPTIONAL_DEPENDENCY[module_name]
        pytest.importorskip(dependency, reason=f"{module_name} needs the optional {dependency}")
    module = importlib.import_module(module_name)
    failures, _ = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert failures == 0

"""Run the Examples sections of cyconv's public modules as doctests."""
import doctest
import importlib

import pytest

PUBLIC_MODULES = ["cyconv._config", "cyconv._correlate", "cyconv._layers"]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0

"""show_config, the workers rule and the SIMD dispatch."""
import os

import pytest

import cyconv
from support import run_python
from cyconv import _simd
from cyconv._config import resolve_workers


def test_show_config_reports_the_contract_fields(capsys):
    cyconv.show_config()
    text = capsys.readouterr().out
    for field in ("cyconv " + cyconv.__version__, "compiler", "compile flags", "SIMD level",
                  "OpenMP", "OpenMP threads", "BLAS"):
        assert field in text


def test_resolve_workers():
    assert resolve_workers(3) == 3
    assert resolve_workers(-1) == os.cpu_count()
    assert resolve_workers(None) >= 1
    with pytest.raises(ValueError, match="workers"):
        resolve_workers(0)
    with pytest.raises(TypeError, match="workers"):
        resolve_workers("2")


def _level_in_subprocess(env_value):
    env = dict(os.environ, CYCONV_SIMD=env_value)
    code = ("import cyconv, cyconv._simd as s; "
            "print(s.LEVEL, s.kernels('correlate').__name__, s.kernels('conv_gemm').__name__)")
    result = run_python(code, env=env, check=True)
    return result.stdout.split(), result.stderr


def test_environment_variable_forces_the_baseline_kernels():
    (level, correlate_module, conv_module), _ = _level_in_subprocess("baseline")
    assert level == "baseline"
    assert correlate_module == "cyconv._kernels.correlate"
    assert conv_module == "cyconv._kernels.conv_gemm"


def test_default_uses_the_widest_level_this_cpu_runs():
    (level, correlate_module, _), _ = _level_in_subprocess("auto")
    assert level == _simd.available_levels()[-1]
    assert correlate_module.endswith("correlate" if level == "baseline" else f"correlate_{level}")


def test_environment_variable_can_ask_for_avx2_but_never_beyond_the_cpu():
    (level, correlate_module, _), _ = _level_in_subprocess("avx2")
    expected = "avx2" if "avx2" in _simd.available_levels() else "baseline"
    assert level == expected
    assert correlate_module == "cyconv._kernels.correlate" + ("_avx2" if expected == "avx2" else "")


def test_unknown_level_warns_and_falls_back_to_auto():
    (level, _, _), stderr = _level_in_subprocess("avx9000")
    assert level == _simd.available_levels()[-1]
    assert "CYCONV_SIMD" in stderr

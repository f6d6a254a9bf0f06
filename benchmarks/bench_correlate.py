"""asv benchmarks: cyconv.correlate2d beside scipy.signal.correlate2d, same parameters."""
import numpy as np
import scipy.signal

import cyconv


class Correlate2D:
    params = ([512, 2048], [3, 5, 9, 15], ["fill", "symm", "wrap"], ["float64", "float32"])
    param_names = ["size", "kernel", "boundary", "dtype"]
    timeout = 300

    def setup(self, size, kernel, boundary, dtype):
        rng = np.random.default_rng(0)
        self.image = rng.standard_normal((size, size)).astype(dtype)
        self.kernel = rng.standard_normal((kernel, kernel)).astype(dtype)

    def time_cyconv_1thread(self, size, kernel, boundary, dtype):
        cyconv.correlate2d(self.image, self.kernel, "same", boundary, method="direct", workers=1)

    def time_cyconv_2threads(self, size, kernel, boundary, dtype):
        cyconv.correlate2d(self.image, self.kernel, "same", boundary, method="direct", workers=2)

    def time_scipy(self, size, kernel, boundary, dtype):
        scipy.signal.correlate2d(self.image, self.kernel, "same", boundary)


class LargeKernelAuto:
    """method='auto' against scipy.signal.correlate(method='auto'), 'same' output."""

    params = ([31, 63], ["float64", "float32"])
    param_names = ["kernel", "dtype"]

    def setup(self, kernel, dtype):
        rng = np.random.default_rng(0)
        self.image = rng.standard_normal((2048, 2048)).astype(dtype)
        self.kernel = rng.standard_normal((kernel, kernel)).astype(dtype)

    def time_cyconv_auto(self, kernel, dtype):
        cyconv.correlate2d(self.image, self.kernel, "same")

    def time_scipy_correlate_auto(self, kernel, dtype):
        scipy.signal.correlate(self.image, self.kernel, "same")


class Textbook:
    """The 3x3 example: per-call overhead."""

    def setup(self):
        self.X = np.arange(9.0).reshape(3, 3)
        self.K = np.array([[0.0, 1.0], [2.0, 3.0]])

    def time_cyconv(self):
        cyconv.correlate2d(self.X, self.K, "valid")

    def time_scipy(self):
        scipy.signal.correlate2d(self.X, self.K, "valid")

"""asv benchmarks: cyconv beside scipy, same parameters.

cyconv.correlate2d beside scipy.signal.correlate2d, cyconv.ndimage beside
scipy.ndimage and cyconv.nanconvolve beside astropy.convolution (each skipped
at commits before it existed, and nanconvolve's peer without astropy).
"""
import numpy as np
import scipy.ndimage
import scipy.signal

import cyconv

try:
    from cyconv import ndimage
except ImportError:
    ndimage = None


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


def _need_ndimage():
    if ndimage is None:
        raise NotImplementedError("no cyconv.ndimage at this commit")  # asv skips the benchmark


class NdimageCorrelate:
    """cyconv.ndimage.correlate against scipy.ndimage.correlate, 2048x2048."""

    params = ([3, 5, 9, 15], ["reflect", "mirror"], ["float64", "float32"])
    param_names = ["kernel", "mode", "dtype"]
    timeout = 300

    def setup(self, kernel, mode, dtype):
        _need_ndimage()
        rng = np.random.default_rng(0)
        self.image = rng.standard_normal((2048, 2048)).astype(dtype)
        self.weights = rng.standard_normal((kernel, kernel)).astype(dtype)

    def time_cyconv_1thread(self, kernel, mode, dtype):
        ndimage.correlate(self.image, self.weights, mode=mode, workers=1)

    def time_cyconv_2threads(self, kernel, mode, dtype):
        ndimage.correlate(self.image, self.weights, mode=mode, workers=2)

    def time_scipy(self, kernel, mode, dtype):
        scipy.ndimage.correlate(self.image, self.weights, mode=mode)


class NdimageGaussianFilter:
    """cyconv.ndimage.gaussian_filter against scipy's, 2048x2048, mode 'reflect'."""

    params = ([1, 2, 4, 8], ["float64", "float32"])
    param_names = ["sigma", "dtype"]
    timeout = 300

    def setup(self, sigma, dtype):
        _need_ndimage()
        self.image = np.random.default_rng(0).standard_normal((2048, 2048)).astype(dtype)

    def time_cyconv_1thread(self, sigma, dtype):
        ndimage.gaussian_filter(self.image, sigma, workers=1)

    def time_cyconv_2threads(self, sigma, dtype):
        ndimage.gaussian_filter(self.image, sigma, workers=2)

    def time_scipy(self, sigma, dtype):
        scipy.ndimage.gaussian_filter(self.image, sigma)


class NdimageUniformFilter:
    """cyconv.ndimage.uniform_filter against scipy's, 2048x2048, mode 'reflect'."""

    params = ([3, 7, 15, 31], ["float64", "float32"])
    param_names = ["size", "dtype"]
    timeout = 300

    def setup(self, size, dtype):
        _need_ndimage()
        self.image = np.random.default_rng(0).standard_normal((2048, 2048)).astype(dtype)

    def time_cyconv_1thread(self, size, dtype):
        ndimage.uniform_filter(self.image, size, workers=1)

    def time_cyconv_2threads(self, size, dtype):
        ndimage.uniform_filter(self.image, size, workers=2)

    def time_scipy(self, size, dtype):
        scipy.ndimage.uniform_filter(self.image, size)


class NdimageVolume:
    """A 200^3 float32 volume correlated with a 5x5x5 kernel."""

    timeout = 300

    def setup(self):
        _need_ndimage()
        rng = np.random.default_rng(0)
        self.volume = rng.standard_normal((200, 200, 200)).astype(np.float32)
        self.weights = rng.standard_normal((5, 5, 5)).astype(np.float32)

    def time_cyconv_1thread(self):
        ndimage.correlate(self.volume, self.weights, workers=1)

    def time_cyconv_2threads(self):
        ndimage.correlate(self.volume, self.weights, workers=2)

    def time_scipy(self):
        scipy.ndimage.correlate(self.volume, self.weights)


class NdimageStack:
    """300 float32 256x256 images filtered along axes (1, 2): one cyconv call
    against a Python loop of scipy.ndimage calls, one per image."""

    params = (["gaussian_filter", "correlate"],)
    param_names = ["filter"]
    timeout = 300

    def setup(self, filter):
        _need_ndimage()
        rng = np.random.default_rng(0)
        self.stack = rng.standard_normal((300, 256, 256)).astype(np.float32)
        self.out = np.empty_like(self.stack)
        weights = rng.standard_normal((5, 5)).astype(np.float32)
        if filter == "gaussian_filter":
            self.ours = lambda workers: ndimage.gaussian_filter(self.stack, 2, axes=(1, 2),
                                                                workers=workers)
            self.scipy_one = lambda image, out: scipy.ndimage.gaussian_filter(image, 2, output=out)
        else:
            self.ours = lambda workers: ndimage.correlate(self.stack, weights, axes=(1, 2),
                                                          workers=workers)
            self.scipy_one = lambda image, out: scipy.ndimage.correlate(image, weights, output=out)

    def time_cyconv_1thread(self, filter):
        self.ours(1)

    def time_cyconv_2threads(self, filter):
        self.ours(2)

    def time_scipy_loop(self, filter):
        for image, out in zip(self.stack, self.out):
            self.scipy_one(image, out)


class NanConvolve:
    """cyconv.nanconvolve against astropy.convolution.convolve, 2048x2048 with 5 % NaN,
    Gaussian kernels (astropy skipped when it is not installed)."""

    params = ([5, 11, 31], ["float64", "float32"])
    param_names = ["kernel", "dtype"]
    timeout = 600

    def setup(self, kernel, dtype):
        if not hasattr(cyconv, "nanconvolve"):
            raise NotImplementedError("no cyconv.nanconvolve at this commit")
        rng = np.random.default_rng(0)
        image = rng.standard_normal((2048, 2048))
        image[rng.random(image.shape) < 0.05] = np.nan
        self.image = image.astype(dtype)
        line = np.exp(-0.5 * ((np.arange(kernel) - kernel // 2) / ((kernel - 1) / 8)) ** 2)
        self.kernel = np.outer(line, line)

    def time_cyconv_1thread(self, kernel, dtype):
        cyconv.nanconvolve(self.image, self.kernel, workers=1)

    def time_cyconv_2threads(self, kernel, dtype):
        cyconv.nanconvolve(self.image, self.kernel, workers=2)

    def time_astropy(self, kernel, dtype):
        try:
            from astropy.convolution import convolve
        except ImportError:
            raise NotImplementedError("astropy is not installed") from None
        convolve(self.image, self.kernel)

"""Small layers for learning convolution kernels with NumPy.

`Conv2D`, `ConvTranspose2D`, `MaxPool2D`, `AvgPool2D`, `AdaptiveMaxPool2D`,
`AdaptiveAvgPool2D`: each layer is an object with ``forward(x)`` (also
``layer(x)``) and ``backward(grad_output)``, which returns the gradient with
respect to the input of the latest ``forward`` and, for `Conv2D` and
`ConvTranspose2D`, stores the parameter gradients in ``grad_weight`` and
``grad_bias``.  Parameters are plain NumPy
arrays that an optimiser updates in place (``layer.weight -= lr *
layer.grad_weight``).  There is no autograd: ``forward`` keeps what its
``backward`` needs (the input, or the input's shape and the maxima's
positions), so a backward pass belongs to the latest forward pass.

The arithmetic is that of `cyconv.conv2d`, `cyconv.conv_transpose2d`,
`cyconv.max_pool2d`, `cyconv.avg_pool2d`, `cyconv.adaptive_max_pool2d`,
`cyconv.adaptive_avg_pool2d` and their backward functions, with PyTorch's
semantics and PyTorch's initialisation.
"""
import math

import numpy as np

from cyconv._conv_transpose import (
    check_output_padding,
    conv_transpose2d,
    conv_transpose2d_backward,
    transposed_size,
)
from cyconv._layers import _padding_pairs, conv2d, conv2d_backward
from cyconv._pooling import (
    _adaptive_output_size,
    _divisor_override,
    _window,
    adaptive_avg_pool2d,
    adaptive_avg_pool2d_backward,
    adaptive_max_pool2d,
    adaptive_max_pool2d_backward,
    avg_pool2d,
    avg_pool2d_backward,
    max_pool2d,
    max_pool2d_backward,
)
from cyconv._validation import as_int, as_pair

__all__ = ["AdaptiveAvgPool2D", "AdaptiveMaxPool2D", "AvgPool2D", "Conv2D", "ConvTranspose2D",
           "MaxPool2D"]


class _Layer:
    """Calling a layer runs its forward pass; backward needs what forward saved."""

    _saved = None

    def __call__(self, x, *args, **kwargs):
        return self.forward(x, *args, **kwargs)

    def _saved_for_backward(self):
        if self._saved is None:
            raise RuntimeError(f"{type(self).__name__}.backward needs a forward pass first")
        return self._saved


def _channels(in_channels, out_channels, groups):
    """A convolution layer's channel counts, both divisible by ``groups``."""
    in_channels = as_int(in_channels, "in_channels", 1)
    out_channels = as_int(out_channels, "out_channels", 1)
    groups = as_int(groups, "groups", 1)
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"in_channels={in_channels} and out_channels={out_channels} must both "
                         f"be divisible by groups={groups}")
    return in_channels, out_channels, groups


def _torch_parameters(weight_shape, fan_in, bias_size, dtype, rng):
    """(weight, bias or None) drawn as torch draws a convolution's: uniform on
    [-b, b], b = 1 / sqrt(fan_in); no bias for ``bias_size`` 0."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    rng = np.random.default_rng(rng)
    bound = 1 / math.sqrt(fan_in)
    weight = rng.uniform(-bound, bound, weight_shape).astype(dtype)
    bias = rng.uniform(-bound, bound, bias_size).astype(dtype) if bias_size else None
    return weight, bias


class _Convolution(_Layer):
    """A layer with parameters: ``_gradients(grad_output)`` gives (grad_x,
    grad_weight, grad_bias) for the latest forward pass."""

    def backward(self, grad_output):
        """Gradient with respect to the latest `forward`'s input; stores the parameters'.

        Parameters
        ----------
        grad_output : array_like
            Gradient of the loss with respect to that forward pass's output.

        Returns
        -------
        grad_x : ndarray
            Gradient of the loss with respect to the input, of its shape.
        """
        grad_x, grad_weight, grad_bias = self._gradients(grad_output)
        self.grad_weight = grad_weight.astype(self.weight.dtype, copy=False)
        self.grad_bias = None if self.bias is None else grad_bias.astype(self.bias.dtype, copy=False)
        return grad_x


class Conv2D(_Convolution):
    """2-D convolution layer (a cross-correlation, as ``torch.nn.Conv2d``).

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and of the output.
    kernel_size : int or (int, int)
        Kernel height and width.
    stride, dilation : int or (int, int), optional
        As in `cyconv.conv2d` (default 1).
    padding : int, (int, int), 'valid' or 'same', optional
        As in `cyconv.conv2d` (default 0).
    groups : int, optional
        Input and output channels are split into this many groups, each
        convolved separately; both channel counts must divide by it.
    bias : bool, optional
        Whether the layer adds a learnable bias per output channel (default
        True).
    dtype : {numpy.float32, numpy.float64}, optional
        dtype of the parameters (default float32).
    rng : None, int or numpy.random.Generator, optional
        Source of the initial parameters: a generator, a seed for
        `numpy.random.default_rng`, or None for fresh entropy.

    Attributes
    ----------
    weight : ndarray
        ``(out_channels, in_channels // groups, kH, kW)``, drawn like
        PyTorch's: uniform on ``[-b, b]`` with ``b = 1 / sqrt(fan_in)``,
        ``fan_in = in_channels // groups * kH * kW``.
    bias : ndarray or None
        ``(out_channels,)``, drawn from the same distribution; None without
        bias.
    grad_weight, grad_bias : ndarray or None
        Gradients of the loss with respect to `weight` and `bias` from the
        latest `backward`, in the parameters' dtype; None before it.

    See Also
    --------
    cyconv.conv2d, cyconv.conv2d_backward : the functions the layer calls.

    Notes
    -----
    `forward` keeps a reference to its input for `backward` (no copy):
    modify that array in place between the two and the gradients are those
    of the modified input.

    Examples
    --------
    The textbook's experiment: learn the vertical-edge kernel ``[1, -1]``
    from an image and its edges by gradient descent on the squared error.

    >>> import numpy as np
    >>> import cyconv
    >>> from cyconv.nn import Conv2D
    >>> X = np.ones((1, 1, 6, 8))
    >>> X[..., 2:6] = 0
    >>> Y = cyconv.conv2d(X, np.array([[[[1.0, -1.0]]]]))
    >>> layer = Conv2D(1, 1, kernel_size=(1, 2), bias=False, rng=0)
    >>> for step in range(10):
    ...     Y_hat = layer(X)
    ...     loss = ((Y_hat - Y) ** 2).sum()
    ...     grad_x = layer.backward(2 * (Y_hat - Y))  # 2 (Y_hat - Y) is d loss / d Y_hat
    ...     layer.weight -= 3e-2 * layer.grad_weight
    ...     if (step + 1) % 2 == 0:
    ...         print(f"step {step + 1}, loss {loss:.3f}")
    step 2, loss 2.861
    step 4, loss 0.520
    step 6, loss 0.104
    step 8, loss 0.024
    step 10, loss 0.007
    >>> layer.weight.reshape(1, 2).round(2)
    array([[ 0.98, -1.  ]], dtype=float32)
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, dtype=np.float32, rng=None):
        self.in_channels, self.out_channels, self.groups = _channels(in_channels, out_channels,
                                                                      groups)
        self.kernel_size = as_pair(kernel_size, "kernel_size", 1)
        self.stride = as_pair(stride, "stride", 1)
        self.dilation = as_pair(dilation, "dilation", 1)
        # Checked now so that a bad padding fails here rather than at the first forward.
        _padding_pairs(padding, self.kernel_size, self.stride, self.dilation)
        self.padding = padding if isinstance(padding, str) else as_pair(padding, "padding", 0)
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self.weight, self.bias = _torch_parameters(shape, shape[1] * math.prod(self.kernel_size),
                                                   self.out_channels if bias else 0, dtype, rng)
        self.grad_weight = None
        self.grad_bias = None

    def __repr__(self):
        return (f"Conv2D({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
                f"groups={self.groups}, bias={self.bias is not None}, dtype={self.weight.dtype})")

    def forward(self, x):
        """The convolution of `x` with `weight`, plus `bias`.

        Parameters
        ----------
        x : array_like
            ``(N, in_channels, H, W)`` or unbatched ``(in_channels, H, W)``.

        Returns
        -------
        out : ndarray
            ``(N, out_channels, H_out, W_out)`` (unbatched if `x` was), in
            the dtype `cyconv.conv2d` gives for `x` and the parameters.
        """
        x = np.asarray(x)
        out = conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                     self.groups)
        self._saved = x
        return out

    def _gradients(self, grad_output):
        x = self._saved_for_backward()
        return conv2d_backward(grad_output, x, self.weight, self.stride, self.padding,
                               self.dilation, self.groups)


class ConvTranspose2D(_Convolution):
    """2-D transposed convolution layer (``torch.nn.ConvTranspose2d``).

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and of the output.
    kernel_size : int or (int, int)
        Kernel height and width.
    stride, padding, output_padding, groups, dilation : optional
        As in `cyconv.conv_transpose2d`.
    bias : bool, optional
        Whether the layer adds a learnable bias per output channel (default
        True).
    dtype : {numpy.float32, numpy.float64}, optional
        dtype of the parameters (default float32).
    rng : None, int or numpy.random.Generator, optional
        Source of the initial parameters, as in `Conv2D`.

    Attributes
    ----------
    weight : ndarray
        ``(in_channels, out_channels // groups, kH, kW)``, drawn like
        PyTorch's: uniform on ``[-b, b]`` with ``b = 1 / sqrt(fan_in)``,
        where torch takes ``fan_in = out_channels // groups * kH * kW``
        (the weight's second axis) for this layer too.
    bias : ndarray or None
        ``(out_channels,)``, drawn from the same distribution; None without
        bias.
    grad_weight, grad_bias : ndarray or None
        Gradients of the loss with respect to `weight` and `bias` from the
        latest `backward`, in the parameters' dtype; None before it.

    See Also
    --------
    cyconv.conv_transpose2d, cyconv.conv_transpose2d_backward : the functions the layer calls.

    Examples
    --------
    A stride-2 layer doubles the height and width; ``output_size`` picks
    among the sizes a stride-2 convolution maps back to its input's:

    >>> import numpy as np
    >>> from cyconv.nn import ConvTranspose2D
    >>> up = ConvTranspose2D(8, 4, kernel_size=3, stride=2, padding=1, rng=0)
    >>> x = np.ones((1, 8, 5, 5), np.float32)
    >>> up(x).shape
    (1, 4, 9, 9)
    >>> up(x, output_size=(10, 10)).shape
    (1, 4, 10, 10)
    >>> up.backward(np.ones((1, 4, 10, 10), np.float32)).shape
    (1, 8, 5, 5)
    >>> up.grad_weight.shape, up.grad_bias.shape
    ((8, 4, 3, 3), (4,))
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, dtype=np.float32, rng=None):
        self.in_channels, self.out_channels, self.groups = _channels(in_channels, out_channels,
                                                                      groups)
        self.kernel_size = as_pair(kernel_size, "kernel_size", 1)
        self.stride = as_pair(stride, "stride", 1)
        self.padding = as_pair(padding, "padding", 0)
        self.output_padding = as_pair(output_padding, "output_padding", 0)
        self.dilation = as_pair(dilation, "dilation", 1)
        check_output_padding(self.output_padding, self.stride, self.dilation)
        shape = (self.in_channels, self.out_channels // self.groups) + self.kernel_size
        self.weight, self.bias = _torch_parameters(shape, shape[1] * math.prod(self.kernel_size),
                                                   self.out_channels if bias else 0, dtype, rng)
        self.grad_weight = None
        self.grad_bias = None

    def __repr__(self):
        return (f"ConvTranspose2D({self.in_channels}, {self.out_channels}, "
                f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"output_padding={self.output_padding}, groups={self.groups}, "
                f"bias={self.bias is not None}, dilation={self.dilation}, "
                f"dtype={self.weight.dtype})")

    def _output_padding(self, x, output_size):
        """The output padding that gives ``output_size`` (torch's rule), or the layer's."""
        if output_size is None:
            return self.output_padding
        output_size = tuple(output_size)
        if len(output_size) not in (2, np.ndim(x)):
            raise ValueError(f"output_size must be (H, W) or the output's whole shape, "
                             f"got {output_size!r}")
        extra = []
        for axis, (size, wanted) in enumerate(zip(np.shape(x)[-2:], output_size[-2:])):
            smallest = transposed_size(size, self.kernel_size[axis], self.stride[axis],
                                       self.padding[axis], 0, self.dilation[axis])
            largest = smallest + self.stride[axis] - 1
            wanted = as_int(wanted, "output_size")
            if not smallest <= wanted <= largest:
                raise ValueError(
                    f"output_size {output_size} is not reachable from an input of height and "
                    f"width {np.shape(x)[-2:]}: sizes {smallest} to {largest} are, on axis "
                    f"{axis}")
            extra.append(wanted - smallest)
        return tuple(extra)

    def forward(self, x, output_size=None):
        """The transposed convolution of `x` with `weight`, plus `bias`.

        Parameters
        ----------
        x : array_like
            ``(N, in_channels, H, W)`` or unbatched ``(in_channels, H, W)``.
        output_size : tuple of int, optional
            The output's height and width (or its whole shape), instead of
            the layer's `output_padding`: as in torch, at most ``stride - 1``
            above the smallest size.

        Returns
        -------
        out : ndarray
            ``(N, out_channels, H_out, W_out)`` (unbatched if `x` was).
        """
        x = np.asarray(x)
        output_padding = self._output_padding(x, output_size)
        out = conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                               output_padding, self.groups, self.dilation)
        self._saved = (x, output_padding)
        return out

    def _gradients(self, grad_output):
        x, output_padding = self._saved_for_backward()
        return conv_transpose2d_backward(grad_output, x, self.weight, self.stride, self.padding,
                                         output_padding, self.groups, self.dilation)


class _Pooling(_Layer):
    """A pooling layer: ``_pool(x)`` gives the output and what ``_pool_backward``
    takes after the output's gradient."""

    def forward(self, x):
        """The maximum or the mean, as the layer pools, of each window of `x`,
        channel by channel.

        Parameters
        ----------
        x : array_like
            ``(N, C, H, W)``, ``(C, H, W)`` or ``(H, W)``.

        Returns
        -------
        out : ndarray
            The pooled array, with the batching of `x`.
        """
        out, self._saved = self._pool(np.asarray(x))
        return out

    def backward(self, grad_output):
        """Gradient with respect to the latest `forward`'s input.

        Parameters
        ----------
        grad_output : array_like
            Gradient of the loss with respect to that forward pass's output.

        Returns
        -------
        grad_x : ndarray
            Each output's gradient at the position of its window's maximum
            (summed where windows share it, zero elsewhere), or spread evenly
            over its window.
        """
        return self._pool_backward(grad_output, *self._saved_for_backward())


class MaxPool2D(_Pooling):
    """2-D max pooling layer (``torch.nn.MaxPool2d``).

    Parameters
    ----------
    kernel_size : int or (int, int)
        Window height and width.
    stride : int or (int, int), optional
        Step between windows; defaults to `kernel_size`.
    padding, dilation, ceil_mode
        As in `cyconv.max_pool2d`.

    See Also
    --------
    cyconv.max_pool2d, cyconv.max_pool2d_backward : the functions the layer calls.

    Notes
    -----
    `forward` keeps the input's shape and the positions of the maxima, from
    which `backward` routes each output's gradient to its maximum.

    Examples
    --------
    The textbook's 3x3 window with padding 1 and stride 2, on two channels:

    >>> import numpy as np
    >>> from cyconv.nn import MaxPool2D
    >>> X = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> X = np.concatenate([X, X + 1], axis=1)
    >>> pool = MaxPool2D(3, stride=2, padding=1)
    >>> pool(X)
    array([[[[ 5.,  7.],
             [13., 15.]],
    <BLANKLINE>
            [[ 6.,  8.],
             [14., 16.]]]])
    >>> pool.backward(np.ones((1, 2, 2, 2)))[0, 0]
    array([[0., 0., 0., 0.],
           [0., 1., 0., 1.],
           [0., 0., 0., 0.],
           [0., 1., 0., 1.]])
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        self.kernel_size, self.stride, self.padding, self.dilation = _window(
            kernel_size, stride, padding, dilation)
        self.ceil_mode = bool(ceil_mode)

    def __repr__(self):
        return (f"MaxPool2D(kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, ceil_mode={self.ceil_mode})")

    def _pool(self, x):
        out, indices = max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                                  self.ceil_mode, return_indices=True)
        return out, (indices, x.shape)

    _pool_backward = staticmethod(max_pool2d_backward)


class AvgPool2D(_Pooling):
    """2-D average pooling layer (``torch.nn.AvgPool2d``).

    Parameters
    ----------
    kernel_size : int or (int, int)
        Window height and width.
    stride : int or (int, int), optional
        Step between windows; defaults to `kernel_size`.
    padding, ceil_mode, count_include_pad, divisor_override
        As in `cyconv.avg_pool2d`.

    See Also
    --------
    cyconv.avg_pool2d, cyconv.avg_pool2d_backward : the functions the layer calls.

    Notes
    -----
    `forward` keeps only the input's shape: the gradient of an average does
    not depend on the values averaged.

    Examples
    --------
    The textbook's ``pool2d(X, (2, 2), 'avg')``, a 2x2 window with stride 1:

    >>> import numpy as np
    >>> from cyconv.nn import AvgPool2D
    >>> pool = AvgPool2D(2, stride=1)
    >>> pool(np.arange(9.0).reshape(3, 3))
    array([[2., 3.],
           [5., 6.]])
    >>> pool.backward(np.ones((2, 2)))
    array([[0.25, 0.5 , 0.25],
           [0.5 , 1.  , 0.5 ],
           [0.25, 0.5 , 0.25]])
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        self.kernel_size, self.stride, self.padding, _ = _window(kernel_size, stride, padding, 1)
        self.ceil_mode = bool(ceil_mode)
        self.count_include_pad = bool(count_include_pad)
        self.divisor_override = _divisor_override(divisor_override)

    def __repr__(self):
        return (f"AvgPool2D(kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, ceil_mode={self.ceil_mode}, "
                f"count_include_pad={self.count_include_pad}, "
                f"divisor_override={self.divisor_override})")

    def _pool(self, x):
        out = avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                         self.count_include_pad, self.divisor_override)
        return out, (x.shape,)

    def _pool_backward(self, grad_output, input_shape):
        return avg_pool2d_backward(grad_output, input_shape, self.kernel_size, self.stride,
                                   self.padding, self.ceil_mode, self.count_include_pad,
                                   self.divisor_override)


# The adaptive layers' parameter and the functions they call, in their docstrings.
_ADAPTIVE_LAYER_DOCS = """    Parameters
    ----------
    output_size : int or (int or None, int or None)
        Output height and width, as in `cyconv.adaptive_%(op)s_pool2d`; None
        keeps that size of the input.

    See Also
    --------
    cyconv.adaptive_%(op)s_pool2d, cyconv.adaptive_%(op)s_pool2d_backward : the
        functions the layer calls."""


class AdaptiveMaxPool2D(_Pooling):
    """2-D adaptive max pooling layer (``torch.nn.AdaptiveMaxPool2d``).

%(parameters_and_functions)s

    Notes
    -----
    `forward` keeps the input's shape and the positions of the maxima, from
    which `backward` routes each output's gradient to its maximum (torch's
    ``return_indices`` is therefore not an option of the layer).

    Examples
    --------
    A 5x5 plane pooled to 2x2 by overlapping 3x3 windows:

    >>> import numpy as np
    >>> from cyconv.nn import AdaptiveMaxPool2D
    >>> X = np.array([[[[1.0, 9.0, 2.0, 4.0, 0.0],
    ...                 [3.0, 5.0, 8.0, 7.0, 6.0],
    ...                 [2.0, 4.0, 3.0, 1.0, 9.0],
    ...                 [0.0, 6.0, 1.0, 2.0, 5.0],
    ...                 [7.0, 3.0, 2.0, 8.0, 4.0]]]])
    >>> pool = AdaptiveMaxPool2D(2)
    >>> pool(X)
    array([[[[9., 9.],
             [7., 9.]]]])
    >>> pool.backward(np.ones((1, 1, 2, 2)))[0, 0]
    array([[0., 1., 0., 0., 0.],
           [0., 0., 0., 0., 0.],
           [0., 0., 0., 0., 2.],
           [0., 0., 0., 0., 0.],
           [1., 0., 0., 0., 0.]])
    """

    def __init__(self, output_size):
        self.output_size = _adaptive_output_size(output_size)

    def __repr__(self):
        return f"AdaptiveMaxPool2D(output_size={self.output_size})"

    def _pool(self, x):
        out, indices = adaptive_max_pool2d(x, self.output_size, return_indices=True)
        return out, (indices, x.shape)

    _pool_backward = staticmethod(adaptive_max_pool2d_backward)


class AdaptiveAvgPool2D(_Pooling):
    """2-D adaptive average pooling layer (``torch.nn.AdaptiveAvgPool2d``).

%(parameters_and_functions)s

    Notes
    -----
    `forward` keeps only the input's shape: the gradient of an average does
    not depend on the values averaged.

    Examples
    --------
    Global average pooling, the head of a ResNet, on two channels:

    >>> import numpy as np
    >>> from cyconv.nn import AdaptiveAvgPool2D
    >>> pool = AdaptiveAvgPool2D(1)
    >>> x = np.arange(2 * 3 * 3.0).reshape(1, 2, 3, 3)
    >>> pool(x)
    array([[[[ 4.]],
    <BLANKLINE>
            [[13.]]]])
    >>> pool.backward(np.ones((1, 2, 1, 1)))[0, 0]
    array([[0.11111111, 0.11111111, 0.11111111],
           [0.11111111, 0.11111111, 0.11111111],
           [0.11111111, 0.11111111, 0.11111111]])
    """

    def __init__(self, output_size):
        self.output_size = _adaptive_output_size(output_size)

    def __repr__(self):
        return f"AdaptiveAvgPool2D(output_size={self.output_size})"

    def _pool(self, x):
        return adaptive_avg_pool2d(x, self.output_size), (x.shape,)

    _pool_backward = staticmethod(adaptive_avg_pool2d_backward)


AdaptiveMaxPool2D.__doc__ %= {"parameters_and_functions": _ADAPTIVE_LAYER_DOCS % {"op": "max"}}
AdaptiveAvgPool2D.__doc__ %= {"parameters_and_functions": _ADAPTIVE_LAYER_DOCS % {"op": "avg"}}

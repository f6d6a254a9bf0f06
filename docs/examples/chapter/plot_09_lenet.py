r"""
LeNet trained in NumPy
======================

LeNet (LeCun et al., 1998) was one of the first convolutional networks to
be trained end to end, to read handwritten digits.  The textbook's version
has two convolution blocks and three dense layers:

* conv 1 to 6 channels, 5x5, padding 2, sigmoid, 2x2 average pooling (stride 2)
* conv 6 to 16 channels, 5x5, sigmoid, 2x2 average pooling (stride 2)
* flatten the 16x5x5 feature maps, then dense layers of 120, 84 and 10 units,
  with a sigmoid after the first two

for 28x28 images.  This page builds it from :class:`cyconv.nn.Conv2D` and
:class:`cyconv.nn.AvgPool2D`, with a few lines of NumPy for everything else
(dense layers, activations, loss and optimiser), trains it on handwritten
digits to more than 95% accuracy in a few seconds, and times a training
epoch against the same network in PyTorch.
"""
import math
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from scipy import ndimage
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from cyconv.nn import AvgPool2D, Conv2D

# %%
# The data
# --------
#
# scikit-learn ships 1797 handwritten digits of 8x8 pixels with values 0 to
# 16 (no download needed).  We scale them to [0, 1] and enlarge them to the
# 28x28 of the textbook's input by linear interpolation, in float32 like
# every array on this page.  A quarter of the images, in the same proportion
# of each digit, is kept aside to measure the accuracy on images the network
# never trained on.

digits = load_digits()
small = (digits.images / 16).astype(np.float32)
images = ndimage.zoom(small, (1, 3.5, 3.5), order=1)[:, np.newaxis]  # (N, 1, 28, 28)
labels = digits.target
X_train, X_test, y_train, y_test, small_train, _ = train_test_split(
    images, labels, small, test_size=0.25, stratify=labels, random_state=0)
print(f"train {X_train.shape}, test {X_test.shape}, {X_train.dtype}")

fig, axes = plt.subplots(2, 6, figsize=(8, 3), layout="constrained")
for column in range(6):
    axes[0, column].imshow(small_train[column], cmap="gray_r")
    axes[0, column].set_title(f"label {y_train[column]}")
    axes[1, column].imshow(X_train[column, 0], cmap="gray_r")
for axis in axes.flat:
    axis.set_axis_off()
fig.suptitle("8x8 digits (top) enlarged to 28x28 (bottom)")
plt.show()

# %%
# Last, the pixels are standardised: the training images' mean is
# subtracted and the result divided by their standard deviation, so that
# the inputs are centred on 0 (the test images get the same shift and
# scale).  This matters with ReLU layers (below).  On raw pixels, all 0 or
# more, a first-layer channel whose random kernel and bias start out mostly
# negative outputs 0 for every image, so it gets no gradient and never
# learns: in our trials, half of the six channels stayed dead that way.

mean, std = X_train.mean(), X_train.std()
X_train = (X_train - mean) / std
X_test = (X_test - mean) / std

# %%
# The layers
# ----------
#
# cyconv's layers follow one rule: calling a layer runs its forward pass and
# keeps what its ``backward(grad_output)`` needs; ``backward`` returns the
# gradient with respect to the layer's input and stores the parameters'
# gradients in ``grad_weight`` and ``grad_bias``.  The layers the network
# needs besides convolution and pooling follow the same rule in a few lines
# each.  A dense layer is a matrix product: ``x @ weight + bias`` on a
# ``(batch, features)`` array, with gradients ``x.T @ grad`` for the weight
# and ``grad @ weight.T`` for the input.  Its initial weights are drawn like
# those of :class:`~cyconv.nn.Conv2D` (and of PyTorch's layers): uniform on
# :math:`[-1/\sqrt{n_{in}}, 1/\sqrt{n_{in}}]`.


class Dense:
    """Fully connected layer: ``x @ weight + bias``."""

    def __init__(self, n_in, n_out, rng):
        bound = 1 / math.sqrt(n_in)
        self.weight = rng.uniform(-bound, bound, (n_in, n_out)).astype(np.float32)
        self.bias = rng.uniform(-bound, bound, n_out).astype(np.float32)

    def __call__(self, x):
        self.x = x
        return x @ self.weight + self.bias

    def backward(self, grad):
        self.grad_weight = self.x.T @ grad
        self.grad_bias = grad.sum(axis=0)
        return grad @ self.weight.T


class Sigmoid:
    """The textbook's activation, 1 / (1 + exp(-x)); its slope is y (1 - y)."""

    def __call__(self, x):
        self.y = 1 / (1 + np.exp(-x))
        return self.y

    def backward(self, grad):
        return grad * self.y * (1 - self.y)


class ReLU:
    """max(x, 0); its slope is 1 where x > 0 and 0 elsewhere."""

    def __call__(self, x):
        self.positive = x > 0
        return x * self.positive

    def backward(self, grad):
        return grad * self.positive


class Flatten:
    """(batch, channels, height, width) to (batch, features), and back for the gradient."""

    def __call__(self, x):
        self.shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, grad):
        return grad.reshape(self.shape)


# %%
# LeNet is then a list of layers, like the textbook's ``nn.Sequential``: the
# forward pass calls them in order, the backward pass calls their
# ``backward`` in reverse order.  ``rng`` seeds every initial weight, so the
# page gives the same network, and the same results, at every run.


def lenet(activation, seed=0):
    rng = np.random.default_rng(seed)
    return [Conv2D(1, 6, kernel_size=5, padding=2, rng=rng), activation(),
            AvgPool2D(kernel_size=2, stride=2),
            Conv2D(6, 16, kernel_size=5, rng=rng), activation(),
            AvgPool2D(kernel_size=2, stride=2),
            Flatten(),
            Dense(16 * 5 * 5, 120, rng), activation(),
            Dense(120, 84, rng), activation(),
            Dense(84, 10, rng)]


def forward(net, x):
    for layer in net:
        x = layer(x)
    return x


def backward(net, grad):
    for layer in reversed(net):
        grad = layer.backward(grad)


# %%
# As in the textbook, one 28x28 image through the network shows the shape
# after each layer: the padded first convolution keeps 28x28, each pooling
# halves the size, and the second convolution takes 14x14 to 10x10.

x = np.zeros((1, 1, 28, 28), np.float32)
for layer in lenet(Sigmoid):
    x = layer(x)
    print(f"{type(layer).__name__:8} output shape: {x.shape}")

# %%
# Loss and optimiser
# ------------------
#
# The last layer gives 10 scores (logits) per image.  The softmax turns them
# into probabilities, and the cross-entropy loss is the mean of
# :math:`-\log p_{\text{label}}`.  Its gradient with respect to the logits
# is simple: the probabilities minus one at the label, divided by the batch
# size.  Subtracting each row's maximum first keeps ``exp`` from overflowing.


def cross_entropy(logits, y):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(y))
    grad = np.exp(log_p)
    grad[rows, y] -= 1
    return -log_p[rows, y].mean(), grad / len(y)


# %%
# The optimiser is stochastic gradient descent with momentum: each
# parameter moves along a running sum of its recent gradients,
# ``velocity = momentum * velocity + gradient`` then ``parameter -= lr *
# velocity`` (``torch.optim.SGD``'s rule).  An epoch goes once through the
# training images, in a new random order, by mini-batches.


def parameters(net):
    return [(layer, name) for layer in net if hasattr(layer, "weight")
            for name in ("weight", "bias")]


def train_epoch(net, velocities, order, lr, batch_size, momentum=0.9):
    """One pass over X_train in the given order; returns the mean training loss."""
    total = 0.0
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        loss, grad = cross_entropy(forward(net, X_train[batch]), y_train[batch])
        backward(net, grad)
        for (layer, name), velocity in zip(parameters(net), velocities):
            velocity *= momentum
            velocity += getattr(layer, "grad_" + name)
            getattr(layer, name)[...] -= lr * velocity
        total += float(loss) * len(batch)
    return total / len(order)


def accuracy(net, X, y):
    return float((forward(net, X).argmax(axis=1) == y).mean())


# %%
# Training loop: the learning rate starts at ``lr`` and decreases along a
# half cosine towards 0, so that the last epochs settle instead of jumping
# around the minimum.


def train(activation, epochs=10, lr=0.03, batch_size=32, seed=0):
    net = lenet(activation, seed)
    velocities = [np.zeros_like(getattr(layer, name)) for layer, name in parameters(net)]
    shuffle = np.random.default_rng(seed)
    history = {"loss": [], "test accuracy": []}
    start = time.perf_counter()
    for epoch in range(epochs):
        epoch_lr = lr * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
        order = shuffle.permutation(len(X_train))
        history["loss"].append(train_epoch(net, velocities, order, epoch_lr, batch_size))
        history["test accuracy"].append(accuracy(net, X_test, y_test))
        print(f"epoch {epoch + 1:2d}: loss {history['loss'][-1]:.3f}, "
              f"test accuracy {history['test accuracy'][-1]:.3f}")
    print(f"{epochs} epochs in {time.perf_counter() - start:.1f} s")
    return net, history


# %%
# Training the textbook's LeNet
# -----------------------------
#
# One practical point first.  cyconv's layers run on all cores (OpenMP
# threads), and so do NumPy's matrix products (its BLAS has threads of its
# own).  The dense layers' products are tiny, 32x400 by 400x120 at most, so
# BLAS threads gain nothing there; worse, between two products they spin,
# waiting for work, on the very cores that cyconv's threads then need, and an
# epoch takes several times as long.  threadpoolctl (installed with
# scikit-learn) keeps BLAS to one thread for the rest of this page; cyconv
# runs its own BLAS calls on one thread per OpenMP thread anyway.

blas_limit = threadpool_limits(limits=1, user_api="blas")

# %%
# Now the textbook's network, with sigmoids, and the optimiser above: 10
# epochs of 42 mini-batches of 32 images.

sigmoid_net, sigmoid_history = train(Sigmoid)

# %%
# It does not learn: the loss stays at :math:`\log 10 \approx 2.30`, the
# loss of a uniform guess, and the accuracy at chance, 10%.  A sigmoid's
# slope is at most 1/4, and close to 0 where it saturates, so each sigmoid
# layer shrinks the gradient on its way back; with four of them the first
# layers barely move, and the network has to crawl off this plateau before
# it learns anything.  The textbook trains it on 60000 images, in 2350
# steps of 256 images with learning rate 0.9, long enough to get off it.
# On our 1347 images, with the textbook's settings (Xavier initialisation,
# learning rate 0.9, no momentum), it left the plateau after 8 to 23 epochs
# of 42 steps depending on the random seed, then climbed unsteadily to
# 90-96% test accuracy by epoch 30; PyTorch's version behaves alike.
# Too slow, and too much a matter of luck, for this page.
#
# The remedy, which the textbook adopts with AlexNet, is the ReLU: its slope
# is 1 wherever it is active, so gradients reach the first layers
# undiminished.  We change only the activation and keep everything else,
# average pooling and optimiser included.

relu_net, relu_history = train(ReLU)
test_accuracy = relu_history["test accuracy"][-1]
print(f"test accuracy of LeNet with ReLU: {test_accuracy:.1%}")
assert test_accuracy >= 0.95

# %%
# The training loss falls steadily and the accuracy on the 450 held-out
# images passes 95% within a few epochs:

epochs = np.arange(1, len(relu_history["loss"]) + 1)
fig, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
for history, label in [(sigmoid_history, "sigmoid (textbook)"), (relu_history, "ReLU")]:
    loss_axis.semilogy(epochs, history["loss"], marker=".", label=label)
    accuracy_axis.plot(epochs, history["test accuracy"], marker=".", label=label)
loss_axis.set_xlabel("epoch")
loss_axis.set_ylabel("training loss (cross-entropy)")
accuracy_axis.axhline(0.95, color="gray", linestyle=":", linewidth=1)
accuracy_axis.set_xlabel("epoch")
accuracy_axis.set_ylabel("test accuracy")
accuracy_axis.set_ylim(0, 1)
accuracy_axis.legend()
fig.suptitle("LeNet on 28x28 digits, SGD with momentum, batch 32")
plt.show()

# %%
# What the first layer learned
# ----------------------------
#
# The six 5x5 kernels of the first convolution started as random noise.
# The bottom row shows what each trained kernel picks out of a test digit:
# its feature map, after the ReLU.  Some channels light up on the strokes,
# some on the background around them, some on the edges of the strokes on
# one side only, like the textbook's hand-made edge detector ``[1, -1]``.

conv1, relu1 = relu_net[0], relu_net[1]
digit = X_test[:1]
feature_maps = relu1(conv1(digit))[0]
fig, axes = plt.subplots(2, 7, figsize=(10, 3.2), layout="constrained")
axes[0, 0].imshow(digit[0, 0], cmap="gray_r")
axes[0, 0].set_title(f"test digit ({y_test[0]})")
for channel in range(6):
    kernel = conv1.weight[channel, 0]
    limit = np.abs(kernel).max()
    axes[0, channel + 1].imshow(kernel, cmap="RdBu_r", vmin=-limit, vmax=limit)
    axes[0, channel + 1].set_title(f"kernel {channel}")
    axes[1, channel + 1].imshow(feature_maps[channel], cmap="viridis")
for axis in axes.flat:
    axis.set_axis_off()
fig.suptitle("First-layer kernels (red positive, blue negative) and their feature maps")
plt.show()

# %%
# The same epoch in PyTorch
# -------------------------
#
# How fast is this NumPy network?  We time one training epoch (forward,
# backward and update of all 42 mini-batches of 32 images) of a fresh
# LeNet with ReLU, and of the same network in PyTorch on the CPU, when
# PyTorch is installed.  The two start from the same weights (copied into
# PyTorch's layers; PyTorch stores a dense layer's weight transposed), see
# the same mini-batches and use the same optimiser, so they compute the same
# first epoch, up to float32 rounding.  (Later epochs drift apart: training
# amplifies rounding differences, and PyTorch on one thread and on two
# drifts apart too.)  Both use as many threads: cyconv uses all cores by
# default (OpenMP's maximum, so ``OMP_NUM_THREADS`` if it is set).  Each is
# timed over a few epochs, and the median is kept.

threads = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count()))
batch_size, lr, repeats = 32, 0.03, 5
orders = [np.random.default_rng(epoch).permutation(len(X_train)) for epoch in range(repeats)]

net = lenet(ReLU, seed=1)
initial_weights = [getattr(layer, name).copy() for layer, name in parameters(net)]
velocities = [np.zeros_like(weight) for weight in initial_weights]
cyconv_times, cyconv_losses = [], []
for order in orders:
    start = time.perf_counter()
    cyconv_losses.append(train_epoch(net, velocities, order, lr, batch_size))
    cyconv_times.append(time.perf_counter() - start)
cyconv_time = float(np.median(cyconv_times))
print(f"cyconv + NumPy, {threads} threads: {cyconv_time * 1e3:.0f} ms per epoch")

try:
    import torch
except ImportError:
    torch = None
    print("PyTorch is not installed: no comparison")

if torch is not None:
    torch.set_num_threads(threads)
    torch_net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, kernel_size=5, padding=2), torch.nn.ReLU(),
        torch.nn.AvgPool2d(kernel_size=2, stride=2),
        torch.nn.Conv2d(6, 16, kernel_size=5), torch.nn.ReLU(),
        torch.nn.AvgPool2d(kernel_size=2, stride=2),
        torch.nn.Flatten(),
        torch.nn.Linear(16 * 5 * 5, 120), torch.nn.ReLU(),
        torch.nn.Linear(120, 84), torch.nn.ReLU(),
        torch.nn.Linear(84, 10))
    with torch.no_grad():
        for parameter, weight in zip(torch_net.parameters(), initial_weights):
            parameter.copy_(torch.from_numpy(weight.T if weight.ndim == 2 else weight))
    optimiser = torch.optim.SGD(torch_net.parameters(), lr=lr, momentum=0.9)
    X_torch, y_torch = torch.from_numpy(X_train), torch.from_numpy(y_train)

    def torch_epoch(order):
        total = 0.0
        order = torch.from_numpy(order)
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            loss = torch.nn.functional.cross_entropy(torch_net(X_torch[batch]), y_torch[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
        return total / len(order)

    torch_times, torch_losses = [], []
    for order in orders:
        start = time.perf_counter()
        torch_losses.append(torch_epoch(order))
        torch_times.append(time.perf_counter() - start)
    torch_time = float(np.median(torch_times))
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads: "
          f"{torch_time * 1e3:.0f} ms per epoch")
    print(f"cyconv + NumPy / PyTorch: {cyconv_time / torch_time:.2f}x the time")
    print(f"first epoch's mean loss: cyconv {cyconv_losses[0]:.5f}, "
          f"PyTorch {torch_losses[0]:.5f}")

# %%
# The two take a fraction of a second per epoch, within a factor of about
# two of each other (the times vary from run to run on a shared machine).
# The layers are small, at most 16 channels and 32 images at a time, so
# each of an epoch's thousand or so layer calls lasts from a few
# microseconds to a millisecond, and the fixed cost of a call (checking its
# arguments, Python, waking the threads) is a visible part of the total.
# Most of cyconv's share goes into the convolutions' backward passes, which
# compute the gradients of both the kernels and the input.

blas_limit.restore_original_limits()

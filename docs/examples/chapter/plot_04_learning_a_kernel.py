r"""
Learning a kernel
=================

``[1, -1]`` was designed by hand.  Given only the image ``X`` and its edges
``Y``, a 1x2 convolution layer can learn that kernel: start from random
weights and repeatedly step against the gradient of the squared error
:math:`\sum (\hat Y - Y)^2`.  The layer's ``backward`` computes the
gradients; the update is one line of NumPy.
"""
import matplotlib.pyplot as plt
import numpy as np

import cyconv
from cyconv.nn import Conv2D

X = np.ones((6, 8))
X[:, 2:6] = 0
Y = cyconv.correlate2d(X, [[1.0, -1.0]], mode="valid")

# The layer works on (batch, channel, height, width): one image, one channel.
X, Y = X.reshape(1, 1, 6, 8), Y.reshape(1, 1, 6, 7)
conv = Conv2D(1, 1, kernel_size=(1, 2), bias=False, rng=0)
learning_rate = 3e-2

losses = []
for step in range(10):
    Y_hat = conv(X)
    loss = ((Y_hat - Y) ** 2).sum()
    losses.append(loss)
    conv.backward(2 * (Y_hat - Y))  # 2 (Y_hat - Y) is d loss / d Y_hat
    conv.weight -= learning_rate * conv.grad_weight
    if (step + 1) % 2 == 0:
        print(f"step {step + 1}, loss {loss:.3f}")

# %%
# After ten steps the learned kernel is close to ``[1, -1]``:

conv.weight.reshape(1, 2)

# %%
# The loss falls geometrically.  Training longer, from several random
# starts, always reaches the same kernel:

fig, axis = plt.subplots(figsize=(6, 3.5))
for seed in range(4):
    conv = Conv2D(1, 1, kernel_size=(1, 2), bias=False, rng=seed)
    curve = []
    for step in range(30):
        Y_hat = conv(X)
        curve.append(((Y_hat - Y) ** 2).sum())
        conv.backward(2 * (Y_hat - Y))
        conv.weight -= learning_rate * conv.grad_weight
    learned = ", ".join(f"{value:.3f}" for value in conv.weight.ravel())
    axis.semilogy(range(1, 31), curve, marker=".", label=f"seed {seed}: [{learned}]")
axis.set_xlabel("step")
axis.set_ylabel("squared error")
axis.set_title("Learning the edge kernel, learning rate 0.03")
axis.legend(title="learned kernel after 30 steps")
fig.tight_layout()
plt.show()

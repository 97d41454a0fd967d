"""Two SGD steps of a small ResNet-like network, forward and backward written by hand in numpy (float64).

The independent reference for Train's engine (SGDStepTests.swift): conv1 3x3 -> bn1 -> relu ->
maxpool 3/2 pad 1 -> BasicBlock layer1.0 (conv1 3x3 stride 2 -> bn1 -> relu -> conv2 3x3 -> bn2,
shortcut downsample.0 1x1 stride 2 -> downsample.1 BatchNorm; add; relu) -> global average pool -> fc,
with torchvision's keys. BatchNorm in training mode as torch.nn.BatchNorm2d (batch mean and biased
variance for normalising; running statistics with momentum 0.1, running_var from the unbiased
variance; num_batches_tracked counted). Loss: torch.nn.CrossEntropyLoss (mean). Optimiser:
torch.optim.SGD(momentum=0.9, weight_decay=0.01, dampening=0, nesterov=False) with a base learning
rate for the body and ten times it for `fc`; two steps on two batches, so the momentum buffer matters.

Writes sgd_step.safetensors beside this file: `step<k>.input` / `step<k>.labels` (float) for k = 0, 1,
`initial.<key>` (the starting state dict), `expected.<key>` (parameters, running statistics and
num_batches_tracked after both steps), `momentum.<key>` (the buffers after both steps) and `loss`
(the loss of each step, before its update).

Run: .cache/venv/bin/python Tests/TrainTests/Golden/make_sgd_step.py
"""
import os

import numpy as np
from safetensors.numpy import save_file

LR, HEAD_LR, MOMENTUM, WEIGHT_DECAY, BN_MOMENTUM, EPS = 0.05, 0.5, 0.9, 0.01, 0.1, 1e-5
rng = np.random.default_rng(20261122)


def conv(x, w, stride, pad):
    """Cross-correlation with zero padding, as a sum over kernel taps of strided slices."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    y = np.zeros((n, o, oh, ow))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
            y += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return y


def conv_backward(x, w, dy, stride, pad):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = dy.shape[2], dy.shape[3]
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(kh):
        for j in range(kw):
            sl = (slice(None), slice(None), slice(i, i + stride * oh, stride), slice(j, j + stride * ow, stride))
            dw[:, :, i, j] = np.einsum("nohw,nchw->oc", dy, xp[sl])
            dxp[sl] += np.einsum("nohw,oc->nchw", dy, w[:, :, i, j])
    return dxp[:, :, pad:pad + h, pad:pad + wd], dw


def bn_forward(x, p, key):
    mean = x.mean(axis=(0, 2, 3))
    var = x.var(axis=(0, 2, 3))
    m = x.shape[0] * x.shape[2] * x.shape[3]
    xhat = (x - mean[None, :, None, None]) / np.sqrt(var + EPS)[None, :, None, None]
    y = xhat * p[key + ".weight"][None, :, None, None] + p[key + ".bias"][None, :, None, None]
    p[key + ".running_mean"] = (1 - BN_MOMENTUM) * p[key + ".running_mean"] + BN_MOMENTUM * mean
    p[key + ".running_var"] = (1 - BN_MOMENTUM) * p[key + ".running_var"] + BN_MOMENTUM * var * m / (m - 1)
    p[key + ".num_batches_tracked"] = p[key + ".num_batches_tracked"] + 1
    return y, (xhat, var)


def bn_backward(dy, cache, gamma):
    xhat, var = cache
    m = dy.shape[0] * dy.shape[2] * dy.shape[3]
    dgamma = (dy * xhat).sum(axis=(0, 2, 3))
    dbeta = dy.sum(axis=(0, 2, 3))
    dxhat = dy * gamma[None, :, None, None]
    dx = (m * dxhat - dxhat.sum(axis=(0, 2, 3))[None, :, None, None]
          - xhat * (dxhat * xhat).sum(axis=(0, 2, 3))[None, :, None, None]) / (m * np.sqrt(var + EPS)[None, :, None, None])
    return dx, dgamma, dbeta


def maxpool(x, k=3, s=2, pad=1):
    n, c, h, w = x.shape
    oh, ow = (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1
    xp = np.full((n, c, h + 2 * pad, w + 2 * pad), -np.inf)
    xp[:, :, pad:pad + h, pad:pad + w] = x
    y = np.zeros((n, c, oh, ow))
    arg = np.zeros((n, c, oh, ow, 2), dtype=int)
    for a in range(oh):
        for b in range(ow):
            win = xp[:, :, a * s:a * s + k, b * s:b * s + k].reshape(n, c, -1)
            i = win.argmax(axis=2)            # first maximum, row-major
            y[:, :, a, b] = win.max(axis=2)
            arg[:, :, a, b, 0] = a * s + i // k - pad
            arg[:, :, a, b, 1] = b * s + i % k - pad
    return y, arg


def maxpool_backward(dy, arg, shape):
    dx = np.zeros(shape)
    n, c, oh, ow = dy.shape
    for img in range(n):
        for ch in range(c):
            for a in range(oh):
                for b in range(ow):
                    dx[img, ch, arg[img, ch, a, b, 0], arg[img, ch, a, b, 1]] += dy[img, ch, a, b]
    return dx


def step(p, x, labels):
    """Forward in training mode (updating p's running statistics), loss, and the gradients."""
    g = {}
    a0 = conv(x, p["conv1.weight"], 1, 1)
    b0, c0 = bn_forward(a0, p, "bn1")
    r0 = np.maximum(b0, 0)
    m0, arg = maxpool(r0)
    a1 = conv(m0, p["layer1.0.conv1.weight"], 2, 1)
    b1, c1 = bn_forward(a1, p, "layer1.0.bn1")
    r1 = np.maximum(b1, 0)
    a2 = conv(r1, p["layer1.0.conv2.weight"], 1, 1)
    b2, c2 = bn_forward(a2, p, "layer1.0.bn2")
    ad = conv(m0, p["layer1.0.downsample.0.weight"], 2, 0)
    bd, cd = bn_forward(ad, p, "layer1.0.downsample.1")
    s = b2 + bd
    out = np.maximum(s, 0)
    pooled = out.mean(axis=(2, 3))
    logits = pooled @ p["fc.weight"].T + p["fc.bias"]

    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    n = x.shape[0]
    loss = -logp[np.arange(n), labels].mean()
    dlogits = np.exp(logp)
    dlogits[np.arange(n), labels] -= 1
    dlogits /= n

    g["fc.weight"] = dlogits.T @ pooled
    g["fc.bias"] = dlogits.sum(axis=0)
    dpooled = dlogits @ p["fc.weight"]
    dout = np.broadcast_to(dpooled[:, :, None, None] / (out.shape[2] * out.shape[3]), out.shape)
    ds = dout * (s > 0)
    dad, g["layer1.0.downsample.1.weight"], g["layer1.0.downsample.1.bias"] = bn_backward(ds, cd, p["layer1.0.downsample.1.weight"])
    dm0_short, g["layer1.0.downsample.0.weight"] = conv_backward(m0, p["layer1.0.downsample.0.weight"], dad, 2, 0)
    da2, g["layer1.0.bn2.weight"], g["layer1.0.bn2.bias"] = bn_backward(ds, c2, p["layer1.0.bn2.weight"])
    dr1, g["layer1.0.conv2.weight"] = conv_backward(r1, p["layer1.0.conv2.weight"], da2, 1, 1)
    db1 = dr1 * (b1 > 0)
    da1, g["layer1.0.bn1.weight"], g["layer1.0.bn1.bias"] = bn_backward(db1, c1, p["layer1.0.bn1.weight"])
    dm0_main, g["layer1.0.conv1.weight"] = conv_backward(m0, p["layer1.0.conv1.weight"], da1, 2, 1)
    dr0 = maxpool_backward(dm0_main + dm0_short, arg, r0.shape)
    db0 = dr0 * (b0 > 0)
    da0, g["bn1.weight"], g["bn1.bias"] = bn_backward(db0, c0, p["bn1.weight"])
    _, g["conv1.weight"] = conv_backward(x, p["conv1.weight"], da0, 1, 1)
    return loss, g


def check_gradients(p, x, labels):
    """The hand-written backward agrees with central differences of the loss (a few entries per tensor)."""
    _, g = step(dict(p), x, labels)
    pick = np.random.default_rng(0)
    for key, grad in g.items():
        for flat in pick.choice(grad.size, size=min(5, grad.size), replace=False):
            q = dict(p)
            q[key] = p[key].copy().reshape(-1)
            q[key][flat] += 1e-6
            q[key] = q[key].reshape(p[key].shape)
            up, _ = step(q, x, labels)
            q[key] = q[key].reshape(-1)
            q[key][flat] -= 2e-6
            q[key] = q[key].reshape(p[key].shape)
            down, _ = step(q, x, labels)
            numeric = (up - down) / 2e-6
            assert abs(numeric - grad.reshape(-1)[flat]) < 1e-6, (key, flat, numeric, grad.reshape(-1)[flat])


def main():
    p = {"conv1.weight": rng.normal(0, 0.4, (4, 3, 3, 3))}
    def bn(key, c):
        p[key + ".weight"] = rng.uniform(0.5, 1.5, c)
        p[key + ".bias"] = rng.normal(0, 0.2, c)
        p[key + ".running_mean"] = rng.normal(0, 0.1, c)
        p[key + ".running_var"] = rng.uniform(0.5, 2, c)
        p[key + ".num_batches_tracked"] = np.array(3.0)
    bn("bn1", 4)
    p["layer1.0.conv1.weight"] = rng.normal(0, 0.3, (6, 4, 3, 3))
    bn("layer1.0.bn1", 6)
    p["layer1.0.conv2.weight"] = rng.normal(0, 0.3, (6, 6, 3, 3))
    bn("layer1.0.bn2", 6)
    p["layer1.0.downsample.0.weight"] = rng.normal(0, 0.5, (6, 4, 1, 1))
    bn("layer1.0.downsample.1", 6)
    p["fc.weight"] = rng.normal(0, 0.5, (3, 6))
    p["fc.bias"] = rng.normal(0, 0.1, 3)
    # The values the Swift side starts from are float32: start the reference from the same ones.
    p = {k: v.astype(np.float32).astype(np.float64) for k, v in p.items()}
    out = {"initial." + k: v.astype(np.float32) for k, v in p.items()}

    trainable = [k for k in p if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    buf, losses = {}, []
    for k in range(2):
        x = rng.normal(0, 1, (4, 3, 12, 12)).astype(np.float32).astype(np.float64)
        labels = np.array([0, 2, 1, 2] if k == 0 else [1, 1, 0, 2])
        out[f"step{k}.input"] = x.astype(np.float32)
        out[f"step{k}.labels"] = labels.astype(np.float32)
        if k == 0:
            check_gradients(p, x, labels)
        loss, g = step(p, x, labels)
        losses.append(loss)
        for key in trainable:
            d = g[key] + WEIGHT_DECAY * p[key]
            buf[key] = d if key not in buf else MOMENTUM * buf[key] + d
            p[key] = p[key] - (HEAD_LR if key.startswith("fc.") else LR) * buf[key]
    for k, v in p.items():
        out["expected." + k] = np.asarray(v, dtype=np.float32)
    for k, v in buf.items():
        out["momentum." + k] = v.astype(np.float32)
    out["loss"] = np.array(losses, dtype=np.float32)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sgd_step.safetensors")
    save_file({k: np.array(v, order="C") for k, v in out.items()}, path)   # (ascontiguousarray would make scalars 1-d)
    print(f"wrote {path}: losses {losses}")


if __name__ == "__main__":
    main()

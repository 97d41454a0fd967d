#!/usr/bin/env python3
"""Golden learning rates for ScheduleTests: torch.optim.lr_scheduler.StepLR and CosineAnnealingLR
as torch computes them, by its recursive (chainable) `get_lr` formulas, stepped once per epoch,
transcribed here without torch. The Swift code uses the closed forms of torch's documentation;
agreement within 1e-12 relative is the check.

Writes schedules.json: for each case, the group's initial lr and the lr of every epoch.
Run from the repository root:  .cache/venv/bin/python Tests/TrainTests/Golden/make_schedules.py
"""
import json
import math
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def step_lr(base, step_size, gamma, epochs):
    """StepLR.get_lr: `if epoch == 0 or epoch % step_size != 0: lr, else lr * gamma`."""
    lrs, lr = [], base
    for epoch in range(epochs):
        if epoch != 0 and epoch % step_size == 0:
            lr = lr * gamma
        lrs.append(lr)
    return lrs


def cosine_lr(base, t_max, eta_min, epochs):
    """CosineAnnealingLR.get_lr, the recursive form."""
    lrs, lr = [], base
    for epoch in range(epochs):
        if epoch == 0:
            lr = base
        elif (epoch - 1 - t_max) % (2 * t_max) == 0:
            lr = lr + (base - eta_min) * (1 - math.cos(math.pi / t_max)) / 2
        else:
            lr = (1 + math.cos(math.pi * epoch / t_max)) / (1 + math.cos(math.pi * (epoch - 1) / t_max)) \
                * (lr - eta_min) + eta_min
        lrs.append(lr)
    return lrs


def main():
    cases = []
    for base in (0.01, 0.1, 0.003):
        for step_size, gamma, epochs in ((7, 0.1, 25), (3, 0.5, 10), (1, 0.9, 6)):
            cases.append(dict(kind="step", base=base, step_size=step_size, gamma=gamma,
                              lrs=step_lr(base, step_size, gamma, epochs)))
        for t_max, eta_min in ((25, 0.0), (10, 1e-4), (3, 0.0), (1, 0.0)):
            cases.append(dict(kind="cosine", base=base, t_max=t_max, eta_min=eta_min,
                              lrs=cosine_lr(base, t_max, eta_min, t_max)))
    with open(os.path.join(HERE, "schedules.json"), "w") as f:
        json.dump(dict(cases=cases), f, indent=1)


if __name__ == "__main__":
    main()

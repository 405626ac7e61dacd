"""The job page's training curve: loss and val_loss per epoch placed in an SVG's coordinates.

The server draws the first picture and job.js only moves the points it is sent, so the geometry lives here alone.
"""
from __future__ import annotations

WIDTH, HEIGHT = 480, 200
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28  # room for the axis labels


def _points(values: list[float], epochs: int, low: float, high: float) -> str:
    """SVG polyline points of one series: epoch 1 at the left edge, epoch `epochs` at the right."""
    span_x, span_y = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    xy = [(LEFT + (span_x * i / (epochs - 1) if epochs > 1 else span_x / 2),
           TOP + span_y * (high - v) / (high - low)) for i, v in enumerate(values)]
    if len(xy) == 1:
        xy *= 2  # one epoch: a zero-length line, which the round line cap draws as a dot
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)


def loss_curve(progress: dict, planned_epochs: int | None) -> dict:
    """Both losses' polyline points and the axes' labels, for `progress` as jobs.training_progress reads it."""
    losses = [float(v) for v in progress.get("losses") or []]
    val_losses = [float(v) for v in progress.get("val_losses") or []]
    done = max(len(losses), len(val_losses))
    epochs = max(done, planned_epochs or 0, 1)  # the x axis spans the whole schedule, so the curve grows rightwards
    values = losses + val_losses
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high - low < 1e-6:
        low, high = low - 0.1, high + 0.1  # a flat curve in the middle, not a division by zero
    return {"width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT, "top": TOP,
            "bottom": HEIGHT - BOTTOM, "epochs": epochs, "done": done, "high": f"{high:.2f}", "low": f"{low:.2f}",
            "loss": _points(losses, epochs, low, high), "val_loss": _points(val_losses, epochs, low, high)}

"""Z-Image-Turbo's noise schedule as diffusers 0.42.1 runs it, and a refine pass that says where it starts.

diffusers 0.42.1 builds Turbo's sigmas as linspace(1, 1/n, n), shifted by the scheduler (shift 3): at the
8 steps the model was distilled for (upstream's examples and the model's discussion use 8; 9 now runs an
extra pass on a grid it was not trained on). SGLang's own default stays 9, so the server backend sends no
step count unless told (the server's own default).

An img2img `strength` hides the noise level: on the shift-3 schedule, strength 0.3 starts at sigma ~0.6 and
repaints most of the picture. `refine_sigmas(start)` gives explicit sigmas whose first (shifted) value is
`start`: the refine pass adds exactly that much noise and denoises from there.
"""
from __future__ import annotations

DIFFUSERS_TURBO_STEPS = 8
SCHEDULER_SHIFT = 3.0
DEFAULT_REFINE_SIGMA = 0.15  # 0.1 to 0.15 keeps the composition and redraws fine detail
DEFAULT_REFINE_STEPS = 2


def shift_sigma(sigma: float, shift: float = SCHEDULER_SHIFT) -> float:
    """What FlowMatchEulerDiscreteScheduler makes of an input sigma (static shift)."""
    return shift * sigma / (1.0 + (shift - 1.0) * sigma)


def unshift_sigma(shifted: float, shift: float = SCHEDULER_SHIFT) -> float:
    """The input sigma that the scheduler turns into `shifted`."""
    return shifted / (shift - (shift - 1.0) * shifted)


def refine_sigmas(start_sigma: float, steps: int = DEFAULT_REFINE_STEPS, shift: float = SCHEDULER_SHIFT) -> list[float]:
    """Input sigmas for an img2img call with strength 1.0 whose first shifted sigma is `start_sigma`,
    spaced like diffusers' Turbo default (linspace down to start/steps)."""
    if not 0.0 < start_sigma < 1.0:
        raise ValueError(f"refine sigma must be in (0, 1), got {start_sigma}")
    if steps < 1:
        raise ValueError(f"refine steps must be >= 1, got {steps}")
    top = unshift_sigma(start_sigma, shift)
    return [top * (steps - i) / steps for i in range(steps)]


def strength_start_sigma(strength: float, steps: int = DIFFUSERS_TURBO_STEPS, shift: float = SCHEDULER_SHIFT) -> float:
    """The (shifted) sigma an img2img call with `strength` and `steps` starts from in diffusers 0.42.1
    (what a strength setting really means)."""
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength must be in (0, 1], got {strength}")
    grid = [1.0 - i * (1.0 - 1.0 / steps) / max(1, steps - 1) for i in range(steps)]
    t_start = int(max(steps - min(steps * strength, steps), 0))
    if t_start >= steps:
        raise ValueError(f"strength {strength} at {steps} steps leaves no step to run")
    return shift_sigma(grid[t_start], shift)

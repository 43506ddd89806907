"""The code location of bench/bench_celery_fleet.py: SKU Studio's production definitions with the simulated GPU
(`tests.helpers.fleet.SimulatedSceneGenerator`: a fixed time per image, and a ledger of model loads and calls) as
the scene generator, and a template library whose lifestyle scenes need it.

The webserver, the daemon, every run process and every Celery worker load this module (a run's steps name it as
their job's origin), configured by the environment the benchmark gives them:
SKUSTUDIO_BENCH_LEDGER (ledger folder), SKUSTUDIO_BENCH_SECONDS_PER_IMAGE, SKUSTUDIO_BENCH_TEMPLATES (library).
"""
import os

from orchestration.definitions import build_definitions
from resources.promotions import PromotionLibrary
from tests.helpers.fleet import SimulatedSceneGenerator

defs = build_definitions({
    "scene_generator": SimulatedSceneGenerator(
        ledger_dir=os.environ["SKUSTUDIO_BENCH_LEDGER"],
        seconds_per_image=float(os.environ.get("SKUSTUDIO_BENCH_SECONDS_PER_IMAGE", "1.0")),
        allow_studio_fallback=False,
    ),
    "promotions": PromotionLibrary(template_library=os.environ["SKUSTUDIO_BENCH_TEMPLATES"]),
})

"""A Celery app with one task that sleeps, on the fleet's shared settings: a stand-in for a long step, so a test
can watch a worker die in the middle of it (`celery -A tests.helpers.celery_sleep worker ...`)."""
import time

from celery import Celery

from orchestration.celery_fleet import backend_url, broker_url, celery_settings

app = Celery("celery_sleep", broker=broker_url(), backend=backend_url())
app.conf.update(celery_settings())


@app.task(name="sleep_for")
def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds

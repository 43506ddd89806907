"""What the pool's workers are built from: resources rebuilt from their configuration in another process, a
generator per device slot over one loaded model, lease keys pinned to a device."""
import pickle

import dagster as dg
from dagster_aws.s3 import S3Resource

from assets.step_worker import build_resource, pinned_key, resource_spec, slot_generators
from resources.cdn import CdnResource
from resources.gpu import GpuPoolResource, SceneGeneratorResource
from resources.platforms import PlatformSettings
from resources.quality import GradingSettings


def test_resources_travel_as_their_configuration(monkeypatch):
    monkeypatch.setenv("SKUSTUDIO_TEST_BUCKET", "cdn-bucket")
    cdn = CdnResource(kind="s3", bucket=dg.EnvVar("SKUSTUDIO_TEST_BUCKET"), base_url="https://cdn.test",
                      s3=S3Resource(region_name="eu-west-1"))
    grading = GradingSettings(review_db="/tmp/q.sqlite", quality_thresholds={"sharpness_min": 99.0})
    platforms = PlatformSettings(overrides={"jd": {"max_bytes": 123_456}})
    for resource in (cdn, grading, platforms):
        rebuilt = build_resource(pickle.loads(pickle.dumps(resource_spec(resource))))
        assert type(rebuilt) is type(resource)
    rebuilt = build_resource(pickle.loads(pickle.dumps(resource_spec(cdn))))
    assert rebuilt.bucket == "cdn-bucket" and rebuilt.s3.region_name == "eu-west-1"
    assert build_resource(resource_spec(grading)).quality_config().sharpness_min == 99.0
    assert build_resource(resource_spec(platforms)).preset("jd").max_bytes == 123_456
    # a field set to None stays None (not the field's default)
    assert build_resource(resource_spec(SceneGeneratorResource(backend="diffusers", upscale=None))).upscale is None
    assert resource_spec(None) is None and build_resource(None) is None


class _Model:
    backend_name, model_id = "diffusers", "m"

    def __init__(self, views=True, fail=False):
        self.views, self.fail = views, fail

    def slot_view(self):
        if self.fail:
            raise ValueError("CPU offload")
        return _Model()


class _Plain:
    thread_safe = False


class _ThreadSafe:
    thread_safe = True


def test_a_generator_per_slot_shares_one_model():
    model = _Model()
    views, note = slot_generators(model, 3)
    assert len(views) == 3 and views[0] is model and len({id(v) for v in views}) == 3 and note is None
    views, note = slot_generators(_Model(fail=True), 2)
    assert len(views) == 1 and "CPU offload" in note
    safe = _ThreadSafe()
    assert slot_generators(safe, 2) == ([safe, safe], None)
    views, note = slot_generators(_Plain(), 2)
    assert len(views) == 1 and "not safe" in note
    assert slot_generators(_Plain(), 1)[1] is None


def test_lease_keys_pinned_to_each_device(tmp_path):
    pool = GpuPoolResource(devices=["cuda:0", "cuda:1", "cuda:2"], lease_dir=str(tmp_path))
    for device in pool.describe()["devices"]:
        assert pool.device_for(pinned_key(pool, device)) == device

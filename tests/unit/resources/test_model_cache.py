"""A worker process keeps one loaded generator per device across runs (chunks), and never two on one device."""
import threading

from resources.model_cache import DeviceModelCache, settings_key


class FakeGenerator:
    def __init__(self, device, model):
        self.device, self.model, self.unloaded = device, model, False

    def unload(self):
        self.unloaded = True


def test_same_device_and_settings_reuse_the_loaded_generator():
    cache = DeviceModelCache()
    first = cache.get("cuda:0", "model-a", lambda: FakeGenerator("cuda:0", "a"))
    again = cache.get("cuda:0", "model-a", lambda: FakeGenerator("cuda:0", "a"))  # the next chunk, a new run
    other = cache.get("cuda:1", "model-a", lambda: FakeGenerator("cuda:1", "a"))
    assert again is first and other is not first and cache.loads == 2


def test_new_settings_on_a_device_unload_the_old_model_first():
    cache = DeviceModelCache()
    old = cache.get("cuda:0", "model-a", lambda: FakeGenerator("cuda:0", "a"))
    new = cache.get("cuda:0", "model-b", lambda: FakeGenerator("cuda:0", "b"))
    assert old.unloaded and not new.unloaded and [g for _, g in cache.held()] == [new]
    cache.clear()
    assert new.unloaded and cache.held() == []


def test_concurrent_steps_in_one_process_load_once():
    cache, built = DeviceModelCache(), []
    barrier = threading.Barrier(4)

    def build():
        built.append(1)
        return FakeGenerator("cuda:0", "a")

    def step():
        barrier.wait()
        cache.get("cuda:0", "model-a", build)

    threads = [threading.Thread(target=step) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(built) == 1


def test_settings_key_follows_the_resource_configuration():
    from resources.gpu import SceneGeneratorResource

    a = SceneGeneratorResource(backend="diffusers", model="/models/z")
    assert settings_key(a) == settings_key(SceneGeneratorResource(backend="diffusers", model="/models/z"))
    assert settings_key(a) != settings_key(SceneGeneratorResource(backend="diffusers", model="/models/other"))

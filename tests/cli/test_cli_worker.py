"""`skustudio worker`: its help, the configuration errors it stops on (exit 2, before anything starts), and the
Celery arguments it starts a worker with. A worker really running steps: tests/e2e/test_fleet.py."""
import pytest

from orchestration.cli import EXIT_USAGE, main
from orchestration.cli.worker import worker_argv


def test_help_explains_queues_and_exit_codes(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["worker", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for words in ("--queues", "--concurrency", "--name", "--cuda-devices", "SKUSTUDIO_CELERY_BROKER", "exit codes"):
        assert words in out, words


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        ({"SKUSTUDIO_ENV": "local", "SKUSTUDIO_CELERY_BROKER": "redis://127.0.0.1:1/0"}, [], "SKUSTUDIO_ENV=production"),
        ({"SKUSTUDIO_ENV": "production"}, [], "no broker"),
        ({"SKUSTUDIO_ENV": "production", "SKUSTUDIO_CELERY_BROKER": "redis://127.0.0.1:1/0"}, ["--queues", "gpu,fast"],
         "--queues takes gpu, cpu"),
        ({"SKUSTUDIO_ENV": "production", "SKUSTUDIO_CELERY_BROKER": "redis://127.0.0.1:1/0"}, ["--concurrency", "0"],
         "--concurrency must be 1 or more"),
    ],
    ids=["local-env", "no-broker", "unknown-queue", "no-concurrency"],
)
def test_configuration_errors_exit_2(cli_env, monkeypatch, capsys, env, args, message):
    monkeypatch.delenv("SKUSTUDIO_CELERY_BROKER", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["worker", *args]) == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_worker_takes_its_queues_one_step_per_slot_and_names_itself():
    argv = worker_argv(["gpu", "cpu"], 2, "gpu-host-1", "threads", "INFO")
    assert argv[0] == "worker"
    assert "--queues=gpu,cpu" in argv and "--concurrency=2" in argv and "--pool=threads" in argv
    assert any(a.startswith("--hostname=gpu-host-1@") for a in argv)

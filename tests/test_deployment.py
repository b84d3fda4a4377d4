"""docker-compose.yml cannot run here; these tests keep it consistent with the code."""

import re
from pathlib import Path

import yaml
from django.core.management import get_commands

from dosemgmt.celery import app

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def _command(service: str) -> list[str]:
    return SERVICES[service]["command"]


def test_it_has_every_production_role():
    assert {"postgres", "redis", "migrate", "web", "scp", "worker", "beat"} <= set(SERVICES)


def test_every_manage_py_command_exists():
    commands = get_commands()
    used = [cmd[2] for cmd in (_command(s) for s in SERVICES if "command" in SERVICES[s]) if cmd[:2] == ["python", "manage.py"]]
    assert used, "compose runs no manage.py command"
    for name in used:
        assert name in commands, f"compose runs manage.py {name}, which does not exist"


def test_the_worker_listens_on_every_queue_of_the_app():
    cmd = _command("worker")
    queues = set(cmd[cmd.index("-Q") + 1].split(","))
    assert queues == {q.name for q in app.conf.task_queues}


def test_beat_schedules_only_registered_tasks():
    app.loader.import_default_modules()
    for entry in app.conf.beat_schedule.values():
        assert entry["task"] in app.tasks, entry["task"]


def test_web_serves_the_project_wsgi_app():
    assert _command("web")[:2] == ["gunicorn", "dosemgmt.wsgi"]
    from dosemgmt.wsgi import application

    assert callable(application)


def test_every_environment_variable_is_read_by_settings():
    settings_src = (ROOT / "dosemgmt" / "settings.py").read_text()
    read = set(re.findall(r'_env(?:_bool|_int|_list)?\("([A-Z_]+)"', settings_src))
    env = SERVICES["web"]["environment"]
    for name in env:
        assert name in read, f"compose sets {name}, which settings.py never reads"


def test_scp_and_workers_share_the_spool_volume():
    def data_volume(service):
        return [v for v in SERVICES[service]["volumes"] if v.endswith(":/var/lib/dosemgmt")]

    assert data_volume("scp") and data_volume("scp") == data_volume("worker")
    assert SERVICES["scp"]["environment"]["DOSEMGMT_SCP_PORT"] == "104"
    assert "104:104" in SERVICES["scp"]["ports"]


def test_the_dockerfile_copies_only_what_exists():
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (ROOT / src).exists(), f"Dockerfile copies missing {src}"

"""Run OPNFV Doctor's fault-management scenario, its own code unchanged, against Stateward.

Runs under the Python of Doctor's own environment (its requirements.txt), never imports
Stateward. What Doctor's ``main`` and ``FaultManagement`` would do on a DevStack cloud happens
here in the same order, with three stand-ins for what is not a cloud API:

* the installer: DevStack's ``get_host_ip_from_hostname`` (os-hypervisors' ``host_ip``), run
  on an object whose SSH-bound ``__init__`` is skipped;
* the inspector: Stateward's own (``PUT /v1/inspector/events``); Doctor's sample monitor sends a
  token to any inspector that is not its sample one, so the config names ``congress`` for it;
* the fault: Doctor's LINK_DOWN_SCRIPT takes the compute host's interface down over SSH; here
  ``ip link set DEV down`` runs in the compute host's network namespace.

It prints one JSON line per step and a final ``{"result": ...}`` line; exit 0 only when Doctor's
own ``check_host_status('down')`` and ``check_notification_time()`` passed.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import traceback
from typing import Any

from doctor_tests import config
from doctor_tests.image import Image
from doctor_tests.installer.devstack import DevstackInstaller
from doctor_tests.scenario.fault_management import FaultManagement
from doctor_tests.user import User

LOG = logging.getLogger("doctor")


def say(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


class StatewardInspector:
    """Doctor's inspector interface, pointing at Stateward's inspector endpoint."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.host_down_time: float | None = None
        self.vm_down_time: float | None = None

    def get_inspector_url(self) -> str:
        return self.url

    def start(self) -> None:
        LOG.info("Stateward inspector at %s", self.url)

    def stop(self) -> None:
        pass


def devstack_installer(conf: Any) -> DevstackInstaller:
    """Doctor's DevStack installer without its SSH/host discovery ``__init__``."""
    from doctor_tests.identity_auth import get_session
    from doctor_tests.os_clients import nova_client

    installer = DevstackInstaller.__new__(DevstackInstaller)
    installer.conf = conf
    installer.log = LOG
    installer.servers = []
    installer.controllers = ["127.0.0.1"]  # the controller is this lab's loopback
    installer.nova = nova_client(conf.nova_version, get_session())
    installer._get_devstack_conf()  # nova.hypervisors.list(detailed=True): host_ip per node
    return installer


def wait_notified(fm: FaultManagement, vms: int, timeout: float) -> None:
    """Until the consumer has heard about every VM of the host (or the time is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alarms = [a for a in fm.alarm.aodh.alarm.list() if a["state"] == "alarm"]
        if fm.consumer.notified_time is not None and len(alarms) >= vms:
            return
        time.sleep(0.2)


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    links = json.loads(os.environ["DOCTOR_HOST_LINKS"])  # host -> [namespace, device]
    conf = config.prepare_conf(args=[], config_files=[])
    conf.set_override("port", int(os.environ["DOCTOR_CONSUMER_PORT"]), group="consumer")
    result: dict[str, Any] = {"passed": False}
    image = Image(conf, LOG)
    user = User(conf, LOG)
    fm = None
    try:
        image.create()
        say(step="image", name=conf.image_name, id=image.image["id"])
        user.create()
        say(step="user", project=conf.doctor_project, user=conf.doctor_user)
        installer = devstack_installer(conf)
        say(step="hypervisors", computes=installer.computes)
        fm = FaultManagement(conf, installer, user, LOG, transport_url=None)
        fm.inspector = StatewardInspector(os.environ["STATEWARD_INSPECTOR_URL"])
        conf.set_override("type", "congress", group="inspector")  # the monitor sends a token
        from doctor_tests.monitor import get_monitor

        fm.monitor = get_monitor(conf, fm.inspector.get_inspector_url(), LOG)
        fm.setup()
        down = fm.down_host
        servers = fm.nova.servers.list()
        on_host = [
            s.name
            for s in servers
            if s.__dict__.get("OS-EXT-SRV-ATTR:hypervisor_hostname") == down.name
        ]
        say(step="setup", vms=len(servers), host=down.name, ip=down.ip, vms_on_host=on_host)
        result.update(host=down.name, vms=len(servers), vms_on_host=len(on_host))
        # the fault: the compute host's link goes down (Doctor's LINK_DOWN_SCRIPT, locally)
        time.sleep(1)  # as the script does before taking the link down
        namespace, device = links[down.name]
        subprocess.run(["ip", "-n", namespace, "link", "set", device, "down"], check=True)
        say(step="link down", at=time.time())
        wait_notified(fm, len(on_host), float(os.environ.get("DOCTOR_WAIT", "30")))
        fm.check_host_status("down")
        result["host_status"] = "down"
        fm.check_notification_time()
        result.update(
            passed=True,
            detected=fm.monitor.detected_time,
            notified=fm.consumer.notified_time,
            notification_time=fm.consumer.notified_time - fm.monitor.detected_time,
            alarms=sorted(a["name"] for a in fm.alarm.aodh.alarm.list() if a["state"] == "alarm"),
        )
        subprocess.run(["ip", "-n", namespace, "link", "set", device, "up"], check=True)
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()
    finally:
        result["cleanup"] = cleanup(fm, user, image)
        say(result=result)
    return 0 if result["passed"] and not result["cleanup"] else 1


def cleanup(fm: FaultManagement | None, user: User, image: Image) -> list[str]:
    """Doctor's own cleanup steps (FaultManagement.cleanup without the SSH log fetch)."""
    failed = []
    steps = []
    if fm is not None:
        steps = [
            fm.unset_forced_down_hosts,
            fm.inspector.stop,
            fm.monitor.stop,
            fm.consumer.stop,
            fm.alarm.delete,
            fm.instance.delete,
            fm.network.delete,
        ]
    for step in [*steps, user.delete, image.delete]:
        try:
            step()
        except Exception as exc:
            failed.append(f"{getattr(step, '__qualname__', step)}: {type(exc).__name__}: {exc}")
    return failed


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # Doctor's Flask consumer and pinger are non-daemon threads

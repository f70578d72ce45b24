"""The power-state sync's one decision (Nova's `_sync_instance_power_state`): a host's
periodic report says what its hypervisor runs; when that contradicts what the
server should be doing, and no task is under way on it, the system stops it.

- vm_state active, the guest shut down or crashed (its QEMU exited on its own, or
  the guest panicked): the stop API is called (Nova: "Instance shutdown by itself.
  Calling the stop API.") and the server ends SHUTOFF, its power_state SHUTDOWN;
- vm_state stopped (or paused), the guest running (or, paused, gone): stopped for
  good, Nova's force_stop.

Everything else is only recorded (power_state), as Nova does: a guest paused or not
found behind an active server's back is logged by Nova and left alone.

Reports travel apart from the actions' own: a reconcile that read the hypervisor in
the middle of a reboot may be handled after the reboot's report. Nova reads the
hypervisor again under the instance's lock; here a contradicting report about a
server changed less than SETTLE seconds ago is ignored (not even recorded), and the
next reconcile, which reports what differs from the record, says it again if it is
still true.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid as uuidlib

from sqlalchemy.orm import Session

from overcast.bus.messages import PowerAction
from overcast.compute import models as m
from overcast.compute import states
from overcast.db import utcnow

log = logging.getLogger("overcast.power_sync")

NOSTATE, RUNNING, PAUSED, SHUTDOWN, CRASHED, SUSPENDED = 0, 1, 3, 4, 6, 7

#: seconds after a server's last change before a report contradicting it is acted on
SETTLE = 10.0


def settled(updated_at: dt.datetime | None) -> bool:
    """Whether the server's last change (`updated_at`) is SETTLE seconds old."""
    return updated_at is None or utcnow() - updated_at >= dt.timedelta(seconds=SETTLE)


def must_stop(vm_state: str, task_state: str | None, power_state: int) -> bool:
    """Whether a server in `vm_state` whose host reports `power_state` is stopped."""
    if task_state is not None:
        return False  # a task runs on it: its outcome says what the server is
    if vm_state == states.ACTIVE:
        return power_state in (SHUTDOWN, CRASHED)
    if vm_state == states.STOPPED:
        return power_state not in (NOSTATE, SHUTDOWN, CRASHED)
    if vm_state == states.PAUSED:
        return power_state in (SHUTDOWN, CRASHED)
    return False


def stop(s: Session, inst: m.Instance, power_state: int) -> PowerAction:
    """Begin the system's stop of `inst` (task powering-off, the `stop` instance
    action as Nova records it: no user); the PowerAction for its host to carry out."""
    log.warning("instance %s is %s but its host %s says power_state %d: stopping it",
                inst.uuid, inst.vm_state, inst.host, power_state)
    request_id = f"req-{uuidlib.uuid4()}"
    inst.task_state, inst.updated_at = "powering-off", utcnow()
    act = m.InstanceAction(instance_uuid=inst.uuid, action="stop", request_id=request_id,
                           user_id="", project_id=inst.project_id)
    s.add(act)
    s.flush()
    s.add(m.InstanceActionEvent(action_id=act.id, event="compute_stop_instance",
                                host=inst.host))
    return PowerAction(uuid=inst.uuid, action="stop", request_id=request_id)

"""Nova's instance state machine: vm_state/task_state -> API status, and which
actions are legal in which states (the 409s are worded as Nova words them)."""

from __future__ import annotations

from overcast.kit.errors import Conflict

ACTIVE, BUILDING, STOPPED, PAUSED, SUSPENDED = "active", "building", "stopped", "paused", \
    "suspended"
RESIZED, ERROR, DELETED = "resized", "error", "deleted"
SOFT_DELETED = "soft-delete"

_TASK_STATUS = {
    "rebooting": "REBOOT", "reboot_pending": "REBOOT", "reboot_started": "REBOOT",
    "rebooting_hard": "HARD_REBOOT", "reboot_pending_hard": "HARD_REBOOT",
    "reboot_started_hard": "HARD_REBOOT", "rebuilding": "REBUILD",
    "rebuild_block_device_mapping": "REBUILD", "rebuild_spawning": "REBUILD",
    "resize_prep": "RESIZE", "resize_migrating": "RESIZE", "resize_migrated": "RESIZE",
    "resize_finish": "RESIZE", "resize_reverting": "REVERT_RESIZE",
    "image_snapshot": "ACTIVE", "deleting": "ACTIVE", "migrating": "MIGRATING",
}

_VM_STATUS = {BUILDING: "BUILD", STOPPED: "SHUTOFF", PAUSED: "PAUSED",
              SUSPENDED: "SUSPENDED", RESIZED: "VERIFY_RESIZE", ERROR: "ERROR",
              DELETED: "DELETED", "soft-delete": "SOFT_DELETED", "shelved": "SHELVED",
              "shelved_offloaded": "SHELVED_OFFLOADED", "rescued": "RESCUE"}


def status(vm_state: str, task_state: str | None) -> str:
    if vm_state == ACTIVE:
        return _TASK_STATUS.get(task_state or "", "ACTIVE")
    if vm_state == PAUSED and task_state == "migrating":
        return "MIGRATING"
    if vm_state == RESIZED and task_state == "resize_reverting":
        return "REVERT_RESIZE"
    if vm_state == STOPPED and task_state in ("resize_prep", "resize_migrating",
                                              "resize_migrated", "resize_finish"):
        return "RESIZE"
    if vm_state in (STOPPED, ERROR) and task_state in ("rebuilding", "rebuild_spawning",
                                                       "rebuild_block_device_mapping"):
        return "REBUILD"
    return _VM_STATUS.get(vm_state, "UNKNOWN")


#: action -> (allowed vm_states, allowed task_states, task_state while it runs)
ACTIONS: dict[str, tuple[tuple[str, ...], tuple[str | None, ...], str | None]] = {
    "stop": ((ACTIVE, ERROR), (None,), "powering-off"),
    "start": ((STOPPED,), (None,), "powering-on"),
    "reboot_soft": ((ACTIVE,), (None,), "rebooting"),
    "reboot_hard": ((ACTIVE, STOPPED, PAUSED, SUSPENDED, ERROR),
                    (None, "rebooting", "reboot_pending", "reboot_started",
                     "rebooting_hard", "reboot_pending_hard", "reboot_started_hard"),
                    "rebooting_hard"),
    "pause": ((ACTIVE,), (None,), "pausing"),
    "unpause": ((PAUSED,), (None,), "unpausing"),
    "suspend": ((ACTIVE,), (None,), "suspending"),
    "resume": ((SUSPENDED,), (None,), "resuming"),
    "rebuild": ((ACTIVE, STOPPED, ERROR), (None,), "rebuilding"),
    "resize": ((ACTIVE, STOPPED), (None,), "resize_prep"),
    "os-migrateLive": ((ACTIVE, PAUSED), (None,), "migrating"),
    "confirmResize": ((RESIZED,), (None,), None),
    "revertResize": ((RESIZED,), (None,), "resize_reverting"),
    "createImage": ((ACTIVE, STOPPED, PAUSED, SUSPENDED), (None,), "image_snapshot"),
    "createBackup": ((ACTIVE, STOPPED, PAUSED, SUSPENDED), (None,), "image_backup"),
    # a soft delete (reclaim_instance_interval set) and what undoes or ends it early
    "soft_delete": ((ACTIVE, STOPPED, PAUSED, SUSPENDED, RESIZED, ERROR, "shelved",
                     "shelved_offloaded", "rescued"), (None,), "soft-deleting"),
    "restore": ((SOFT_DELETED,), (None,), "restoring"),
    "shelve": ((ACTIVE, STOPPED, PAUSED, SUSPENDED), (None,), "shelving"),
    "rescue": ((ACTIVE, STOPPED, ERROR), (None,), "rescuing"),
    "unrescue": (("rescued",), (None,), "unrescuing"),
    "changePassword": ((ACTIVE,), (None,), "updating_password"),
    "attach_interface": ((ACTIVE, PAUSED, STOPPED), (None,), "interface_attaching"),
    "detach_interface": ((ACTIVE, PAUSED, STOPPED), (None,), "interface_detaching"),
    "shelveOffload": (("shelved",), (None,), "shelving_offloading"),
    "unshelve": (("shelved", "shelved_offloaded"), (None,), "unshelving"),
    "forceDelete": ((ACTIVE, BUILDING, STOPPED, PAUSED, SUSPENDED, RESIZED, ERROR, "shelved",
                     "shelved_offloaded", SOFT_DELETED, "rescued"), (None,), "deleting"),
    "delete": ((ACTIVE, BUILDING, STOPPED, PAUSED, SUSPENDED, RESIZED, ERROR, "shelved",
                "shelved_offloaded", "soft-delete", "rescued"),
               (None, "scheduling", "spawning", "networking", "block_device_mapping",
                "powering-off", "powering-on", "rebooting", "rebooting_hard", "pausing",
                "unpausing", "suspending", "resuming", "rebuilding", "resize_prep",
                "resize_reverting", "image_snapshot", "image_backup", "shelving",
                "shelving_offloading", "unshelving", "rescuing", "unrescuing",
                "soft-deleting", "restoring", "updating_password", "interface_attaching",
                "interface_detaching", "deleting", "migrating"),
               "deleting"),
    "attach_volume": ((ACTIVE, PAUSED, STOPPED, RESIZED, SUSPENDED, "soft-delete",
                       "shelved", "shelved_offloaded"), (None,), None),
    "detach_volume": ((ACTIVE, PAUSED, STOPPED, RESIZED, SUSPENDED, "soft-delete",
                       "shelved", "shelved_offloaded"), (None,), None),
    "getConsoleOutput": ((ACTIVE, STOPPED, PAUSED, SUSPENDED, ERROR, BUILDING, RESIZED),
                         (None, "powering-off", "powering-on", "rebooting",
                          "rebooting_hard", "pausing", "unpausing", "suspending",
                          "resuming", "image_snapshot", "spawning", "scheduling"), None),
}


def check(action: str, uuid: str, vm_state: str, task_state: str | None,
          name: str | None = None) -> str | None:
    """Raise Nova's 409 if `action` is illegal now; return the task_state to set."""
    vm_ok, task_ok, new_task = ACTIONS[action]
    label = name or action
    if vm_state not in vm_ok:
        raise Conflict(f"Cannot '{label}' instance {uuid} while it is in vm_state {vm_state}")
    if task_state not in task_ok:
        raise Conflict(f"Cannot '{label}' instance {uuid} while it is in task_state "
                       f"{task_state}")
    return new_task

"""Flavor extra spec validation (compute 2.86): a spec in a namespace Nova knows must
be one of that namespace's specs, with a value of its kind; specs in other namespaces
(or none) are taken as they are, as Nova takes them.

The catalog below lists what Nova's validators accept (the spec names, with their
parameters as regular expressions, and each value's type, range, choices or form).
Two kinds of names are looser than Nova's: a resource class and a trait may be any
upper-case name (Nova checks them against the os-resource-classes and os-traits
lists, which overcast does not carry), as a CUSTOM_ one may in Nova.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from overcast.kit.errors import BadRequest

_TRUE = {"1", "t", "true", "on", "y", "yes"}
_FALSE = {"0", "f", "false", "off", "n", "no"}
#: a CPU map: 0-3,^2,5
_CPU_MAP = r"\^?\d+((-\d+)?(,\^?\d+(-\d+)?)?)*"


@dataclass(frozen=True)
class Spec:
    #: the name, a regular expression (parameters already spelled as patterns)
    name: str
    #: "int", "bool" or "str"
    kind: str
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.name))

    def check(self, value: str) -> None:
        if self.kind == "bool":
            if value.lower() not in _TRUE | _FALSE:
                raise BadRequest(f"Validation failed; '{value}' is not a valid "
                                 "boolean-like value.")
        elif self.kind == "int":
            try:
                number = int(value)
            except ValueError:
                raise BadRequest(f"Validation failed; '{value}' is not a valid integer "
                                 "value.") from None
            if self.maximum is not None and number > self.maximum:
                raise BadRequest(f"Validation failed; '{value}' is greater than the max "
                                 f"value of '{self.maximum}'.")
            if self.minimum is not None and number < self.minimum:
                raise BadRequest(f"Validation failed; '{value}' is less than the min "
                                 f"value of '{self.minimum}'.")
        elif self.pattern is not None:
            if re.fullmatch(self.pattern, value) is None:
                raise BadRequest(f"Validation failed; '{value}' is not of the format "
                                 f"'{self.pattern}'.")
        elif self.choices and value not in self.choices:
            raise BadRequest(f"Validation failed; '{value}' is not one of: "
                             f"{', '.join(self.choices)}.")


def _bools(*names: str) -> list[Spec]:
    return [Spec(n, "bool") for n in names]


def _ints(*names: str, minimum: int | None = None) -> list[Spec]:
    return [Spec(n, "int", minimum=minimum) for n in names]


_RC = r"(?:[1-9][0-9]*|_[A-Za-z0-9_-]{1,64})?"  # a request group's suffix
CATALOG: list[Spec] = [
    # -- hw
    *_bools("hw:cpu_realtime", "hw:hide_hypervisor_id", "hw:locked_memory",
            "hw:boot_menu", "hw:vif_multiqueue_enabled", "hw:mem_encryption", "hw:pmu",
            "hw:virtio_packed_ring", "hw:ephemeral_encryption"),
    Spec("hw:cpu_realtime_mask", "str", pattern=r"(\^)?\d+((-\d+)?(,\^?\d+(-\d+)?)?)*"),
    Spec("hw:cpu_dedicated_mask", "str", pattern=_CPU_MAP),
    Spec("hw:cpu_policy", "str", ("dedicated", "shared", "mixed")),
    Spec("hw:cpu_thread_policy", "str", ("prefer", "isolate", "require")),
    Spec("hw:emulator_threads_policy", "str", ("isolate", "share")),
    Spec("hw:mem_page_size", "str", pattern=r"(large|small|any|\d+([kKMGT]i?)?(b|bit|B)?)"),
    Spec("hw:numa_nodes", "int", minimum=1),
    Spec(r"hw:numa_cpus\.\d+", "str", pattern=_CPU_MAP),
    Spec(r"hw:numa_mem\.\d+", "int"),
    Spec("hw:pci_numa_affinity_policy", "str", ("required", "preferred", "legacy", "socket")),
    *_ints("hw:cpu_sockets", "hw:cpu_cores", "hw:cpu_threads", "hw:cpu_max_sockets",
           "hw:cpu_max_cores", "hw:cpu_max_threads", minimum=1),
    Spec("hw:mem_encryption_model", "str", ("amd-sev", "amd-sev-es", "amd-sev-snp")),
    Spec("hw:pmem", "str", pattern=r"([a-zA-Z0-9_]+(,)?)+"),
    Spec("hw:serial_port_count", "int", minimum=0),
    Spec("hw:tpm_model", "str", ("tpm-tis", "tpm-crb")),
    Spec("hw:tpm_version", "str", ("1.2", "2.0")),
    Spec("hw:tpm_secret_security", "str", ("user", "host", "deployment")),
    Spec("hw:watchdog_action", "str", ("none", "pause", "poweroff", "reset", "disabled")),
    Spec("hw:viommu_model", "str", ("intel", "smmuv3", "virtio", "auto")),
    Spec("hw:sound_model", "str", ("sb16", "es1370", "pcspk", "ac97", "ich6", "ich9", "usb",
                                   "virtio")),
    Spec("hw:usb_model", "str", ("none", "nec-xhci", "qemu-xhci")),
    Spec("hw:redirected_usb_ports", "int", minimum=0, maximum=15),
    Spec("hw:ephemeral_encryption_format", "str", ("plain", "luks", "luksv2")),
    # -- hw_rng, hw_video, os
    Spec("hw_rng:allowed", "bool"),
    *_ints("hw_rng:rate_bytes", "hw_rng:rate_period", "hw_video:ram_max_mb", minimum=0),
    Spec("os:secure_boot", "str", ("disabled", "required")),
    # -- quota
    *_ints(*[f"quota:{k}_limit" for k in ("cpu", "memory", "disk_io", "vif")], minimum=0),
    *_ints(*[f"quota:{k}_reservation" for k in ("cpu", "memory", "disk_io", "vif")]),
    *[Spec(f"quota:{k}_shares_level", "str", ("custom", "high", "normal", "low"))
      for k in ("cpu", "memory", "disk_io", "vif")],
    *_ints(*[f"quota:{k}_shares_share" for k in ("cpu", "memory", "disk_io", "vif")],
           minimum=0),
    *_ints("quota:cpu_shares", "quota:cpu_period", minimum=0),
    Spec("quota:cpu_quota", "int"),
    *_ints(*[f"quota:disk_{s}_{m}_sec" for s in ("read", "write", "total")
             for m in ("bytes", "iops")], minimum=0),
    *_ints(*[f"quota:vif_{s}_{m}" for s in ("inbound", "outbound")
             for m in ("average", "peak", "burst")], minimum=0),
    # -- resources, traits (any upper-case name: see the module docstring)
    Spec(f"resources{_RC}:[A-Z][A-Z0-9_]*", "int"),
    Spec(f"trait{_RC}:[A-Z][A-Z0-9_]*", "str", ("required", "forbidden")),
    # -- the namespaces whose values are free
    Spec("accel:device_profile", "str"),
    Spec("aggregate_instance_extra_specs:.+", "str"),
    Spec("capabilities:.+", "str"),
    Spec("pci_passthrough:alias", "str", pattern=r"[^:]+:\d+(?:\s*,\s*[^:]+:\d+)*"),
    Spec("vmware:hw_version", "str"),
    Spec("vmware:storage_policy", "str"),
    # -- no namespace
    Spec("hide_hypervisor_id", "bool"),
    Spec("group_policy", "str", ("isolate", "none")),
]
_BY_NAME = {s.name: s for s in CATALOG}
#: the namespaces whose specs are all known (a name matching one of these patterns
#: and no spec is refused)
NAMESPACES = ("hw", "hw_rng", "hw_video", "os", "quota", f"resources{_RC}", f"trait{_RC}",
              "accel", "aggregate_instance_extra_specs", "capabilities", "pci_passthrough",
              "vmware")


def validate(specs: dict[str, Any]) -> None:
    """400 for the first spec Nova's validators would refuse."""
    for name, value in specs.items():
        spec = _BY_NAME.get(name) or next(
            (s for s in CATALOG if s.regex.fullmatch(name)), None)
        if spec is not None:
            spec.check(str(value))
            continue
        if ":" in name and any(re.fullmatch(ns, name.split(":", 1)[0])
                               for ns in NAMESPACES):
            raise BadRequest(f"Validation failed; extra spec '{name}' does not appear "
                             "to be a valid extra spec.")

"""The QEMU driver (a package): each instance is a QEMU process, driven over QMP.

How an instance boots depends on its image (Glance's record, as Nova's libvirt
driver reads it):

* an image with a `kernel_id` property (an AMI, or a qcow2 snapshot of an AMI
  instance) boots that kernel (and its `ramdisk_id`) directly, entered through its
  PVH note when it is an ELF vmlinux (under TCG that reaches userspace in about 2 s
  instead of 5), on `-M pc` with virtio-*-pci devices (NICs without option ROMs),
  so volumes can be hot-plugged (volumes.py); an image may ask for `-M microvm`
  (hw_machine_type), a little faster to boot but with virtio-mmio devices fixed at
  start, and then gets `tsc_early_khz` on its command line (without it a TCG guest
  on microvm, which has no HPET or PM timer, sometimes hangs calibrating its TSC:
  HOST_FACTS §4). The PCI machine costs little at boot: 1.86-1.90 s to userspace
  against 1.80-1.84 s for microvm on an idle host (HOST_FACTS §4; measured again
  by bench/volume_attach.py), for live attach and detach. Its
  root disk is an overlay over the machine image (a machine image without data
  gets a blank root disk: the guest runs from its ramdisk);
* any other image is a bootable disk (qcow2, raw, vmdk, vdi, vhd, vhdx) booted
  through the firmware: `-M pc` (or the image's `hw_machine_type`) and SeaBIOS.

Images are cached once per host in the driver's state directory: kernels and
ramdisks copied, disks converted to standalone qcow2 (after checking that they are
what they claim to be and have no backing or data file that would read host files).
Each entry is made in a temporary directory renamed into place, so a crash never
leaves a half image that looks whole. An instance's root disk is a qcow2 overlay
over the cached base (`qemu-img create -F qcow2 -b base`), grown to the flavor's
root_gb. Its config drive, when asked for, is an ISO 9660 image labelled config-2
(vfat when no ISO tool is installed) holding the openstack/latest documents.

The accelerator is chosen once per host boot by booting a 512-byte test guest under
KVM (with `-cpu host`, as instances get): a /dev/kvm that cannot run it, or takes
seconds for it, means TCG (on a host whose KVM is kvm_pvm, /dev/kvm exists but
guests hang). The answer is cached in the state directory, keyed by the boot id.

QEMU runs daemonized (its own session, a pid file), so guests outlive the agent;
with ports it runs inside the dataplane's namespace (`ip netns exec`), where the
ports' taps live. A new driver object on the same state directory finds running
guests by their pid files (checked against /proc: start time and command line) and
talks to them over their QMP sockets. Each QEMU process is put in cgroups that cap
its CPU at the flavor's vCPUs and its memory at the guest's RAM plus QEMU's own
overhead (best effort: a host without cgroups runs guests without limits).

Power actions over QMP: power_off presses the ACPI power button (repeated: a guest
still booting misses a press) and quits after the timeout; pause/unpause are
stop/cont; suspend saves the guest's memory to a file (a migration to a file
descriptor) and ends the process, resume starts it again with `-incoming` (so a
suspended guest survives an agent or host restart); a hard reboot is a
system_reset, a soft one a power_off and start. The serial console is a file kept
across boots; each start of QEMU adds a line `[overcast] starting instance <uuid>`
to it, so it names its instance before the guest says anything.

Spawn returns once QEMU runs: about 60-100 ms on an idle 2-core host with the image
cached (mostly QEMU's start-up, which copies a 60 MB vmlinux into the guest), 150-
400 ms while other guests boot beside it, plus the image's caching the first time.
overcast-tiny then reports on its console about 2.8 s later under TCG (pc or
microvm, PVH), or 6.5 s later from its disk through SeaBIOS.

Volumes (volumes.py) are attached live over QMP (blockdev-add + device_add of a
virtio-blk-pci whose serial is the volume id's first 20 characters), detached with
device_del once the guest released them, kept in the instance record and given to
QEMU on its command line at every start; an instance can boot from one.

Layout of the state directory:

    accel.json                          the accelerator probe's answer
    images/<image id>.file/data         a kernel or ramdisk, as fetched
    images/<image id>.disk/disk.qcow2   a machine image as a standalone qcow2
                          /image.json   what was checked (format, virtual size) and
                                        how it boots (kernel_id...)
    instances/<uuid>/instance.json      the instance's record
                     disk.qcow2         its root disk (overlay over the cached base)
                     kernel, ramdisk    hard links to the cached files
                     config.iso         its config drive
                     console.log        the serial console, across boots
                     qemu.pid, qmp.sock the running process and its control socket
                     memory.state       the saved guest while suspended
                     (instance.json's `volumes`: the attached volumes'
                      connection_info; their files are the storage host's)

The package's modules: accel (the host's binaries and the accelerator probe),
cgroups (an instance's CPU and memory limits), qmp (the QMP client), images (the
image cache and how an image boots), configdrive (the config drive's ISO), record
(the typed instance record, `InstanceRecord`), process (starting, finding and
stopping an instance's QEMU), volumes (attached volumes as block nodes and
devices) and driver (`QemuDriver`, the driver contract).
"""

from overcast.agent.virt.common import proc_start as _proc_start
from overcast.agent.virt.qemu.accel import (
    QEMU,
    QEMU_IMG,
    Accel,
    available,
    binary,
    describe,
    probe_accel,
)
from overcast.agent.virt.qemu.cgroups import MEMORY_OVERHEAD_MB
from overcast.agent.virt.qemu.configdrive import write_config_drive
from overcast.agent.virt.qemu.driver import QemuDriver
from overcast.agent.virt.qemu.process import proc_cmdline as _cmdline
from overcast.agent.virt.qemu.qmp import Qmp, QmpError
from overcast.agent.virt.qemu.record import BootSource, InstanceRecord
from overcast.kit.runner import which

__all__ = ["MEMORY_OVERHEAD_MB", "QEMU", "QEMU_IMG", "Accel", "BootSource",
           "InstanceRecord", "QemuDriver", "Qmp", "QmpError", "_cmdline", "_proc_start",
           "available", "binary", "describe", "probe_accel", "which",
           "write_config_drive"]

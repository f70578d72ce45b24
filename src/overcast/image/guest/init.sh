#!/bin/busybox sh
# /init of overcast-tiny, overcast's test guest (built by overcast/image/builder.py).
# Busybox only, nothing on disk: the same script runs from the initramfs whether the
# kernel came from -kernel/-initrd (PVH or bzImage) or from the disk's syslinux.
#
#  1. proc/sys/dev, the kernel modules (in the order in /lib/modules/order), acpid
#     so that an ACPI power button press (QMP system_powerdown) powers off cleanly;
#  2. DHCP on the first NIC with udhcpc, asking for the MTU (and classless routes);
#  3. metadata from a config drive (a file system labelled config-2, vfat or
#     iso9660), else from http://169.254.169.254; the keypair's keys go to
#     /root/.ssh/authorized_keys, the hostname is set;
#  4. busybox httpd on port 80 answering "<instance-id> <hostname>", and
#     /cgi-bin/probe?ADDRESS: the guest itself fetches http://ADDRESS/ (3 s) and
#     answers with what it got, or "probe failed: why" (tests check guest-to-guest
#     traffic with it: tests/e2e/test_lab.py); and a TCP echo on port 7 (busybox nc,
#     a process per connection: tests/e2e/test_lab_migration.py keeps one connection
#     open across a live migration);
#  5. the report on the console, one "key: value" per line after OVERCAST-GUEST-UP;
#  6. a watcher for volumes (virtio disks with a serial: the root disk and the config
#     drive have none), at boot and hot-plugged: each new one is mounted (ext4), its
#     overcast-*.txt and guest-*.txt files are printed, a file guest-<instance id>.txt
#     is written to it (not to a read-only one), and it is unmounted again (so a
#     detach finds it released):
#       OVERCAST-VOLUME <serial> <device> <ext4|ext4-ro|raw> files=<names, comma-separated>
#       OVERCAST-VOLUME-FILE <serial> <name>: <first line of the file>
#       OVERCAST-VOLUME-WROTE <serial> guest-<instance id>.txt
#       OVERCAST-VOLUME-GONE <serial>                (when the disk goes away)
#       OVERCAST-VOLUME-SIZE <serial> <512-byte sectors>  (when first seen, and each
#                                     time /sys/block/vdX/size changes: an extend)
#       OVERCAST-VOLUME-BENCH <serial> mib=<n> read_cs=<centiseconds> write_cs=<cs>
#                                     (a raw disk that starts "OVERCAST-BENCH <n>":
#                                     n MiB read and written with O_DIRECT, timed;
#                                     bench/volume_attach.py)
#     A test attaches a disk and reads the console (tests/e2e/test_volume_attach.py).
# Without DHCP or metadata it still reports within about 10 s, and keeps running.
#
# In a container ($container is set, as OCI runtimes do) there are no modules to
# load and no host name to set (the runtime set it), the NIC is a veth (no device
# behind it) and the config drive is already mounted at /mnt/config.

/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s 2>/dev/null
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
umask 022

mkdir -p /proc /sys /dev /run /tmp /mnt /root /etc /var/log /var/www
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
if mount -t devtmpfs devtmpfs /dev 2>/dev/null; then
    exec </dev/console >/dev/console 2>&1
fi
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs -o mode=0755 tmpfs /run 2>/dev/null

# The report goes to /dev/console; when that isn't the first serial port (no
# console=ttyS0 on the command line), it goes to ttyS0 as well.
serial=
active=$(cat /sys/class/tty/console/active 2>/dev/null)
if [ "${active##* }" != ttyS0 ] && [ -c /dev/ttyS0 ] && (: >/dev/ttyS0) 2>/dev/null; then
    serial=/dev/ttyS0
fi
say() {
    echo "$*"
    [ -n "$serial" ] && echo "$*" >"$serial" 2>/dev/null
    return 0
}
# Centiseconds since boot.
now() {
    read -r up _ </proc/uptime
    echo "${up%.*}${up#*.}" | sed 's/^0*\(.\)/\1/'
}

say "overcast-guest: starting"
[ -z "$container" ] && hostname overcast-tiny

# --- 1. modules and the power button -------------------------------------------
n=0
if [ -z "$container" ] && [ -f /lib/modules/order ]; then
    while read -r mod; do
        insmod "/lib/modules/$mod.ko" 2>/dev/null && n=$((n + 1))
    done </lib/modules/order
fi
modules_done=$(now)
dmesg -n 1 2>/dev/null  # keep kernel chatter off the console from here on
say "overcast-guest: $n modules loaded"

mkdir -p /etc/acpi/PWRF
cat >/etc/acpi/PWRF/00000080 <<'EOF'
#!/bin/sh
echo "overcast-guest: power button, powering off" >/dev/console
sync
poweroff -f
EOF
chmod 755 /etc/acpi/PWRF/00000080
acpid -c /etc/acpi -l /var/log/acpid.log 2>/dev/null

# --- 2. network ------------------------------------------------------------------
ip link set lo up 2>/dev/null
first_nic() {
    for d in /sys/class/net/*; do
        if [ -e "$d/device" ] || { [ -n "$container" ] && [ "${d##*/}" != lo ]; }; then
            echo "${d##*/}"
            return 0
        fi
    done
    return 1
}
nic=$(first_nic)
i=0
while [ -z "$nic" ] && [ $i -lt 5 ]; do  # NIC drivers probe as they load; a little slack
    sleep 0.1
    nic=$(first_nic)
    i=$((i + 1))
done
address=none
if [ -n "$nic" ]; then
    ip link set "$nic" up
    # Three tries a second apart; then udhcpc keeps trying in the background (and
    # renews the lease), while we go on.
    udhcpc -i "$nic" -s /etc/udhcpc.sh -O mtu -O staticroutes -t 3 -T 1 -A 5 -b \
        -p /run/udhcpc.pid >/run/udhcpc.log 2>&1
    [ -s /run/address ] && address=$(cat /run/address)
fi

# --- 3. metadata -----------------------------------------------------------------
meta=/run/meta_data.json
source=none
config_drive() {
    findfs LABEL=config-2 2>/dev/null || findfs LABEL=CONFIG-2 2>/dev/null
}
# No waiting: insmod returns after the driver's (asynchronous) probing is done, so
# virtio disks and ATA CD-ROMs are all there by now.
dev=
if [ -n "$container" ] && [ -f /mnt/config/openstack/latest/meta_data.json ]; then
    cp /mnt/config/openstack/latest/meta_data.json "$meta" && source=configdrive
else
    dev=$(config_drive)
fi
if [ -n "$dev" ]; then
    mkdir -p /mnt/config
    for fs in iso9660 vfat; do
        mount -o ro -t $fs "$dev" /mnt/config 2>/dev/null && break
    done
    if [ -f /mnt/config/openstack/latest/meta_data.json ]; then
        cp /mnt/config/openstack/latest/meta_data.json "$meta" && source=configdrive
    fi
    umount /mnt/config 2>/dev/null
fi
fetch_metadata() {  # $1: seconds to keep trying; 0 when the service answered
    # busybox wget -T crashes, so `timeout` bounds each try (whole seconds, and
    # never past the deadline).
    deadline=$(($(now) + $1 * 100))
    while :; do
        left=$(((deadline - $(now) + 99) / 100))
        [ "$left" -gt 2 ] && left=2
        [ "$left" -lt 1 ] && return 1
        rm -f "$meta.part"
        if timeout "$left" wget -q -O "$meta.part" \
            http://169.254.169.254/openstack/latest/meta_data.json 2>/dev/null &&
            [ -s "$meta.part" ]; then
            mv "$meta.part" "$meta"
            return 0
        fi
        sleep 0.5
    done
}
if [ "$source" = none ] && [ "$address" != none ]; then
    fetch_metadata 4 && source=metadata-service
fi

# JSON without jq: flatten, and for the top-level keys drop nested objects and
# arrays (innermost first) so that only the outer object's own values are left.
iid=unknown
name=overcast-tiny
mkdir -p /root/.ssh
chmod 700 /root/.ssh
: >/root/.ssh/authorized_keys
chmod 600 /root/.ssh/authorized_keys
read_metadata() {  # sets iid and name, writes the authorized keys, from $meta
    flat=$(tr -d '\n\r\t' <"$meta")
    top=$(echo "$flat" | sed -e ':a' -e 's/\[[^][]*\]/""/' \
        -e 's/{\([^{}]*\){[^{}]*}/{\1""/' -e 'ta')
    top_string() {
        echo "$top" | sed -n "s/.*[{,] *\"$1\" *: *\"\([^\"]*\)\".*/\1/p"
    }
    v=$(top_string uuid | tr -cd '0-9A-Za-z-')
    [ -n "$v" ] && iid=$v
    v=$(top_string hostname)
    v=$(echo "${v%%.*}" | tr -cd '0-9A-Za-z-')
    [ -n "$v" ] && name=$v
    # "public_keys": {"name": "ssh-ed25519 AAAA... comment\n", ...}
    echo "$flat" | sed -n 's/.*"public_keys" *: *{\([^}]*\)}.*/\1/p' |
        grep -o ': *"[^"]*"' | sed -e 's/^: *"//' -e 's/"$//' -e 's/\\[nr]//g' \
        -e 's/\\\//\//g' | grep -v '^ *$' | awk '!seen[$0]++' >/root/.ssh/authorized_keys
}
[ "$source" != none ] && read_metadata
[ -z "$container" ] && hostname "$name"
echo "$name" >/etc/hostname
keys=$(grep -c . /root/.ssh/authorized_keys)

# --- 4. the web page -------------------------------------------------------------
echo "$iid $name" >/var/www/index.html
mkdir -p /var/www/cgi-bin
cat >/var/www/cgi-bin/probe <<'PROBE'
#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin  # httpd gives CGIs no PATH
# only an address (IPv4/IPv6 digits, dots, colons): nothing else reaches wget
target=$(echo "$QUERY_STRING" | tr -cd '0-9A-Fa-f.:')
printf 'Content-Type: text/plain\r\n\r\n'
if out=$(timeout 5 wget -q -O - "http://$target/" 2>&1); then
    echo "$out"
else
    echo "probe failed: $out"
fi
PROBE
chmod 755 /var/www/cgi-bin/probe
httpd -p 80 -h /var/www 2>/dev/null
nc -ll -p 7 -e cat </dev/null >/dev/null 2>&1 &

# --- 5. the report ---------------------------------------------------------------
say "OVERCAST-GUEST-UP"
say "instance-id: $iid"
say "hostname: $name"
say "address: $address"
say "metadata: $source"
say "keys: $keys"
# each key's MD5 fingerprint, as Nova shows it for the keypair (aa:bb:...)
while read -r _type blob _rest; do
    fp=$(echo "$blob" | base64 -d 2>/dev/null | md5sum | cut -c1-32 |
        sed -e 's/../&:/g' -e 's/:$//')
    [ -n "$blob" ] && say "key-fingerprint: $fp"
done </root/.ssh/authorized_keys
say "uptime: $(cut -d' ' -f1 /proc/uptime)"

# --- 5b. late metadata --------------------------------------------------------------
# The address may come after the first tries (udhcpc goes on in the background), or
# the metadata service may be away for a moment (its agent restarting). Then keep
# asking for two minutes, and once it answers serve the right page and say so: a
# guest must not call itself `unknown` for ever because of a slow first minute.
late_metadata() {
    until [ -s /run/address ]; do
        [ "$(cut -d. -f1 /proc/uptime)" -gt 120 ] && return 0
        sleep 1
    done
    fetch_metadata 120 || return 0
    read_metadata
    [ -z "$container" ] && hostname "$name"
    echo "$name" >/etc/hostname
    echo "$iid $name" >/var/www/index.html
    say "OVERCAST-METADATA-LATE"
    say "instance-id: $iid"
    say "hostname: $name"
    say "address: $(cat /run/address)"
    say "keys: $(grep -c . /root/.ssh/authorized_keys)"
}
[ "$source" = none ] && [ -z "$container" ] && late_metadata &

# --- 6. volumes ---------------------------------------------------------------------
volume_seen() {  # $1 serial $2 device
    vser=$1
    dev=$2
    where=/mnt/volumes/$vser
    mkdir -p "$where"
    fs=ext4
    opts=rw
    if [ "$(cat "/sys/block/${dev#/dev/}/ro" 2>/dev/null)" = 1 ]; then
        fs=ext4-ro  # a read-only volume: read, not written
        opts=ro,noload
    fi
    if ! mount -t ext4 -o $opts "$dev" "$where" 2>/dev/null; then
        say "OVERCAST-VOLUME $vser $dev raw files="
        volume_bench "$vser" "$dev"
        return 0
    fi
    files=$(cd "$where" && ls -1 | grep -E '^(overcast|guest)-.*[.]txt$' | tr '\n' ',')
    say "OVERCAST-VOLUME $vser $dev $fs files=${files%,}"
    for f in $(cd "$where" && ls -1 | grep -E '^(overcast|guest)-.*[.]txt$'); do
        say "OVERCAST-VOLUME-FILE $vser $f: $(head -n 1 "$where/$f")"
    done
    if [ $fs = ext4-ro ]; then
        umount "$where"
        return 0
    fi
    if echo "written by $iid at $(cut -d' ' -f1 /proc/uptime)" >"$where/guest-$iid.txt"
    then
        sync
        umount "$where" && say "OVERCAST-VOLUME-WROTE $vser guest-$iid.txt"
    else
        umount "$where"
        say "OVERCAST-VOLUME-FAILED $vser guest-$iid.txt"
    fi
}
volume_bench() {  # $1 serial $2 device: a disk that starts "OVERCAST-BENCH <MiB>"
    head=$(dd if="$2" bs=64 count=1 2>/dev/null | head -n 1)
    case "$head" in
    "OVERCAST-BENCH "*) ;;
    *) return 0 ;;
    esac
    # shellcheck disable=SC2086
    set -- "$1" "$2" $(echo "${head#OVERCAST-BENCH }" | tr -cd '0-9 ')
    mib=$3
    bs=${4:-1}
    [ -n "$mib" ] && [ "$bs" -gt 0 ] || return 0
    # <MiB> after the first MiB, read then written in <bs> MiB requests with O_DIRECT
    # (no page cache in the guest: what the transport gives, not what the guest cached)
    t0=$(now)
    dd if="$2" of=/dev/null bs="${bs}M" skip=1048576 count=$((mib / bs)) \
        iflag=direct,skip_bytes 2>/dev/null
    t1=$(now)
    dd if=/dev/zero of="$2" bs="${bs}M" seek=1048576 count=$((mib / bs)) \
        oflag=direct,seek_bytes conv=fsync 2>/dev/null
    t2=$(now)
    say "OVERCAST-VOLUME-BENCH $1 mib=$mib read_cs=$((t1 - t0)) write_cs=$((t2 - t1))"
}
watch_volumes() {
    known=" "
    sizes=" "
    while :; do
        present=" "
        seen=" "
        for b in /sys/block/vd*; do
            [ -e "$b" ] || continue
            vser=$(cat "$b/serial" 2>/dev/null | tr -cd '0-9A-Za-z-')
            [ -n "$vser" ] || continue
            present="$present$vser "
            sz=$(cat "$b/size" 2>/dev/null)
            seen="$seen$vser=$sz "
            case "$sizes" in
            *" $vser=$sz "*) ;;
            *) say "OVERCAST-VOLUME-SIZE $vser $sz" ;;
            esac
            case "$known" in
            *" $vser "*) ;;
            *) grep -q "^/dev/${b##*/} " /proc/mounts || volume_seen "$vser" "/dev/${b##*/}" ;;
            esac
        done
        for vser in $known; do
            case "$present" in
            *" $vser "*) ;;
            *) say "OVERCAST-VOLUME-GONE $vser" ;;
            esac
        done
        known=$present
        sizes=$seen
        sleep 0.5
    done
}
[ -z "$container" ] && watch_volumes &

trap 'sync; poweroff -f 2>/dev/null; exit 0' TERM
while :; do
    sleep 3600 &
    wait $!
done

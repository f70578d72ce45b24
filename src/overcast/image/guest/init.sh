#!/bin/busybox sh
# /init of overcast's tiny guest: networking by DHCP, OpenStack metadata from a
# config drive or the metadata service, the keypair's keys, a console report and
# a one-line web page. Everything is busybox; nothing here needs a disk.
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp /run /mnt /root /etc
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
echo "overcast-guest: booting"
while read -r mod; do
    [ -f "/lib/modules/$mod.ko" ] && insmod "/lib/modules/$mod.ko" 2>/dev/null
done < /lib/modules/order
# ACPI power button: a clean poweroff when the host asks (QMP system_powerdown).
mkdir -p /etc/acpi/PWRF
printf '#!/bin/sh\npoweroff -f\n' > /etc/acpi/PWRF/00000080
chmod +x /etc/acpi/PWRF/00000080
acpid -c /etc/acpi 2>/dev/null
ip link set lo up

address=none
for n in 1 2 3 4 5 6 7 8 9 10; do
    nic=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
    [ -n "$nic" ] && break
    sleep 0.2
done
if [ -n "$nic" ]; then
    ip link set "$nic" up
    udhcpc -i "$nic" -t 4 -T 1 -A 1 -n -q -O mtu -s /etc/udhcpc.sh >/dev/null 2>&1
    [ -s /run/address ] && address=$(cat /run/address)
fi

source=none
meta=/tmp/meta_data.json
for n in 1 2 3 4 5 6 7 8 9 10; do
    dev=$(findfs LABEL=config-2 2>/dev/null || findfs LABEL=CONFIG-2 2>/dev/null) && break
    dev=
    [ -e /dev/vdb ] || [ -e /dev/sr0 ] || [ -e /dev/vda ] || break
    sleep 0.2
done
if [ -n "$dev" ]; then
    mkdir -p /mnt/config
    if mount -o ro -t vfat "$dev" /mnt/config 2>/dev/null || \
       mount -o ro -t iso9660 "$dev" /mnt/config 2>/dev/null; then
        if [ -f /mnt/config/openstack/latest/meta_data.json ]; then
            cp /mnt/config/openstack/latest/meta_data.json "$meta" && source=configdrive
        fi
    fi
fi
if [ "$source" = none ] && [ "$address" != none ]; then
    # busybox wget has no working timeout: bound each try from here.
    for n in 1 2 3 4 5; do
        wget -q -O "$meta" http://169.254.169.254/openstack/latest/meta_data.json &
        pid=$!
        for t in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 $pid 2>/dev/null || break
            sleep 0.2
        done
        kill $pid 2>/dev/null
        wait $pid 2>/dev/null && [ -s "$meta" ] && { source=metadata-service; break; }
        sleep 0.5
    done
fi

iid=unknown
name=overcast-tiny
mkdir -p /root/.ssh
: > /root/.ssh/authorized_keys
if [ "$source" != none ]; then
    flat=$(tr -d '\n' < "$meta")
    v=$(echo "$flat" | sed -n 's/.*"uuid": *"\([^"]*\)".*/\1/p')
    [ -n "$v" ] && iid=$v
    v=$(echo "$flat" | sed -n 's/.*"hostname": *"\([^"]*\)".*/\1/p')
    [ -n "$v" ] && name=${v%%.*}
    echo "$flat" | grep -o '"\(ssh-[a-z0-9-]*\|ecdsa-[a-z0-9-]*\) [^"]*"' | tr -d '"' \
        > /root/.ssh/authorized_keys
    chmod 700 /root/.ssh
    chmod 600 /root/.ssh/authorized_keys
fi
hostname "$name"

mkdir -p /www
echo "$iid $name" > /www/index.html
httpd -p 80 -h /www

echo "OVERCAST-GUEST-UP"
echo "instance-id: $iid"
echo "hostname: $name"
echo "address: $address"
echo "metadata: $source"
echo "keys: $(wc -l < /root/.ssh/authorized_keys 2>/dev/null || echo 0)"

while true; do sleep 3600; done

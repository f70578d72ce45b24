#!/bin/sh
# udhcpc's hook: apply the lease (address, router, MTU, DNS).
case "$1" in
    bound|renew)
        ip addr flush dev "$interface"
        ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up
        [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
        if [ -n "$router" ]; then
            for r in $router; do route add default gw "$r" dev "$interface"; break; done
        fi
        : > /etc/resolv.conf
        for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
        echo "$ip" > /run/address
        ;;
    deconfig)
        ip addr flush dev "$interface"
        ;;
esac
exit 0

#!/bin/sh
# udhcpc's hook for overcast-tiny (busybox has no default script).
# $1 is the event; the lease is in the environment: $interface $ip $subnet
# $broadcast $router $mtu $dns $domain $staticroutes (the last two when asked for).
# Applies address, MTU, routes and DNS; /run/address holds the current address.
case "$1" in
deconfig)
    ip -4 addr flush dev "$interface" 2>/dev/null
    ip link set dev "$interface" up
    rm -f /run/address
    ;;
bound | renew)
    [ "$(cat /run/address 2>/dev/null)" != "$ip" ] && ip -4 addr flush dev "$interface"
    [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
    ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" \
        ${broadcast:+broadcast "$broadcast"} up
    if [ -n "$staticroutes" ]; then
        # RFC 3442: with classless routes the router option is ignored.
        set -- $staticroutes
        while [ $# -ge 2 ]; do
            if [ "$2" = 0.0.0.0 ]; then
                ip route replace "$1" dev "$interface"
            else
                ip route replace "$1" via "$2" dev "$interface"
            fi
            shift 2
        done
    elif [ -n "$router" ]; then
        for r in $router; do
            ip route replace default via "$r" dev "$interface" && break
        done
    fi
    {
        [ -n "$domain" ] && echo "search $domain"
        for d in $dns; do echo "nameserver $d"; done
    } >/etc/resolv.conf
    echo "$ip" >/run/address
    # Announce the address (gratuitous ARP): a router that already tried to reach it
    # (say, a floating IP probed before the guest was up) learns it now instead of at
    # its next ARP retry, up to a second later.
    arping -U -c 1 -I "$interface" "$ip" >/dev/null 2>&1 &
    ;;
esac
exit 0

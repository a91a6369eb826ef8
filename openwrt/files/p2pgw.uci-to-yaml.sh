#!/bin/sh
# shellcheck shell=sh
#
# p2pgw-uci-to-yaml: prints the p2pgw YAML config that the UCI config /etc/config/p2pgw describes
# (section `config p2pgw 'global'`), banip/netifyd style: every option has the prefix `p2pgw_`.
# Installed as /usr/libexec/p2pgw-uci-to-yaml; /etc/init.d/p2pgw writes its output to
# /var/etc/p2pgw.yaml and starts the daemon with it.
#
# Usage: p2pgw-uci-to-yaml [CONFIG]      CONFIG: the UCI config name (default: p2pgw)
# Exit status: 0 done; 1 an option has a bad value (stderr names it). Unknown p2pgw_* options are
# reported on stderr and ignored. Only options that are set are written; the daemon's defaults apply
# to the rest (/usr/lib/p2pgw/rules/default.yaml lists them) and the daemon validates every value.
#
#   UCI option (section global)          YAML key
#   p2pgw_queue                          queue.num
#   p2pgw_queue_maxlen                   queue.maxlen
#   p2pgw_fail_open (bool)               queue.fail_open
#   p2pgw_rcvbuf                         queue.rcvbuf
#   p2pgw_packets                        classify.packets
#   p2pgw_bytes                          classify.bytes
#   p2pgw_unknown_mark                   classify.unknown_mark
#   list p2pgw_block / p2pgw_allow /     apps.<app>.action: block / allow / inspect
#        p2pgw_inspect '<app>'
#   list p2pgw_mark '<app>:<mark>'       apps.<app>.mark
#   list p2pgw_shape '<app>:<rate>[:<ceil>]'  apps.<app>.shape.rate / .ceil (tc rates: 2mbit, 500kbit)
#   p2pgw_wan_dev / p2pgw_wan_rate       shaping.wan.dev / .rate (HTB on the WAN interface)
#   p2pgw_lan_dev / p2pgw_lan_rate       shaping.lan.dev / .rate
#   p2pgw_default_rate / _ceil           shaping.default.rate / .ceil
#   p2pgw_shape_leaf                     shaping.leaf
#   p2pgw_shape_classifier               shaping.classifier
#   p2pgw_max_flows                      flow.max_flows
#   p2pgw_tcp_idle / p2pgw_udp_idle      flow.tcp_idle / flow.udp_idle (seconds)
#   p2pgw_max_ooo_bytes                  reassembly.max_ooo_bytes
#   p2pgw_max_ooo_segments               reassembly.max_ooo_segments
#   p2pgw_endpoints                      endpoints.size (0 = no endpoint learning)
#   p2pgw_endpoints_ttl                  endpoints.ttl (seconds)
#   p2pgw_learn_packets                  endpoints.learn_packets
#   p2pgw_share_backlog                  endpoints.share_backlog (run --queues N)
#   p2pgw_host_heuristics (bool)         host_heuristics.enabled
#   p2pgw_log_level                      log.level
#   p2pgw_log_dest                       log.dest
#   p2pgw_facility                       log.facility
#   p2pgw_log_socket                     log.socket
#   p2pgw_backend                        iptables.backend
#   p2pgw_chain                          iptables.chain
#   p2pgw_mark_mask                      iptables.mark_mask
#   p2pgw_lost_state                     inspect.lost_state (reset or pass)
#   p2pgw_watchdog_ms                    watchdog.timeout_ms (0 = no watchdog)
#   p2pgw_rules_dir                      rules.dir
# Read by /etc/init.d/p2pgw, not written here: p2pgw_enabled, p2pgw_yaml, p2pgw_flows, p2pgw_max_heap.
#
# P2PGW_FUNCTIONS names the file that provides config_load/config_get/config_get_bool/
# config_list_foreach (default /lib/functions.sh; the tests point it at a stub).

# shellcheck source=/dev/null
. "${P2PGW_FUNCTIONS:-/lib/functions.sh}"

P2PGW_UCI=${1:-p2pgw}
SEC=global
KNOWN_OPTIONS="p2pgw_enabled p2pgw_yaml p2pgw_flows p2pgw_max_heap p2pgw_queue p2pgw_queue_maxlen
	p2pgw_fail_open p2pgw_rcvbuf p2pgw_packets p2pgw_bytes p2pgw_unknown_mark p2pgw_block p2pgw_allow
	p2pgw_inspect p2pgw_mark p2pgw_shape p2pgw_wan_dev p2pgw_wan_rate p2pgw_lan_dev p2pgw_lan_rate
	p2pgw_default_rate p2pgw_default_ceil p2pgw_shape_leaf p2pgw_shape_classifier p2pgw_max_flows p2pgw_tcp_idle p2pgw_udp_idle p2pgw_max_ooo_bytes
	p2pgw_max_ooo_segments p2pgw_endpoints p2pgw_endpoints_ttl p2pgw_learn_packets p2pgw_share_backlog p2pgw_host_heuristics p2pgw_log_level p2pgw_log_dest p2pgw_facility p2pgw_log_socket p2pgw_backend
	p2pgw_chain p2pgw_mark_mask p2pgw_rules_dir p2pgw_lost_state p2pgw_watchdog_ms"

die() {
	printf 'p2pgw-uci-to-yaml: /etc/config/%s: %s\n' "$P2PGW_UCI" "$*" >&2
	exit 1
}

# Called by config_load for every option and list item: warns (once) about names it does not know.
WARNED=
check_option_name() {
	for known in $KNOWN_OPTIONS; do
		[ "$known" != "$1" ] || return 0
	done
	case " $WARNED " in
		*" $1 "*) return 0 ;;
	esac
	WARNED="$WARNED $1"
	printf 'p2pgw-uci-to-yaml: /etc/config/%s: ignoring unknown option %s\n' "$P2PGW_UCI" "$1" >&2
}
option_cb() { check_option_name "$1"; }
list_cb() { check_option_name "$1"; }

# is_uint VALUE: decimal digits, or 0x followed by hex digits.
is_uint() {
	case "$1" in
		0[xX]*)
			case "${1#??}" in
				'' | *[!0-9a-fA-F]*) return 1 ;;
			esac
			;;
		'' | *[!0-9]*) return 1 ;;
	esac
	return 0
}

# yaml_str VALUE: VALUE as a YAML double-quoted scalar.
yaml_str() {
	printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"
}

# Lines of the YAML section being built ("  key: value", newline-separated).
BODY=
add_line() {
	BODY="$BODY
  $1"
}

# flush NAME: prints the section NAME if it got any line.
flush() {
	if [ -n "$BODY" ]; then
		printf '%s:%s\n' "$1" "$BODY"
	fi
	BODY=
}

add_int() { # add_int KEY OPTION
	val=
	config_get val "$SEC" "$2"
	[ -n "$val" ] || return 0
	is_uint "$val" || die "option $2 '$val': not a whole number (decimal, or 0x hex)"
	add_line "$1: $val"
}

add_bool() { # add_bool KEY OPTION
	val=
	config_get val "$SEC" "$2"
	[ -n "$val" ] || return 0
	bool=
	config_get_bool bool "$SEC" "$2" invalid
	case "$bool" in
		1) add_line "$1: true" ;;
		0) add_line "$1: false" ;;
		*) die "option $2 '$val': not a boolean (1/0, yes/no, on/off, true/false, enabled/disabled)" ;;
	esac
}

add_str() { # add_str KEY OPTION
	val=
	config_get val "$SEC" "$2"
	[ -n "$val" ] || return 0
	add_line "$1: $(yaml_str "$val")"
}

# Applications: names in first-seen order, action and mark per name in APP_ACTION_<n>/APP_MARK_<n>.
APPS=
app_var() { # app_var APP: the variable-name suffix of APP (checked: letters, digits, - and _)
	case "$1" in
		'' | *[!a-z0-9_-]* | [!a-z]*) die "application name '$1': expected lowercase letters, digits, - or _ (see: p2pgw rules)" ;;
	esac
	printf '%s' "$1" | tr '-' '_'
}

app_seen() { # app_seen APP
	case " $APPS " in
		*" $1 "*) ;;
		*) APPS="${APPS:+$APPS }$1" ;;
	esac
}

set_action() { # set_action APP ACTION (config_list_foreach callback: the list item comes first)
	var=$(app_var "$1") || exit 1
	eval "prev=\${APP_ACTION_$var:-}"
	if [ -n "$prev" ] && [ "$prev" != "$2" ]; then
		die "application '$1' is listed in both p2pgw_$prev and p2pgw_$2"
	fi
	eval "APP_ACTION_$var=\$2"
	app_seen "$1"
}

set_mark() { # set_mark APP:MARK
	case "$1" in
		*:*) ;;
		*) die "list p2pgw_mark '$1': expected <application>:<mark>, e.g. 'edonkey:0x12'" ;;
	esac
	app=${1%%:*}
	mark=${1#*:}
	var=$(app_var "$app") || exit 1
	is_uint "$mark" || die "list p2pgw_mark '$1': mark '$mark' is not a whole number (decimal, or 0x hex)"
	eval "prev=\${APP_MARK_$var:-}"
	if [ -n "$prev" ] && [ "$prev" != "$mark" ]; then
		die "application '$app' has two marks in p2pgw_mark: $prev and $mark"
	fi
	eval "APP_MARK_$var=\$mark"
	app_seen "$app"
}

set_shape() { # set_shape APP:RATE[:CEIL]
	case "$1" in
		*:?*) ;;
		*) die "list p2pgw_shape '$1': expected <application>:<rate>[:<ceil>], e.g. 'bittorrent:1mbit:2mbit'" ;;
	esac
	app=${1%%:*}
	rest=${1#*:}
	rate=${rest%%:*}
	ceil=
	case "$rest" in
		*:*) ceil=${rest#*:} ;;
	esac
	var=$(app_var "$app") || exit 1
	eval "prev=\${APP_RATE_$var:-}"
	[ -z "$prev" ] || die "application '$app' is in p2pgw_shape twice"
	eval "APP_RATE_$var=\$rate; APP_CEIL_$var=\$ceil"
	app_seen "$app"
}

# add_iface NAME DEV_OPTION RATE_OPTION: a shaping interface block (dev and rate)
add_iface() {
	dev=
	rate=
	config_get dev "$SEC" "$2"
	config_get rate "$SEC" "$3"
	[ -n "$dev$rate" ] || return 0
	add_line "$1:"
	[ -z "$dev" ] || add_line "  dev: $(yaml_str "$dev")"
	[ -z "$rate" ] || add_line "  rate: $(yaml_str "$rate")"
}

config_load "$P2PGW_UCI" || die "cannot read the UCI config"

printf '%s\n' \
	"# p2pgw config generated from /etc/config/$P2PGW_UCI by /etc/init.d/p2pgw (p2pgw-uci-to-yaml)." \
	"# Do not edit: it is rewritten at every start and reload. To write the YAML by hand, edit" \
	"# /etc/p2pgw/p2pgw.yaml and set: uci set $P2PGW_UCI.global.p2pgw_yaml=/etc/p2pgw/p2pgw.yaml"

add_int num p2pgw_queue
add_int maxlen p2pgw_queue_maxlen
add_bool fail_open p2pgw_fail_open
add_int rcvbuf p2pgw_rcvbuf
flush queue

add_int packets p2pgw_packets
add_int bytes p2pgw_bytes
add_int unknown_mark p2pgw_unknown_mark
flush classify

config_list_foreach "$SEC" p2pgw_block set_action block
config_list_foreach "$SEC" p2pgw_allow set_action allow
config_list_foreach "$SEC" p2pgw_inspect set_action inspect
config_list_foreach "$SEC" p2pgw_mark set_mark
config_list_foreach "$SEC" p2pgw_shape set_shape
if [ -n "$APPS" ]; then
	printf 'apps:\n'
	for app in $APPS; do
		var=$(app_var "$app") || exit 1
		eval "action=\${APP_ACTION_$var:-}; mark=\${APP_MARK_$var:-}; rate=\${APP_RATE_$var:-}; ceil=\${APP_CEIL_$var:-}"
		printf '  %s:\n' "$(yaml_str "$app")"
		[ -z "$action" ] || printf '    action: %s\n' "$action"
		[ -z "$mark" ] || printf '    mark: %s\n' "$mark"
		if [ -n "$rate" ]; then
			printf '    shape:\n      rate: %s\n' "$(yaml_str "$rate")"
			[ -z "$ceil" ] || printf '      ceil: %s\n' "$(yaml_str "$ceil")"
		fi
	done
fi

add_int max_flows p2pgw_max_flows
add_int tcp_idle p2pgw_tcp_idle
add_int udp_idle p2pgw_udp_idle
flush flow

add_int max_ooo_bytes p2pgw_max_ooo_bytes
add_int max_ooo_segments p2pgw_max_ooo_segments
flush reassembly

add_int size p2pgw_endpoints
add_int ttl p2pgw_endpoints_ttl
add_int learn_packets p2pgw_learn_packets
add_int share_backlog p2pgw_share_backlog
flush endpoints

add_bool enabled p2pgw_host_heuristics
flush host_heuristics

add_str level p2pgw_log_level
add_str dest p2pgw_log_dest
add_str facility p2pgw_facility
add_str socket p2pgw_log_socket
flush log

add_iface wan p2pgw_wan_dev p2pgw_wan_rate
add_iface lan p2pgw_lan_dev p2pgw_lan_rate
drate=
dceil=
config_get drate "$SEC" p2pgw_default_rate
config_get dceil "$SEC" p2pgw_default_ceil
if [ -n "$drate$dceil" ]; then
	add_line "default:"
	[ -z "$drate" ] || add_line "  rate: $(yaml_str "$drate")"
	[ -z "$dceil" ] || add_line "  ceil: $(yaml_str "$dceil")"
fi
add_str leaf p2pgw_shape_leaf
add_str classifier p2pgw_shape_classifier
flush shaping

add_str backend p2pgw_backend
add_str chain p2pgw_chain
add_int mark_mask p2pgw_mark_mask
flush iptables

add_str dir p2pgw_rules_dir
flush rules

add_str lost_state p2pgw_lost_state
flush inspect

add_int timeout_ms p2pgw_watchdog_ms
flush watchdog

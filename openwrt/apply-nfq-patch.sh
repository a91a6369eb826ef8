#!/bin/sh
# shellcheck shell=sh
#
# apply-nfq-patch.sh PATCH_DIR NFQUEUE_DIR [PATCH_OPTION...]
#
# Applies p2pgw's nfqueue patch (PATCH_DIR/nfqueue+<version>.patch, made by patch-package) to the
# nfqueue package in NFQUEUE_DIR, the way the project's postinstall does, but without patch-package
# (a devDependency the OpenWrt SDK build does not install). Only the source hunks are applied: the
# patch file also records the developer machine's build/ output (Makefile, config.gypi, objects),
# which the SDK build regenerates for the target. Extra options go to patch(1) (the tests use -R).
set -eu

[ $# -ge 2 ] || {
	echo "usage: $0 PATCH_DIR NFQUEUE_DIR [PATCH_OPTION...]" >&2
	exit 2
}
patch_dir=$1
nfq_dir=$2
shift 2

version=$(sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$nfq_dir/package.json" | head -n 1)
patch_file="$patch_dir/nfqueue+$version.patch"
[ -f "$patch_file" ] || {
	echo "$0: no patch for nfqueue $version ($patch_file); p2pgw's patch is for: $(cd "$patch_dir" && ls nfqueue+*.patch)" >&2
	exit 1
}

# Keep the diffs whose path is not under build/; patch -p3 strips a/node_modules/nfqueue/.
awk '/^diff --git /{ keep = ($3 !~ /^a\/node_modules\/nfqueue\/build\//) } keep' "$patch_file" |
	patch -d "$nfq_dir" -p3 --forward --batch "$@"

#!/usr/bin/env bash
# Unpacks proftpd (with its TLS module) and pure-ftpd from their Debian
# packages into DIR, for the tests that run the mount against real
# servers, and FUSE 2's fusermount, for the test that mounts as a user
# where it is the only helper. They conflict with vsftpd and fuse3 at the
# dpkg level, so they are unpacked, not installed; the tests start them
# from DIR with configs of their own (fusermount from a set-user-ID
# copy). DIR is $FTPFS_TEST_SERVERS, else ~/.cache/ftpfs-test-servers
# (where the tests look). proftpd's libraries come from apt (.ci/run).
set -euo pipefail

dir=${FTPFS_TEST_SERVERS:-${XDG_CACHE_HOME:-$HOME/.cache}/ftpfs-test-servers}
pkgs=(proftpd-core proftpd-mod-crypto pure-ftpd pure-ftpd-common fuse)
want=(usr/sbin/proftpd usr/lib/proftpd/mod_tls.so usr/sbin/pure-ftpd usr/bin/pure-pw bin/fusermount)

have() {
	for f in "${want[@]}"; do [ -e "$dir/$f" ] || return 1; done
}
have && exit 0

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
# apt-get download runs as the caller; the package lists may need a
# refresh on a fresh machine.
if ! apt-get download "${pkgs[@]}" >download.log 2>&1; then
	if [ "$(id -u)" -eq 0 ]; then
		apt-get update -q >/dev/null
	else
		sudo apt-get update -q >/dev/null
	fi
	apt-get download "${pkgs[@]}" >download.log 2>&1 || { cat download.log >&2; exit 1; }
fi
mkdir -p "$dir"
for deb in ./*.deb; do
	dpkg-deb -x "$deb" "$dir"
done
have || { echo "test-servers.sh: unpacked, but ${want[*]} are not all in $dir" >&2; exit 1; }
echo "test-servers.sh: proftpd, pure-ftpd and FUSE 2's fusermount unpacked in $dir"

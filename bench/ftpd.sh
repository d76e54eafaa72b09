#!/usr/bin/env bash
# Throughput of `ftpfs serve` against vsftpd on loopback: curl RETRs a
# 512 MiB file and STORs a 256 MiB one on each server, BENCH_REPS times,
# alternating servers so that drift hits both alike, and prints the medians
# and the ratios ftpd/vsftpd. `make bench` runs it after building bin/ftpfs.
#
# Environment: BENCH_RETR_MIB (512), BENCH_STOR_MIB (256), BENCH_REPS (5),
# BENCH_SERVERS ("ftpd vsftpd"), FTPFS_BIN (bin/ftpfs), VSFTPD
# (/usr/sbin/vsftpd), TMPDIR (where the test files go; needs about
# RETR + 3*STOR MiB free).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

retr_mib=${BENCH_RETR_MIB:-512}
stor_mib=${BENCH_STOR_MIB:-256}
reps=${BENCH_REPS:-5}
servers=${BENCH_SERVERS:-ftpd vsftpd}
ftpfs=${FTPFS_BIN:-bin/ftpfs}
vsftpd=${VSFTPD:-/usr/sbin/vsftpd}

die() {
	echo "bench: $*" >&2
	exit 1
}
progress() { echo "bench: $*" >&2; }

command -v curl >/dev/null || die "curl not found (bash .ci/run installs it)"
case " $servers " in *" ftpd "*) [ -x "$ftpfs" ] || die "$ftpfs not found: run make build" ;; esac
case " $servers " in *" vsftpd "*) [ -x "$vsftpd" ] || die "$vsftpd not found (bash .ci/run installs it)" ;; esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ftpfs-bench.XXXXXX")
pids=()
cleanup() {
	# Only the servers this script started, by PID.
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need_mib=$((retr_mib + 3 * stor_mib + 16))
free_mib=$(df -Pm "$tmp" | awk 'NR == 2 { print $4 }')
[ "$free_mib" -ge "$need_mib" ] || die "$tmp: $free_mib MiB free, need $need_mib (set TMPDIR)"

# make_data FILE MIB writes incompressible bytes. AES-CTR over zeros is
# several times faster than /dev/urandom; openssl's exit on SIGPIPE is
# ignored inside the process substitution.
make_data() {
	if command -v openssl >/dev/null; then
		head -c "$(($2 << 20))" < <(openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass pass:ftpfs-bench -in /dev/zero 2>/dev/null) >"$1"
	else
		dd if=/dev/urandom of="$1" bs=1M count="$2" status=none
	fi
	[ "$(stat -c %s "$1")" -eq "$(($2 << 20))" ] || die "could not write $1"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port prints a loopback port nobody listens on (a refused connect).
free_port() {
	local p _
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		if ! port_open "$p"; then
			echo "$p"
			return
		fi
	done
	die "no free port found"
}

# wait_for PID LOG TEST... retries TEST for 10s while PID lives.
wait_for() {
	local pid=$1 log=$2 _
	shift 2
	for _ in $(seq 100); do
		if "$@"; then return; fi
		kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "server exited before it was ready"; }
		sleep 0.1
	done
	cat "$log" >&2
	die "server not ready after 10s"
}

progress "creating ${retr_mib} MiB and ${stor_mib} MiB test files in $tmp"
mkdir -p "$tmp/ftpd-root" "$tmp/vsroot/up" "$tmp/empty"
make_data "$tmp/ftpd-root/big.bin" "$retr_mib"
make_data "$tmp/src.bin" "$stor_mib"
ln "$tmp/ftpd-root/big.bin" "$tmp/vsroot/big.bin"
chmod 755 "$tmp" "$tmp/vsroot" "$tmp/empty"
chmod 644 "$tmp/vsroot/big.bin"

# Per server: base URL, netrc file (curl reads credentials from it, never
# from argv), upload path on the server and on disk.
declare -A url netrc remote upload
for s in $servers; do
	case $s in
	ftpd)
		pw=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
		# printf is a builtin: the password reaches no argv, only the
		# netrc file (mode 600) and ftpfs's environment.
		(
			umask 077
			printf 'machine 127.0.0.1\nlogin bench\npassword %s\n' "$pw" >"$tmp/ftpd.netrc"
		)
		FTPFS_PASSWORD=$pw "$ftpfs" serve --listen 127.0.0.1:0 --user bench "$tmp/ftpd-root" 2>"$tmp/ftpd.log" &
		pids+=($!)
		unset pw
		wait_for "$!" "$tmp/ftpd.log" grep -q 'serving .* on ftp://' "$tmp/ftpd.log"
		addr=$(sed -n 's|^ftpfs serve: serving .* on ftp://\([^ ]*\)$|\1|p' "$tmp/ftpd.log" | head -n 1)
		url[ftpd]="ftp://$addr"
		netrc[ftpd]=$tmp/ftpd.netrc
		remote[ftpd]=up.bin
		upload[ftpd]=$tmp/ftpd-root/up.bin
		;;
	vsftpd)
		# Anonymous with uploads into up/: no system account or PAM setup.
		# As root vsftpd chroots into anon_root and runs sessions as the
		# ftp user, so anon_root must not be writable by it and up/ must.
		# Otherwise vsftpd runs as the caller (and then insists on owning
		# its config file).
		vport=$(free_port)
		if [ "$(id -u)" -eq 0 ]; then
			ftpuser=ftp
			if ! id "$ftpuser" >/dev/null 2>&1; then
				ftpuser=ftpbench
				id "$ftpuser" >/dev/null 2>&1 ||
					useradd --system --no-create-home --shell /usr/sbin/nologin "$ftpuser"
			fi
			chown "$ftpuser" "$tmp/vsroot/up"
			mode="ftp_username=$ftpuser"
		else
			mode="run_as_launching_user=YES"
		fi
		cat >"$tmp/vsftpd.conf" <<-EOF
			listen=YES
			listen_ipv6=NO
			listen_address=127.0.0.1
			listen_port=$vport
			background=NO
			anonymous_enable=YES
			no_anon_password=YES
			local_enable=NO
			write_enable=YES
			anon_root=$tmp/vsroot
			anon_upload_enable=YES
			anon_umask=022
			seccomp_sandbox=NO
			secure_chroot_dir=$tmp/empty
			xferlog_enable=NO
			connect_from_port_20=NO
			$mode
		EOF
		"$vsftpd" "$tmp/vsftpd.conf" >"$tmp/vsftpd.log" 2>&1 &
		pids+=($!)
		wait_for "$!" "$tmp/vsftpd.log" port_open "$vport"
		printf 'machine 127.0.0.1\nlogin anonymous\npassword bench@\n' >"$tmp/vsftpd.netrc"
		url[vsftpd]="ftp://127.0.0.1:$vport"
		netrc[vsftpd]=$tmp/vsftpd.netrc
		remote[vsftpd]=up/up.bin
		upload[vsftpd]=$tmp/vsroot/up/up.bin
		;;
	*) die "unknown server $s in BENCH_SERVERS" ;;
	esac
done

# measure SERVER retr|stor prints bytes per second, after checking that
# every byte arrived.
measure() {
	local s=$1 out speed size want
	case $2 in
	retr)
		want=$((retr_mib << 20))
		out=$(curl -sS --max-time 900 --netrc-file "${netrc[$s]}" -o /dev/null \
			-w '%{speed_download} %{size_download}' "${url[$s]}/big.bin")
		;;
	stor)
		want=$((stor_mib << 20))
		rm -f "${upload[$s]}"
		out=$(curl -sS --max-time 900 --netrc-file "${netrc[$s]}" -T "$tmp/src.bin" \
			-w '%{speed_upload} %{size_upload}' "${url[$s]}/${remote[$s]}")
		size=$(stat -c %s "${upload[$s]}")
		[ "$size" -eq "$want" ] || die "$s stor: $size bytes on disk, want $want"
		;;
	esac
	read -r speed size <<<"$out"
	[ "$size" -eq "$want" ] || die "$s $2: curl moved $size bytes, want $want"
	echo "$speed"
}

median() {
	printf '%s\n' "$@" | sort -g |
		awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

declare -A runs
for i in $(seq "$reps"); do
	for s in $servers; do
		for op in retr stor; do
			progress "run $i/$reps: $s $op"
			runs[$s.$op]+="$(measure "$s" "$op") "
		done
	done
done

echo
echo "loopback, curl, median of $reps runs, MiB/s ($(nproc) CPUs, $(uname -r))"
printf '%-12s %14s %14s\n' server "RETR $retr_mib MiB" "STOR $stor_mib MiB"
declare -A med
for s in $servers; do
	for op in retr stor; do
		# shellcheck disable=SC2086 # one word per run
		med[$s.$op]=$(median ${runs[$s.$op]})
	done
	printf '%-12s %14.1f %14.1f\n' "$s" \
		"$(awk -v b="${med[$s.retr]}" 'BEGIN { print b / 1048576 }')" \
		"$(awk -v b="${med[$s.stor]}" 'BEGIN { print b / 1048576 }')"
done
if [ -n "${med[ftpd.retr]:-}" ] && [ -n "${med[vsftpd.retr]:-}" ]; then
	printf '%-12s %14.2f %14.2f\n' ftpd/vsftpd \
		"$(awk -v a="${med[ftpd.retr]}" -v b="${med[vsftpd.retr]}" 'BEGIN { print a / b }')" \
		"$(awk -v a="${med[ftpd.stor]}" -v b="${med[vsftpd.stor]}" 'BEGIN { print a / b }')"
fi

#!/usr/bin/env bash
# make demo: serve a sample tree with `ftpfs serve`, mount it with
# `ftpfs mount`, list and read it, then keep both running until Ctrl-C
# (DEMO_WAIT=0 stops at once, for a quick check).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bin=bin/ftpfs
tree=demo-tree
mnt=demo-mnt
listen=${DEMO_LISTEN:-127.0.0.1:2121}
# The password travels in the environment: on argv every local user
# could read it with ps.
export FTPFS_PASSWORD=${FTPFS_PASSWORD:-demo}

mkdir -p "$tree/docs/nested" "$tree/upload" "$mnt"
printf 'Served by ftpfs serve, mounted by ftpfs mount.\n' >"$tree/README.txt"
printf 'a name with a space\n' >"$tree/docs/hello world.txt"
printf 'UTF-8 in names and contents: grüße, 日本語\n' >"$tree/docs/grüße-日本語.txt"
printf 'three levels down\n' >"$tree/docs/nested/deep.txt"
head -c 1048576 /dev/zero >"$tree/one-mebibyte.bin"
ln -sfn docs/nested "$tree/link-to-nested"

server=
cleanup() {
	"$bin" unmount "$mnt" 2>/dev/null || true
	[ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
	true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$bin" serve --listen "$listen" --anonymous --user demo --log-commands demo-commands.log "$tree" &
server=$!
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/${listen%:*}/${listen##*:}") 2>/dev/null && break
	sleep 0.1
done

"$bin" mount "ftp://demo@$listen/" "$mnt"
echo "demo: ftp://demo@$listen/ is mounted on $mnt"
echo "\$ ls -lR $mnt"
ls -lR "$mnt"
echo "\$ cat '$mnt/docs/hello world.txt'"
cat "$mnt/docs/hello world.txt"
echo "demo: FTP commands so far: $(wc -l <demo-commands.log) (see demo-commands.log)"
if [ "${DEMO_WAIT:-1}" != 0 ]; then
	echo "demo: try it in another shell (cd $mnt); Ctrl-C unmounts and stops the server"
	wait "$server"
fi

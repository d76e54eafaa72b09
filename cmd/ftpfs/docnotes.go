package main

// What the manual page and the README say beyond each flag's one-line
// help. The flag sets stay the source of every flag's name, argument,
// help and default; these notes add what does not fit a line of -h, and
// TestDocs fails when a note names a flag that does not exist. Text in
// backquotes is code: the README keeps the backquotes, the manual prints
// it in bold.

// flagNotes holds the notes of flags, by flag set name and flag name.
var flagNotes = map[string]map[string]string{
	"ftpfs mount": {
		"tls":             "The certificate is verified against the system's CAs, unless `--tls-ca` or `--tls-fingerprint` says otherwise.",
		"tls-insecure":    "An `ftps://` SERVER is implicit TLS instead.",
		"tls-ca":          "The bundle replaces the system's CAs; an `ftps://` SERVER is implicit TLS instead of `--tls`.",
		"tls-fingerprint": "For self-signed servers: this certificate is accepted on every connection, whoever signed it, and no other. `openssl x509 -noout -fingerprint -sha256` prints it, and its colon form is accepted. An `ftps://` SERVER is implicit TLS instead of `--tls`.",
		"metrics":         "The figures name the files being transferred: bind to loopback unless others may read them. `ftpfs stats` shows the same on the mount's socket.",
		"timeout":         "An exchange is a command and its reply, opening a data connection, or each read or write on one.",
		"dir-cache-ttl":   "A listing answers lookups and stats meanwhile: changes by other clients show up after at most that long; changes made through the mount show at once.",
		"no-atomic-upload": "By default a file is uploaded under a hidden temporary name and renamed over the target once the server acknowledged it. " +
			"The partial file a failed upload leaves is removed if possible.",
		"cache-dir": "Created with mode 0700. It and its `staging/` must be real directories (not symlinks) of the mounting user, not writable by group or others, " +
			"below directories owned by root or the mounting user that others cannot write (unless sticky, as `/tmp`); otherwise the mount refuses and says why.",
		"no-pipelining": "By default independent commands travel together (a directory's MDTMs, listings over STAT, an upload's size check with its end, " +
			"a commit's rename with its time and mode, the login of every connection after the first), and the mount falls back to one at a time by itself " +
			"when replies come back out of step or not at all; this flag is for a server that misbehaves without showing it.",
		"max-listing-entries": "The failure leaves a line in the log. The cap keeps a server that sends a listing without end from filling this machine's memory " +
			"(the default allows 256 MiB). The cap is per listing: with `--connections N`, up to N listings can be read at once.",
		"telnet-iac": "A 0xFF byte is `ÿ` in Latin-1, `я` in windows-1251. Under `auto`, the default banners of vsftpd and pure-ftpd " +
			"get it as it is (they keep an IAC IAC as two bytes of the name), proftpd's gets it doubled, any other server gets RFC 959 (doubled in commands, " +
			"undoubled in replies, as ftpd does); the mount log says which once. Force `double` or `raw` for a server whose banner was changed: " +
			"a vsftpd or pure-ftpd with a custom banner needs `raw`, else names with 0xFF show up doubled and DELE or RENAME of such a name reach another file.",
		"server-timezone": "RFC 3659 puts MDTM's times in UTC. With this flag LIST's and MDTM's times are read in ZONE, and the times `touch`, `cp -p` and `rsync -t` set (MFMT, `MDTM time path`) are sent in it; " +
			"MLSD's facts stay UTC. A zone name follows daylight saving; an offset does not. The POSIX forms (`UTC+9`), whose sign runs the other way, are refused. " +
			"Without it, a mount that uploads compares the first upload's MDTM with the clock: an offset of whole quarters of an hour, within two minutes, " +
			"is taken as the server's (the log says so once, and listings read before are read again); `ftpfs doctor` recommends the flag where it finds one.",
		"encoding": "For servers from before UTF-8 (IIS with UTF8 off, appliances); IANA or WHATWG names (cp1251, sjis, latin1...). `OPTS UTF8 ON` is not sent. " +
			"Without it, names that are not UTF-8 show as their raw bytes and the log says so once, with a guess; `ftpfs doctor` checks a whole directory and recommends one.",
		"active": "Only a data connection from the server's address is taken, within `--timeout`; any other is closed and the wait goes on. " +
			"Nothing is opened ahead in active mode, so a transfer costs a round trip or two more than in passive mode, where the next data connection opens during the last transfer (a download or listing sends its port, offset and command in one write once a port worked on its connection; an upload one at a time). Refused with a proxy.",
		"proxy": "`socks5h://` is the same as `socks5://`: the proxy resolves the server's name. Many HTTP proxies allow CONNECT to port 443 only. " +
			"`$no_proxy` (or `$NO_PROXY`) takes `*`, hosts, domains with or without their leading dot, IP addresses and CIDR blocks; it does not bind `--proxy`. " +
			"The mount says which proxy of the environment it uses. A proxy password (`socks5://USER:PASS@HOST:PORT`) is taken from those variables only, " +
			"never from the command line, where `ps` shows it; it never appears in a log or an error.",
		"tls-client-cert": "Presented on the control connection and on every data connection. Encrypted keys are not read.",
		"o":               "Repeatable, and `-oOPTS` works too; the options are described below.",
	},
	"ftpfs serve": {
		"max-sessions":        "Sessions beyond get 421.",
		"implicit-tls-listen": "Implicit FTPS speaks TLS from the first byte.",
		"tls-cert":            "With it the server takes `AUTH TLS`, `PBSZ` and `PROT`.",
		"fault-stall-after":   "Nothing more is sent until the client gives up.",
		"allow-special-modes": "`SITE CHMOD` of DIR itself, by any name or symlink, is always refused (550).",
		"tls-client-ca":       "On control and data connections alike.",
		"tls-required":        "USER before AUTH TLS gets 530, a data connection before PROT P gets 521, and PROT C gets 534.",
		"profile": "`full` has MLSD, MLST, MFMT, SIZE, MDTM and AVBL; `vsftpd` has no MLSD, MLST or MFMT, gives LIST times to the minute and sets times with `MDTM time path`; " +
			"`dos` sends IIS-style LIST lines.",
		"fault-reply-delay":     "Commands sent together are answered together.",
		"timezone":              "For tests of `ftpfs mount --server-timezone`; MFMT, which vsftpd lacks, is read in the zone too.",
		"fault-stor-full-after": "As on a full disk; the bytes written stay.",
		"fault-refuse":          "450 or 451 for passing trouble; 425, 452, 550, 553; 502 for a missing command.",
	},
}

// optionDoc is a row of the -o options that are no flags: head names
// them ("uid=N, gid=N"), text says what they do.
type optionDoc struct{ head, text string }

// mountOptionDocs documents mountOptions; TestDocs checks that together
// they name exactly its options.
var mountOptionDocs = []optionDoc{
	{"ro, rw", "read-only mount, or read-write (the default)"},
	{"noexec, exec", "forbid running programs from the mount, or allow it (the default)"},
	{"nosuid, nodev", "accepted: the mount is always nosuid and nodev, so that no file of the server becomes a setuid program or a device here. " +
		"`suid` and `dev` (which mount.fuse3 adds by itself unless `nosuid` and `nodev` are given) are ignored"},
	{"allow_other", "let other users in (with `default_permissions`); needs root or `user_allow_other` in `/etc/fuse.conf`"},
	{"uid=N, gid=N", "owner and group of every file (default: the user who mounts)"},
	{"umask=OCTAL", "clear these permission bits from the modes the server reports, or from 0777/0666 if it reports none (default `022`)"},
	{"chmod=ignore", "make chmod succeed without changing anything (otherwise `SITE CHMOD`, or EPERM)"},
	{"symlinks=raw", "show the server's symlink targets exactly as it sends them, as sshfs does: the kernel then resolves absolute targets, " +
		"and relative ones that climb out of the mount, against this machine's files (default `symlinks=safe`: targets inside the mounted directory are shown relative to the link, and one outside it as a dangling link under `.ftpfs-outside-mount/`, so that following it never reaches this machine's files)"},
	{"user=NAME", "log in as NAME, as `--user`. Some versions of mount(8) pass `user=LOCALNAME` themselves when a user mounts an fstab line marked `user`: " +
		"a `user=` naming the mounting user yields to a user named in SERVER"},
}

// optionsIntro is what the manual says of -o before the table.
const optionsIntro = "Every flag of `ftpfs mount` is an `-o` option too, its name spelled with `_` for `-`: `-o cache_dir=DIR,timeout=10s,connections=2`, " +
	"and a switch without a value, `-o tls,no_pipelining` (or `tls=false`). Flags and `-o` options take effect in the order given, the last one winning. " +
	"Only `-f` (`--foreground`) has no `-o` spelling: mount(8) waits for the mount command to return. " +
	"Passwords are never options (`-o password=...` is refused): use `password_file=FILE` or `~/.netrc`. Besides, `-o` takes:"

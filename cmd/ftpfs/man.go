package main

import (
	"fmt"
	"io"
	"strings"
	"unicode"
)

// The manual page ftpfs(1), rendered from what -h prints (the commands'
// help and flag sets) with flagNotes and mountOptionDocs: "ftpfs help
// --man" prints it, so that a binary installed without make install has
// its page too, and "make docs" writes it to man/ftpfs.1. TestDocs fails
// when the file differs from what the flag sets give.

// manPath is where the repository keeps the page, relative to its root.
const manPath = "man/ftpfs.1"

// docText is an item's text in the manual and the README: its -h line,
// then its note where the item is a flag of cmd's own flag set (doctor
// lists some of mount's flags, whose notes belong to mount).
func docText(cmd string, it helpItem) string {
	if n := flagNotes[it.set][it.flag]; n != "" && it.set == "ftpfs "+cmd {
		return it.text + ". " + n
	}
	return it.text
}

// roffEscape makes s roff text: backslashes and hyphens escaped (a bare
// "-" may print as a hyphen that a pasted flag does not match), and
// anything beyond ASCII named by its code point, which groff reads
// without a preprocessor.
func roffEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r == '-':
			b.WriteString(`\-`)
		case r > unicode.MaxASCII:
			fmt.Fprintf(&b, `\[u%04X]`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// roffText renders text whose `backquoted` spans are code, in bold.
func roffText(s string) string {
	parts := strings.Split(s, "`")
	for i, p := range parts {
		parts[i] = roffEscape(p)
		if i%2 == 1 {
			parts[i] = `\fB` + parts[i] + `\fR`
		}
	}
	return strings.Join(parts, "")
}

// man writes roff, line by line.
type man struct{ w io.Writer }

// request writes a request line, such as .TP or .SH NAME.
func (m man) request(format string, args ...any) { fmt.Fprintf(m.w, format+"\n", args...) }

// text writes the lines of s: a blank line starts a paragraph, and a line
// that would start with a control character is protected.
func (m man) text(s string) {
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		switch {
		case strings.TrimSpace(l) == "":
			m.request(".PP")
		case l[0] == '.' || l[0] == '\'':
			m.request(`\&%s`, roffText(l))
		default:
			m.request("%s", roffText(l))
		}
	}
}

// item writes a tagged paragraph: head in bold (its arg, if any, in
// italics), text below it.
func (m man) item(names []string, arg, text string) {
	m.request(".TP")
	for i, n := range names {
		names[i] = `\fB` + roffEscape(n) + `\fR`
	}
	head := strings.Join(names, ", ")
	if arg != "" {
		head += ` \fI` + roffEscape(arg) + `\fR`
	}
	m.request(`\&%s`, head)
	m.text(text)
}

// writeMan writes the manual page.
func writeMan(w io.Writer) {
	m := man{w}
	m.request(`.\" Generated from the flag definitions of cmd/ftpfs by "make docs" (ftpfs help --man): do not edit.`)
	m.request(`.TH FTPFS 1 "" ftpfs "User Commands"`)
	m.request(".nh\n.ad l") // flags and paths are not hyphenated, lines not stretched
	m.request(".SH NAME")
	m.text("ftpfs - mount an FTP server as a local filesystem (FUSE)")

	m.request(".SH SYNOPSIS")
	m.request(".nf")
	for _, c := range commands {
		m.request(`\fBftpfs %s\fR %s`, roffEscape(c.help.name), roffEscape(c.help.args))
	}
	m.request(`\fBftpfs help\fR [\fICOMMAND\fR | \fB\-\-man\fR]`)
	m.request(`\fBftpfs\fR SERVER MOUNTPOINT \fB\-o\fR OPTS`)
	m.request(`\fBmount \-t fuse.ftpfs\fR SERVER MOUNTPOINT [\fB\-o\fR OPTS]`)
	m.request(".fi")

	m.request(".SH DESCRIPTION")
	m.text(manDescription)

	m.request(".SH COMMANDS")
	for _, c := range commands {
		h := c.help
		m.request(`.SS "ftpfs %s"`, roffEscape(strings.TrimSpace(h.name+" "+h.args)))
		m.text(strings.ToUpper(h.summary[:1]) + h.summary[1:] + ".")
		if h.about != "" {
			m.request(".PP")
			m.text(h.about)
		}
		if h.lists == nil {
			continue
		}
		for _, l := range h.lists() {
			m.request(".PP")
			m.text(strings.ToUpper(l.title[:1]) + l.title[1:] + ":")
			for _, it := range l.items {
				m.item(strings.Split(strings.TrimSuffix(it.head, " "+it.arg), ", "), it.arg, docText(h.name, it))
			}
		}
	}

	m.request(`.SH "MOUNT OPTIONS"`)
	m.text(optionsIntro)
	for _, o := range mountOptionDocs {
		m.item(strings.Split(o.head, ", "), "", o.text+".")
	}
	m.request(".PP")
	m.text("Ignored, as options of mount(8), mount.fuse3 or systemd, or of no use to ftpfs (which keeps no access times): `" +
		strings.Join(ignoredOptions, "`, `") + "`, and every `x-...` (`x-systemd.automount`, `x-systemd.idle-timeout=...`). " +
		"Any other option is an error that names it, without its value.")

	for _, s := range manSections {
		m.request(".SH %s", s.title)
		if s.text != "" {
			m.text(s.text)
		}
		for _, it := range s.items {
			m.item(strings.Split(it.head, ", "), "", it.text+".")
		}
		if s.pre != nil {
			m.request(".PP\n.RS 4\n.nf")
			for _, l := range s.pre {
				m.request(`\&%s`, roffEscape(l))
			}
			m.request(".fi\n.RE")
		}
	}
}

// manDescription is the page's DESCRIPTION.
const manDescription = `ftpfs mounts a directory of an FTP or FTPS server on MOUNTPOINT, so that ordinary programs read and write its files. ` +
	`Listings are cached for ` + "`--dir-cache-ttl`" + `, file contents in blocks, and writes are staged in the cache directory: ` +
	`close() and fsync() return only once the server has acknowledged the whole file under its final name, and report the error otherwise. ` +
	"`ftpfs mount`" + ` returns once the mount works and serves it in the background until ` + "`ftpfs unmount`" + `, ` + "`umount`" + ` or SIGTERM.

The password never comes from the command line or from ` + "`-o`" + `: it comes from ` + "`--password-file`" + `, $FTPFS_PASSWORD, ` +
	"`--password-stdin`" + `, the netrc file, or a prompt on the terminal, in that order. ` +
	`A netrc or password file must be the mounting user's alone.

mount(8) mounts an fstab line of type ` + "`fuse.ftpfs`" + ` through mount.fuse3, which runs ` + "`ftpfs SERVER MOUNTPOINT -o OPTS`" + `: ` +
	`ftpfs reads that as ` + "`ftpfs mount`" + `. mount(8) looks for /sbin/mount.fuse.ftpfs, then /sbin/mount.fuse; ` +
	"`make install`" + ` links the first to mount.fuse3 for systems whose fuse3 has no mount.fuse. ` +
	`mount.fuse3 finds ftpfs in /usr/local/sbin, /usr/local/bin, /usr/sbin, /usr/bin, /sbin or /bin.`

// manSection is a section after MOUNT OPTIONS: text, then tagged items,
// then lines shown as they are.
type manSection struct {
	title string
	text  string
	items []optionDoc
	pre   []string
}

// manSections are the sections after MOUNT OPTIONS.
var manSections = []manSection{
	{title: "ENVIRONMENT", items: []optionDoc{
		{"FTPFS_PASSWORD", "the password, for `ftpfs mount`, `ftpfs doctor` and `ftpfs serve --user`"},
		{"NETRC", "the netrc file, instead of `~/.netrc`"},
		{"XDG_CACHE_HOME", "the default cache directory is `$XDG_CACHE_HOME/ftpfs`, else `~/.cache/ftpfs`"},
	}},
	{title: "FILES", items: []optionDoc{
		{"~/.netrc", "logins and passwords by host, the mounting user's alone (mode 0600)"},
		{"CACHE_DIR/" + daemonLog + ", CACHE_DIR/" + daemonLog + ".1", "the background mount's log, and the one before it (`--log-size`)"},
		{"CACHE_DIR/staging/", "files written and not yet on the server, and those whose upload failed (`ftpfs status` lists them)"},
		{"/etc/fstab", "mounts of type `fuse.ftpfs`"},
		{"/sbin/mount.fuse.ftpfs", "the mount(8) helper, a link to mount.fuse3"},
	}},
	{title: `"EXIT STATUS"`, text: "0 on success; 1 when the command failed, with the reason in one line on stderr; 2 for a command line it does not take."},
	{title: "EXAMPLES", pre: []string{
		"FTPFS_PASSWORD=... ftpfs mount ftp://alice@ftp.example.org/ /mnt/site",
		"ftpfs mount --tls -o ro,allow_other ftp.example.org /mnt/site",
		"ftpfs unmount /mnt/site",
		"ftpfs doctor ftp://alice@ftp.example.org/",
		"",
		"# /etc/fstab: mounted on first use",
		"ftp://alice@ftp.example.org/ /mnt/site fuse.ftpfs _netdev,nofail,noauto,x-systemd.automount,password_file=/etc/ftpfs/site.pw,cache_dir=/var/cache/ftpfs/site 0 0",
	}},
	{title: `"SEE ALSO"`, text: "mount(8), fstab(5), mount.fuse3(8), fusermount3(1), netrc(5), systemd.mount(5)"},
}

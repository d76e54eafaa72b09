# Targets: build, install, uninstall, docs, test, lint, bench, bench-link,
# demo. See README.md.

GO ?= go
BIN ?= bin/ftpfs

# The version -X sets in main.version: the nearest tag, else the commit,
# with -dirty for a changed tree. Outside a git checkout (a tarball) it is
# empty and the binary reports its module's version, or devel. A package
# build may name it: make VERSION=1.2.3 (the environment's VERSION, often
# set for something else, does not count).
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null)

# make install [PREFIX=/usr/local] [DESTDIR=...]: the binary, ftpfs(1),
# and the link mount(8) runs for fstab lines of type fuse.ftpfs. libmount
# looks for mount helpers in /sbin (then /sbin/fs.d, /sbin/fs), not under
# PREFIX: the link goes to MOUNTHELPERDIR, /sbin unless set, and
# MOUNTHELPERDIR= (empty) leaves it out, as for an install without root.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
MOUNTHELPERDIR ?= /sbin

.PHONY: build install uninstall docs test lint bench bench-link demo clean

GOBUILD = $(GO) build $(if $(VERSION),-ldflags "-X main.version=$(VERSION)") -o $(BIN) ./cmd/ftpfs
GOSOURCES := $(shell find . -name '*.go' -not -path './.git/*') go.mod go.sum

build:
	$(GOBUILD)

# install builds only when a source is newer than the binary, so that
# "make build && sudo make install" needs no go command as root.
$(BIN): $(GOSOURCES)
	$(GOBUILD)

# mount.fuse.ftpfs is mount.fuse3 under another name: mount.fuse3 takes
# the type from its name and runs "ftpfs SERVER MOUNTPOINT -o OPTS". Debian
# ships /sbin/mount.fuse, which mount(8) also tries; other systems' fuse3
# has only mount.fuse3, and there mount(8) needs this link.
install: $(BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/ftpfs
	install -m 0644 man/ftpfs.1 $(DESTDIR)$(MANDIR)/man1/ftpfs.1
	$(if $(MOUNTHELPERDIR),install -d $(DESTDIR)$(MOUNTHELPERDIR) && ln -sfn mount.fuse3 $(DESTDIR)$(MOUNTHELPERDIR)/mount.fuse.ftpfs)

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/ftpfs $(DESTDIR)$(MANDIR)/man1/ftpfs.1
	$(if $(MOUNTHELPERDIR),rm -f $(DESTDIR)$(MOUNTHELPERDIR)/mount.fuse.ftpfs)

# Regenerates man/ftpfs.1 and the README's flag tables from the flag
# definitions in cmd/ftpfs; TestDocs fails until they are committed.
docs:
	$(GO) test ./cmd/ftpfs -run '^TestDocs$$' -count=1 -args -update-docs

lint:
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt -l: not formatted:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	@mains=$$($(GO) list -f '{{if eq .Name "main"}}{{.ImportPath}}{{end}}' ./...) || exit 1; \
	dead=$$($(GO) tool deadcode $$mains) || exit 1; \
	if [ -n "$$dead" ]; then echo "deadcode: no binary reaches these (remove them, or move test helpers into _test.go files):"; echo "$$dead"; exit 1; fi

# The race detector needs cgo and a C compiler (.ci/run installs gcc). The
# GOMAXPROCS=1 pass finds tests that only pass when goroutines run in parallel.
test: lint
	$(GO) test -race -count=1 -timeout 30m ./...
	GOMAXPROCS=1 $(GO) test -count=1 -timeout 30m ./...

bench: build
	bash bench/ftpd.sh
	$(GO) run ./bench/mount

# Only the link rows of bench/mount, on all four servers; ARGS adds flags,
# e.g. ARGS='-servers proftpd -rtt 100ms -rows up40 -rounds 1'.
bench-link: build
	bash scripts/test-servers.sh
	$(GO) run ./bench/mount -only link -servers ftpd,ftpd-vsftpd,vsftpd,proftpd $(ARGS)

# Serves a sample tree with ftpfs serve, mounts it with ftpfs mount and
# lists it (scripts/demo.sh); Ctrl-C stops both.
demo: build
	bash scripts/demo.sh

clean:
	rm -rf bin demo-tree demo-commands.log; rmdir demo-mnt 2>/dev/null || true

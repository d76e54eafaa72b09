# Targets: build, docs, test, lint, bench, bench-link, demo. See README.md.

GO ?= go
BIN := bin/ftpfs

.PHONY: build docs test lint bench bench-link demo clean

build:
	$(GO) build -o $(BIN) ./cmd/ftpfs

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

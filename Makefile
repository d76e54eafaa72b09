# Targets: build, test, lint, bench, demo. See README.md.

GO ?= go
BIN := bin/ftpfs
DEMO_DIR := demo-tree
DEMO_LISTEN := 127.0.0.1:2121

.PHONY: build test lint bench demo clean

build:
	$(GO) build -o $(BIN) ./cmd/ftpfs

lint:
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt -l: not formatted:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

# The race detector needs cgo and a C compiler (.ci/run installs gcc). The
# GOMAXPROCS=1 pass finds tests that only pass when goroutines run in parallel.
test: lint
	$(GO) test -race -count=1 -timeout 30m ./...
	GOMAXPROCS=1 $(GO) test -count=1 -timeout 30m ./...

bench: build
	bash bench/ftpd.sh

# The password reaches ftpfs through the environment: on argv, every local
# user could read it in ps.
demo: build
	@mkdir -p '$(DEMO_DIR)/docs/nested' '$(DEMO_DIR)/upload'
	@printf 'Served by ftpfs serve.\n' > '$(DEMO_DIR)/README.txt'
	@printf 'a name with a space\n' > '$(DEMO_DIR)/docs/hello world.txt'
	@printf 'UTF-8 in names and contents: grüße, 日本語\n' > '$(DEMO_DIR)/docs/grüße-日本語.txt'
	@printf 'three levels down\n' > '$(DEMO_DIR)/docs/nested/deep.txt'
	@head -c 1048576 /dev/zero > '$(DEMO_DIR)/one-mebibyte.bin'
	@echo "demo: anonymous (read-only), or user demo with password \$$FTPFS_PASSWORD (default demo)"
	@echo "demo: try  curl ftp://$(DEMO_LISTEN)/docs/   or   lftp -u demo $(DEMO_LISTEN)   (Ctrl-C stops)"
	FTPFS_PASSWORD="$${FTPFS_PASSWORD:-demo}" exec ./$(BIN) serve --listen $(DEMO_LISTEN) \
		--anonymous --user demo --log-commands - '$(DEMO_DIR)'

clean:
	rm -rf bin '$(DEMO_DIR)'

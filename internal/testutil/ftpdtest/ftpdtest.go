// Package ftpdtest starts the project's FTP server for tests of its
// clients (conn, fs, the ftpfs command). It is test support, like its
// parent testutil: import it from _test.go files only. ftpd's own tests
// cannot import it (it imports ftpd) and keep a harness of their own.
package ftpdtest

import (
	"log/slog"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
)

// The login that Serve sets up.
const (
	User     = "tester"
	Password = "pw-not-in-logs"
)

// Start starts a server with cfg as given and closes it when the test
// ends. A config without a Logger or a CommandLog gets a buffer for each,
// shown when the test fails.
func Start(t testing.TB, cfg ftpd.Config) *ftpd.Server {
	t.Helper()
	if cfg.Logger == nil {
		events := &testutil.Buffer{}
		cfg.Logger = slog.New(slog.NewTextHandler(events, &slog.HandlerOptions{Level: slog.LevelDebug}))
		testutil.LogOnFailure(t, "ftpd events", events, 60)
	}
	if cfg.CommandLog == nil {
		commands := &testutil.Buffer{}
		cfg.CommandLog = commands
		testutil.LogOnFailure(t, "ftpd command log", commands, 60)
	}
	srv, err := ftpd.New(cfg)
	if err != nil {
		t.Fatalf("ftpd.New: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("ftpd Start: %v", err)
	}
	testutil.CloseAtEnd(t, "ftpd", srv)
	return srv
}

// Server is a server started by Serve.
type Server struct {
	*ftpd.Server
	Root string
	// Config is the config it runs with, Listen its actual address, to
	// start it again on the same address (after a test stopped it).
	Config ftpd.Config
}

// Serve serves root (a new temp dir when "") on a free loopback port
// for User with Password, failed logins delayed by a millisecond only,
// then applies mods.
func Serve(t testing.TB, root string, mods ...func(*ftpd.Config)) *Server {
	t.Helper()
	if root == "" {
		root = t.TempDir()
	}
	cfg := ftpd.Config{
		Root:           root,
		Listen:         "127.0.0.1:0",
		Users:          map[string]string{User: Password},
		LoginFailDelay: time.Millisecond,
	}
	for _, m := range mods {
		m(&cfg)
	}
	srv := Start(t, cfg)
	cfg.Listen = srv.Addr().String()
	return &Server{Server: srv, Root: root, Config: cfg}
}

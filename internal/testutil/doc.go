// Package testutil is what the project's tests share: the rule for what a
// test may skip, the ftpfs binary built once per `go test` run,
// self-signed certificates, a buffer safe for concurrent writers, file
// trees written and compared, and waits with a deadline.
//
// It is for tests only: import it from _test.go files, never from a
// package that ships (TestOnlyTestsImport fails if one does, and the
// package panics in a program that is not a test).
// It imports nothing of the project, so that every package's internal
// tests can use it; helpers that need a project package live in
// sub-packages (ftpdtest starts ftpd, so ftpd's own tests cannot import it).
//
// # Unavailable means failed in CI
//
// A test that needs something the machine may lack (FUSE, root, a client
// tool) calls Unavailable or one of the Need functions. Outside CI the test
// is skipped; in CI (CI=true) it fails, because everything a test needs is
// part of the CI image and a skip there would hide a test that never runs.
package testutil

import "testing"

func init() {
	if !testing.Testing() {
		panic("ftpfs/internal/testutil is imported by a program that is not a test")
	}
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStatus(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := status([]string{"--cache-dir", dir}, &out, &errb, inputs("/home/u", nil)); code != 0 || !strings.Contains(out.String(), "no staged uploads") {
		t.Fatalf("empty: %d %q %q", code, out.String(), errb.String())
	}
	staging := filepath.Join(dir, "staging")
	os.MkdirAll(staging, 0o700)
	os.WriteFile(filepath.Join(staging, "ab12-report.txt"), []byte("bytes"), 0o600)
	os.WriteFile(filepath.Join(staging, "ab12-report.txt.json"), []byte(`{"server":"ftp://h/","path":"docs/report.txt","size":5,"time":"2026-01-02T03:04:05Z"}`), 0o600)
	// A description whose bytes were recovered and removed is not listed.
	os.WriteFile(filepath.Join(staging, "gone.json"), []byte(`{"server":"ftp://h/","path":"gone","size":1}`), 0o600)
	out.Reset()
	if code := status([]string{"--cache-dir", dir}, &out, &errb, inputs("/home/u", nil)); code != 0 {
		t.Fatalf("status: %d %q", code, errb.String())
	}
	if s := out.String(); !strings.Contains(s, "1 file(s)") || !strings.Contains(s, "ftp://h//docs/report.txt") || !strings.Contains(s, "ab12-report.txt") || strings.Contains(s, "gone") {
		t.Fatalf("status output:\n%s", s)
	}
}

package testutil

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// RandBytes is n bytes of pseudo-random content, the same for the same
// seed, so that a failure repeats.
func RandBytes(seed uint64, n int) []byte {
	r := mrand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 1})
	b := make([]byte, n)
	_, _ = r.Read(b)
	return b
}

// WriteFile writes data to p, mode 0644, making its parent directories.
func WriteFile(t testing.TB, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Tree is a file tree by slash-separated path: each file's content, and
// each empty directory as a path ending in "/".
type Tree map[string][]byte

// WriteTree writes tree below root.
func WriteTree(t testing.TB, root string, tree Tree) {
	t.Helper()
	for name, data := range tree {
		p := filepath.Join(root, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		WriteFile(t, p, data)
	}
}

// SameBytes says where two contents differ, without printing megabytes.
func SameBytes(got, want []byte) error {
	if bytes.Equal(got, want) {
		return nil
	}
	n := min(len(got), len(want))
	i := 0
	for i < n && got[i] == want[i] {
		i++
	}
	return fmt.Errorf("content differs: got %d bytes, want %d, first difference at offset %d", len(got), len(want), i)
}

// SameTree checks that got holds exactly want's names, each a directory
// where want has one, and each file with want's bytes. Anything but
// directories and regular files is an error.
func SameTree(want, got string) error {
	w, err := readTree(want)
	if err != nil {
		return err
	}
	g, err := readTree(got)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(w))
	for n := range w {
		names = append(names, n)
	}
	for n := range g {
		if _, ok := w[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var errs []error
	for _, n := range names {
		we, wok := w[n]
		ge, gok := g[n]
		switch {
		case !gok:
			errs = append(errs, fmt.Errorf("%q: missing in %s", n, got))
		case !wok:
			errs = append(errs, fmt.Errorf("%q: unexpected in %s", n, got))
		case we.dir != ge.dir:
			errs = append(errs, fmt.Errorf("%q: directory=%v, want %v", n, ge.dir, we.dir))
		case !we.dir:
			if err := SameBytes(ge.data, we.data); err != nil {
				errs = append(errs, fmt.Errorf("%q: %v", n, err))
			}
		}
	}
	return errors.Join(errs...)
}

type treeEntry struct {
	dir  bool
	data []byte
}

func readTree(dir string) (map[string]treeEntry, error) {
	m := map[string]treeEntry{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			m[rel] = treeEntry{dir: true}
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file (%v)", rel, d.Type())
		}
		b, err := os.ReadFile(p)
		m[rel] = treeEntry{data: b}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("walk %s: %w", dir, err)
	}
	return m, nil
}

// SameFiles checks that every regular file below want is at the same
// path below got with the same bytes; got may hold more. It returns
// errors rather than failing the test, so that workers can call it.
func SameFiles(want, got string) error {
	var errs []error
	err := filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		a, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(filepath.Join(got, rel))
		if err == nil {
			err = SameBytes(b, a)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", rel, err))
		}
		return nil
	})
	return errors.Join(append(errs, err)...)
}

package main

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
)

// The README's flag tables and man/ftpfs.1 are generated from the flag
// sets (with flagNotes and mountOptionDocs): "make docs" runs TestDocs
// with -update-docs, which rewrites both; without it, TestDocs fails when
// either differs from what the flag sets give.

var updateDocs = flag.Bool("update-docs", false, "rewrite man/ftpfs.1 and the README's generated tables (make docs)")

// readmePath is the README, from this package's directory.
const readmePath = "../../README.md"

// The README's generated blocks lie between a begin marker naming what
// they hold and the end marker. A key is "ftpfs COMMAND, LIST TITLE" for
// a list of a command's help, or optionsKey.
const (
	beginMarker = "<!-- make docs: "
	endMarker   = "<!-- end make docs -->"
	optionsKey  = "ftpfs mount, -o options"
)

// eachList calls fn with the key of every list of every command's help.
func eachList(fn func(key string, cmd string, l helpList)) {
	for _, c := range commands {
		if c.help.lists == nil {
			continue
		}
		for _, l := range c.help.lists() {
			fn("ftpfs "+c.help.name+", "+l.title, c.help.name, l)
		}
	}
}

// markdownCell escapes what would end a table cell.
func markdownCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// docBlock renders the table of a key.
func docBlock(key string) (string, error) {
	var b strings.Builder
	if key == optionsKey {
		b.WriteString("| `-o` option | Meaning |\n|-------------|---------|\n")
		for _, o := range mountOptionDocs {
			fmt.Fprintf(&b, "| `%s` | %s |\n", strings.Join(strings.Split(o.head, ", "), "`, `"), markdownCell(o.text))
		}
		return b.String(), nil
	}
	eachList(func(k, cmd string, l helpList) {
		if k != key || b.Len() > 0 {
			return
		}
		b.WriteString("| Flag | Meaning |\n|------|---------|\n")
		for _, it := range l.items {
			names := strings.Split(strings.TrimSuffix(it.head, " "+it.arg), ", ")
			if it.arg != "" {
				names[len(names)-1] += " " + it.arg
			}
			fmt.Fprintf(&b, "| `%s` | %s |\n", markdownCell(strings.Join(names, "`, `")), markdownCell(docText(cmd, it)))
		}
	})
	if b.Len() > 0 {
		return b.String(), nil
	}
	return "", fmt.Errorf("README: no list %q in the commands' help (keys: ftpfs COMMAND, LIST TITLE, or %q)", key, optionsKey)
}

// regenerateReadme returns readme with each generated block rendered
// anew, and the keys of the blocks it found.
func regenerateReadme(readme string) (string, []string, error) {
	var out strings.Builder
	var keys []string
	rest := readme
	for {
		before, after, ok := strings.Cut(rest, beginMarker)
		out.WriteString(before)
		if !ok {
			return out.String(), keys, nil
		}
		key, after, ok := strings.Cut(after, " -->\n")
		if !ok {
			return "", nil, fmt.Errorf("README: a %q marker without its closing -->", beginMarker)
		}
		_, after, ok = strings.Cut(after, endMarker)
		if !ok {
			return "", nil, fmt.Errorf("README: the block %q has no %s", key, endMarker)
		}
		block, err := docBlock(key)
		if err != nil {
			return "", nil, err
		}
		fmt.Fprintf(&out, "%s%s -->\n\n%s\n%s", beginMarker, key, block, endMarker)
		keys, rest = append(keys, key), after
	}
}

// TestDocs: man/ftpfs.1 and the README's tables are what the flag sets
// give, and every flag is in one of the README's tables.
func TestDocs(t *testing.T) {
	var page bytes.Buffer
	writeMan(&page)
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	readme, keys, err := regenerateReadme(string(b))
	if err != nil {
		t.Fatal(err)
	}
	// Every flag is in a table: in one of its command's lists, or of
	// the command whose flag set it is (doctor lists mount's flags).
	documented := map[helpItem]bool{}
	eachList(func(key, _ string, l helpList) {
		for _, it := range l.items {
			if slices.Contains(keys, key) {
				documented[helpItem{set: it.set, flag: it.flag}] = true
			}
		}
	})
	eachList(func(key, _ string, l helpList) {
		var missing []string
		for _, it := range l.items {
			if !documented[helpItem{set: it.set, flag: it.flag}] {
				missing = append(missing, it.head)
			}
		}
		if missing != nil {
			t.Errorf("README has no table with %s: add the lines\n%s%s -->\n%s\nwhere it describes them, then run make docs", strings.Join(missing, "; "), beginMarker, key, endMarker)
		}
	})
	if !slices.Contains(keys, optionsKey) {
		t.Errorf("README has no table of the -o options: add %s%s --> and %s, then run make docs", beginMarker, optionsKey, endMarker)
	}

	if *updateDocs {
		if err := os.WriteFile("../../"+manPath, page.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(readmePath, []byte(readme), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	committed, err := os.ReadFile("../../" + manPath)
	if err != nil {
		t.Fatalf("%v: run make docs", err)
	}
	if d := firstDiff(string(committed), page.String()); d != "" {
		t.Errorf("%s is not what the flag definitions give (run make docs and commit it): %s", manPath, d)
	}
	if d := firstDiff(string(b), readme); d != "" {
		t.Errorf("README.md's generated tables are not what the flag definitions give (run make docs and commit it): %s", d)
	}
}

// firstDiff describes the first line where got and want differ, or is
// "" when they are equal.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d is\n\t%q\nwant\n\t%q", i+1, gl, wl)
		}
	}
	return ""
}

// TestDocNotes: every note is of a flag that exists, in a flag set that
// a command's help lists, and mountOptionDocs documents exactly the
// options of mountOptions.
func TestDocNotes(t *testing.T) {
	flags := map[string]map[string]bool{} // set name → flag names
	for _, c := range commands {
		if c.help.lists == nil {
			continue
		}
		for _, l := range c.help.lists() {
			for _, it := range l.items {
				if flags[it.set] == nil {
					flags[it.set] = map[string]bool{}
				}
				flags[it.set][it.flag] = true
			}
		}
	}
	for set, notes := range flagNotes {
		for name := range notes {
			if !flags[set][name] {
				t.Errorf("flagNotes[%q][%q]: no such flag", set, name)
			}
		}
	}

	var documented []string
	for _, o := range mountOptionDocs {
		for _, h := range strings.Split(o.head, ", ") {
			name, _, _ := strings.Cut(h, "=")
			documented = append(documented, name)
		}
	}
	slices.Sort(documented)
	if known := slices.Sorted(maps.Keys(mountOptions)); !slices.Equal(documented, known) {
		t.Errorf("mountOptionDocs documents %q; mountOptions has %q", documented, known)
	}
}

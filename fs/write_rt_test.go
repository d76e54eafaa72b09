package fs

// Round trips and commands of writes, counted through the link emulator
// (internal/link) in front of ftpd: a test fails when a round trip or a
// command comes back.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/link"
	"ftpfs/internal/testutil"
)

// upLink mounts ftpd with profile through a link of 20 ms. (At 0, a mere
// counting relay, the replies of the server come before the mount's next
// command where a real link has them on the way, and the rounds counted
// are not a real link's.) The mount has
// written one file already: the connection has proved EPSV and SITE
// CHMOD, as in any session after its first upload.
func upLink(t *testing.T, profile ftpd.Profile) (root, mnt string, l *link.Link) {
	t.Helper()
	e := newLinkEnv(t, link.Options{RTT: 20 * time.Millisecond}, nil, withProfile(profile))
	root, mnt, l = e.root, e.mnt, e.l
	if err := os.Mkdir(filepath.Join(mnt, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	warm := filepath.Join(mnt, "d", "warm")
	testutil.WriteFile(t, warm, []byte("warm"))
	when := time.Date(2021, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(warm, when, when); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(warm, 0o600); err != nil {
		t.Fatal(err)
	}
	return root, mnt, l
}

// counted runs fn between a reset of the link's counters and a look at
// them. The reset waits three round trips first: a data connection the
// last operation opened ahead (its connect returns in one, its handshake
// ends in one and a half) would otherwise finish after the reset and add
// a round to fn's count on a loaded machine.
func counted(t *testing.T, l *link.Link, fn func()) link.Stats {
	t.Helper()
	time.Sleep(3 * l.Options().RTT)
	l.Reset()
	fn()
	return l.Stats()
}

// commands lists every verb sent with its count, sorted.
func commands(s link.Stats) string {
	var b strings.Builder
	for _, v := range slices.Sorted(maps.Keys(s.Commands)) {
		fmt.Fprintf(&b, "%s %d ", v, s.Commands[v])
	}
	return strings.TrimSpace(b.String())
}

func checkOnServer(t *testing.T, path string, want []byte) {
	t.Helper()
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s on the server: %d bytes, %v; want %d bytes", path, len(got), err, len(want))
	}
}

// TestWriteRoundTrips pins what a program's writes cost, once the mount
// has written a file, whose commit opened the next data connection
// ahead: STOR on it with the bytes and, as the data ends, SIZE and the
// next EPSV, answered after the 226; the rename, with what goes with it,
// while the next data connection opens. Time and mode set right after
// the close travel with the rename, and so does the question of the
// file's time on the server (MLST, or MDTM without MLSD).
func TestWriteRoundTrips(t *testing.T) {
	for _, profile := range []ftpd.Profile{ftpd.ProfileFull, ftpd.ProfileVsftpd} {
		t.Run(string(profile), func(t *testing.T) {
			root, mnt, l := upLink(t, profile)
			data := testutil.RandBytes(3, 20<<10)
			src := filepath.Join(t.TempDir(), "src")
			testutil.WriteFile(t, src, data)
			// The commit asks the file's time; then rsync sets it.
			ask, setAsk := "MLST 1 ", "MFMT 1 MLST 1 "
			if profile == ftpd.ProfileVsftpd {
				// MDTM both asks and, in vsftpd's form, sets the time.
				ask, setAsk = "MDTM 1 ", "MDTM 2 "
			}
			// ftpd's full profile offers HASH: each upload's digest is
			// checked, the HASH sent with SIZE, in no round trip more.
			hash := "HASH 1 "
			if profile == ftpd.ProfileVsftpd {
				hash = ""
			}
			cases := []struct {
				name  string
				do    func(t *testing.T)
				trips int
				cmds  string
			}{{
				// cp of one new file. (Before: 5 round trips, the 226
				// read alone, then SIZE+RNFR, then RNTO; then 4, EPSV
				// and the connect before the STOR.)
				"cp", func(t *testing.T) {
					if out, err := exec.Command("cp", src, filepath.Join(mnt, "d", "cp")).CombinedOutput(); err != nil {
						t.Fatalf("cp: %v %s", err, out)
					}
					checkOnServer(t, filepath.Join(root, "d", "cp"), data)
				}, 2, "EPSV 1 " + hash + ask + "RNFR 1 RNTO 1 SIZE 1 STOR 1",
			}, {
				// rsync's way: a temporary name made with mode 0600,
				// written and closed; its time and mode set; renamed
				// over the target. (Before: 8 round trips: the commit's
				// two after the data, then MFMT, SITE CHMOD and RNFR+RNTO
				// one after another; then 5.)
				"rsync", func(t *testing.T) {
					tmp := filepath.Join(mnt, "d", ".rs.XXXXXX")
					f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := f.Write(data); err != nil {
						t.Fatal(err)
					}
					if err := f.Close(); err != nil {
						t.Fatal(err)
					}
					when := time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC)
					if err := os.Chtimes(tmp, when, when); err != nil {
						t.Fatal(err)
					}
					if err := os.Chmod(tmp, 0o644); err != nil {
						t.Fatal(err)
					}
					if err := os.Rename(tmp, filepath.Join(mnt, "d", "rs")); err != nil {
						t.Fatal(err)
					}
					on := filepath.Join(root, "d", "rs")
					checkOnServer(t, on, data)
					if fi, err := os.Stat(on); err != nil || !fi.ModTime().Equal(when) || fi.Mode().Perm() != 0o644 {
						t.Fatalf("on the server: %v, %v, %v", fi.ModTime(), fi.Mode(), err)
					}
				}, 3, "EPSV 1 " + hash + setAsk + "RNFR 2 RNTO 2 SITE 2 SIZE 1 STOR 1",
			}, {
				// An editor's save through a temporary file: fsync, then
				// rename over the document. (Before: 6, then 5.)
				"editor temp+fsync+rename", func(t *testing.T) {
					tmp := filepath.Join(mnt, "d", ".doc.swp")
					f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := f.Write(data); err != nil {
						t.Fatal(err)
					}
					if err := f.Sync(); err != nil {
						t.Fatal(err)
					}
					if err := f.Close(); err != nil {
						t.Fatal(err)
					}
					if err := os.Rename(tmp, filepath.Join(mnt, "d", "doc")); err != nil {
						t.Fatal(err)
					}
					checkOnServer(t, filepath.Join(root, "d", "doc"), data)
				}, 3, "EPSV 1 " + hash + ask + "RNFR 2 RNTO 2 SIZE 1 STOR 1",
			}, {
				// An editor's save in place: O_TRUNC, write, close.
				// (Before: 5, then 4.)
				"editor O_TRUNC", func(t *testing.T) {
					doc := filepath.Join(mnt, "d", "doc")
					if err := os.WriteFile(doc, data[:1000], 0o644); err != nil {
						t.Fatal(err)
					}
					checkOnServer(t, filepath.Join(root, "d", "doc"), data[:1000])
				}, 2, "EPSV 1 " + hash + ask + "RNFR 1 RNTO 1 SIZE 1 STOR 1",
			}}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					s := counted(t, l, func() { c.do(t) })
					if s.RoundTrips > c.trips || commands(s) != c.cmds {
						t.Fatalf("%v\nwant at most %d round trips, commands %s", s, c.trips, c.cmds)
					}
				})
			}
		})
	}
}

// TestSequentialUploadsRoundTrips: files copied one after another, as cp
// -r does, cost two round trips each, on the one connection of the
// mount: each commit opens the next upload's data connection while its
// rename travels, and the next upload finds it ready rather than a
// connection still busy (a new connection would cost a login). (Before:
// four each, EPSV+STOR and the connect before the bytes.)
func TestSequentialUploadsRoundTrips(t *testing.T) {
	for _, profile := range []ftpd.Profile{ftpd.ProfileFull, ftpd.ProfileVsftpd} {
		t.Run(string(profile), func(t *testing.T) {
			root, mnt, l := upLink(t, profile)
			const n = 10
			data := make([][]byte, n)
			for i := range data {
				data[i] = testutil.RandBytes(uint64(20+i), 3000+i*1000)
			}
			s := counted(t, l, func() {
				for i, b := range data {
					testutil.WriteFile(t, filepath.Join(mnt, "d", fmt.Sprintf("f%d", i)), b)
				}
			})
			for i, b := range data {
				checkOnServer(t, filepath.Join(root, "d", fmt.Sprintf("f%d", i)), b)
			}
			if s.RoundTrips > 2*n+2 || s.Control != 0 || s.Commands["STOR"] != n || s.Commands["EPSV"] != n {
				t.Fatalf("%d files one after another: %v\nwant at most %d round trips, no new control connection, one STOR and one EPSV ahead each", n, s, 2*n+2)
			}
		})
	}
}

// TestAttrRefusedAfterReturn: a time set on a file just uploaded returns
// before the server's reply; when the server then refuses it, the mount
// logs it with the path and shows the server's time again, not the one
// it was asked for.
func TestAttrRefusedAfterReturn(t *testing.T) {
	e := newEnv(t, nil, nil)
	first := filepath.Join(e.mnt, "first")
	testutil.WriteFile(t, first, []byte("1"))
	asked := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := os.Chtimes(first, asked, asked); err != nil {
		t.Fatal(err) // waits for its reply: it proves MFMT
	}
	f := filepath.Join(e.mnt, "f")
	testutil.WriteFile(t, f, []byte("2"))
	e.srv.SetFaults(ftpd.Faults{RefuseVerb: "MFMT", RefuseCode: 550})
	if err := os.Chtimes(f, asked, asked); err != nil {
		t.Fatalf("utimens of a file just uploaded: %v, want it to return at once", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(e.logBuf.String(), "utimens refused by the server after the call returned") {
		if time.Now().After(deadline) {
			t.Fatal("the refusal was not logged")
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.srv.SetFaults(ftpd.Faults{})
	fi, err := os.Stat(f)
	if err != nil || fi.ModTime().Equal(asked) {
		t.Fatalf("after the refusal the mount shows %v (%v), the time the server refused", fi.ModTime(), err)
	}
}

// TestChmodIgnoredCostsNothing: with -o chmod=ignore on a server that
// refuses SITE CHMOD (an anonymous vsftpd session), a chmod after the
// first refusal sends nothing, and a file chmodded while open is
// uploaded once, not first empty as a placeholder. (Before: an upload of
// the empty file, a SITE CHMOD refused and a DELE per file.)
func TestChmodIgnoredCostsNothing(t *testing.T) {
	e := newEnv(t, nil, []func(*ftpd.Config){func(c *ftpd.Config) {
		c.Faults = ftpd.Faults{RefuseVerb: "SITE", RefuseCode: 502}
	}}, func(o *Options) { o.ChmodIgnore = true })
	data := testutil.RandBytes(4, 5000)
	write := func(name string) {
		f, err := os.OpenFile(filepath.Join(e.mnt, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Chmod(0o644); err != nil {
			t.Fatalf("chmod ignored: %v", err)
		}
		if _, err := f.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		checkOnServer(t, filepath.Join(e.root, name), data)
	}
	write("first") // its chmod learns that the server refuses
	e.srv.ResetCounts()
	write("second")
	if c := e.srv.Counts(); c["SITE"] != 0 || c["DELE"] != 0 || c["STOR"] != 1 {
		t.Fatalf("commands for the second file: %v; want one STOR, no SITE, no DELE", c)
	}
}

// TestCreateChecksNames pins Create's check of its name once the
// directory's listing is older than revalidateAfter: STAT lists the
// names over the control connection (one round trip, no MLSD, no data
// connection, which stays open for the next upload); they agree with the
// cached listing, which then answers the next create at once. A name
// another client created meanwhile is seen: O_EXCL fails, and its
// content stays.
func TestCreateChecksNames(t *testing.T) {
	root, mnt, l := upLink(t, ftpd.ProfileFull)
	d := filepath.Join(mnt, "d")
	create := func(name string) error {
		f, err := os.OpenFile(filepath.Join(d, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		return f.Close()
	}
	time.Sleep(revalidateAfter + 100*time.Millisecond)
	var err error
	st := counted(t, l, func() { err = create("a") })
	if err != nil {
		t.Fatal(err)
	}
	// The check, and the empty file's upload: STOR on the data
	// connection opened ahead, SIZE, the rename.
	if st.Commands["STAT"] != 1 || st.Commands["MLSD"] != 0 || st.Commands["STOR"] != 1 || st.Commands["EPSV"] > 1 {
		t.Fatalf("create after %v: %v; want one STAT, no MLSD", revalidateAfter, st)
	}
	st = counted(t, l, func() { err = create("b") })
	if err != nil || st.Commands["STAT"] != 0 || st.Commands["MLSD"] != 0 {
		t.Fatalf("create right after: %v, %v; want no listing", err, st)
	}
	testutil.WriteFile(t, filepath.Join(root, "d", "other"), []byte("theirs"))
	time.Sleep(revalidateAfter + 100*time.Millisecond)
	st = counted(t, l, func() { err = create("other") })
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("O_EXCL create of a name another client made: %v, want EEXIST", err)
	}
	checkOnServer(t, filepath.Join(root, "d", "other"), []byte("theirs"))
	// The check's STAT, then the listing: STAT again, and the MLSTs of
	// the names whose facts it cannot keep: a and b, whose times the
	// mount guessed at their upload, and other.
	if st.Commands["STAT"] != 2 || st.Commands["MLSD"] != 0 || st.Commands["MLST"] != 3 {
		t.Fatalf("create of a name made behind our back: %v; want STAT, then STAT and 3 MLST", st)
	}
	if fi, err := os.Stat(filepath.Join(d, "other")); err != nil || fi.Size() != 6 {
		t.Fatalf("the cache after the check: %v, %v", fi, err)
	}
}

// TestOpenAfterOwnUploadNoListing: open() right after this mount's
// close() uploaded the file (rsync reopens its temporary file) needs no
// listing, however old the directory's: the server acknowledged the
// upload a moment ago. A second later, open() lists again, as for any
// file.
func TestOpenAfterOwnUploadNoListing(t *testing.T) {
	_, mnt, l := upLink(t, ftpd.ProfileFull)
	f := filepath.Join(mnt, "d", "f")
	time.Sleep(revalidateAfter + 100*time.Millisecond)
	testutil.WriteFile(t, f, []byte("mine"))
	open := func() {
		r, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	if st := counted(t, l, open); st.Total() != 0 {
		t.Fatalf("open right after the upload: %v; want no command", st)
	}
	time.Sleep(revalidateAfter)
	// STAT, and the MLST of f, whose time the mount guessed.
	if st := counted(t, l, open); st.Commands["STAT"] != 1 || st.Commands["MLST"] != 1 || st.Total() != 2 {
		t.Fatalf("open a second later: %v; want a listing", st)
	}
}

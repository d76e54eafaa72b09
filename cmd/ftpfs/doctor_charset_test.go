package main

import (
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
	"ftpfs/internal/testutil/ftpdtest"
)

// TestDoctorSuggestsEncoding: on a server whose names are GBK (ftpd
// serving a tree whose names are GBK bytes on disk, IIS's dialect),
// doctor finds the names that are not UTF-8, names the encoding they
// read in with the first of them converted, and recommends --encoding
// GBK; run with it, it finds every name readable.
func TestDoctorSuggestsEncoding(t *testing.T) {
	root := t.TempDir()
	for _, n := range []string{"会议记录.txt", "数据备份"} {
		b, err := simplifiedchinese.GBK.NewEncoder().String(n)
		if err != nil {
			t.Fatal(err)
		}
		testutil.WriteFile(t, filepath.Join(root, b), []byte("x"))
	}
	testutil.WriteFile(t, filepath.Join(root, "plain.txt"), []byte("x"))
	s := ftpdtest.Serve(t, root, func(c *ftpd.Config) { c.Profile = ftpd.ProfileDOS })
	out := doctorOn(t, s)
	wantLines(t, out, "PROBLEM      names: 2 not UTF-8, e.g. ")
	if !strings.Contains(out, `they read in GBK, the first as "会议记录.txt"`) {
		t.Error("no guess of GBK with the first name converted")
	}
	wantRecommended(t, out, s, "--encoding GBK")

	out = doctorOn(t, s, "--encoding", "gbk")
	wantLines(t, out, "ok           names: all 3 read in GBK")
	wantRecommended(t, out, s, "--encoding gbk")
}

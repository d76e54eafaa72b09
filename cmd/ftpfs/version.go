package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
)

// version is the release, when the build names it:
// go build -ldflags "-X main.version=v1.2.3" ./cmd/ftpfs. Otherwise the
// module version or the commit that Go records in the binary says.
var version string

// goFuseModule is the FUSE library, whose version a bug report needs.
const goFuseModule = "github.com/hanwen/go-fuse/v2"

var versionHelp = help{
	name:    "version",
	summary: "print the version of ftpfs, of Go and of go-fuse (also --version)",
}

// versionFlagSet is the flags of "ftpfs version": none.
func versionFlagSet() *flag.FlagSet { return flag.NewFlagSet("ftpfs version", flag.ContinueOnError) }

// runVersion is the "version" subcommand.
func runVersion(_ context.Context, args []string, stderr io.Writer) int {
	fset := versionFlagSet()
	fset.SetOutput(io.Discard)
	switch err := fset.Parse(args); {
	case err == flag.ErrHelp:
		printHelp(stderr, versionHelp)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "ftpfs version: %s\n", err)
		return 2
	case fset.NArg() > 0:
		fmt.Fprintln(stderr, "ftpfs version: takes no arguments")
		return 2
	}
	printVersion(os.Stdout)
	return 0
}

// printVersion writes the version lines.
func printVersion(w io.Writer) {
	bi, _ := debug.ReadBuildInfo()
	io.WriteString(w, versionText(bi, version))
}

// versionText says which ftpfs this is (the override, else the module's
// version, else "devel"), the commit it was built from and whether the
// tree had changes, the Go that built it and the go-fuse it carries.
func versionText(bi *debug.BuildInfo, override string) string {
	if bi == nil {
		bi = &debug.BuildInfo{}
	}
	var b strings.Builder
	v := override
	if v == "" {
		v = bi.Main.Version
	}
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	fmt.Fprintf(&b, "ftpfs %s\n", v)

	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		line := "commit " + rev
		if t := settings["vcs.time"]; t != "" {
			line += " " + t
		}
		if settings["vcs.modified"] == "true" {
			line += " (modified)"
		}
		fmt.Fprintln(&b, line)
	}

	goVersion := bi.GoVersion
	if goVersion == "" {
		goVersion = runtime.Version()
	}
	fmt.Fprintf(&b, "%s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)

	fuse := "unknown"
	for _, d := range bi.Deps {
		if d.Path == goFuseModule {
			fuse = d.Version
			if d.Replace != nil {
				fuse += " => " + strings.TrimSpace(d.Replace.Path+" "+d.Replace.Version)
			}
		}
	}
	fmt.Fprintf(&b, "go-fuse %s\n", fuse)
	return b.String()
}

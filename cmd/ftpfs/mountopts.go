package main

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The -o options. An fstab line, a systemd .mount unit and mount(8) give
// a mount nothing but -o, so every flag is an -o option too, spelled with
// _ for - (cache_dir=DIR, tls, no_atomic_upload): the flag set is the one
// table of both. Besides, -o takes the options of FUSE and of mount(8)
// (mountOptions), and ignores those that other programs act on
// (ignoredOption).

// mountOption is an -o option that is no flag: it sets f, given the
// value after "=" (hasVal tells "name" from "name=").
type mountOption struct {
	set func(f *mountFlags, val string, hasVal bool) error
}

// onOff is an option without a value: set(f) applies it.
func onOff(set func(f *mountFlags)) mountOption {
	return mountOption{func(f *mountFlags, _ string, hasVal bool) error {
		if hasVal {
			return errors.New("takes no value")
		}
		set(f)
		return nil
	}}
}

// inEffect is an option that names what always holds: accepted, no-op.
var inEffect = onOff(func(*mountFlags) {})

// mountOptions are the -o options of FUSE and mount(8) that ftpfs acts
// on.
var mountOptions = map[string]mountOption{
	"ro":          onOff(func(f *mountFlags) { f.opts.ReadOnly = true }),
	"rw":          onOff(func(f *mountFlags) { f.opts.ReadOnly = false }),
	"noexec":      onOff(func(f *mountFlags) { f.opts.NoExec = true }),
	"exec":        onOff(func(f *mountFlags) { f.opts.NoExec = false }),
	"allow_other": onOff(func(f *mountFlags) { f.opts.AllowOther = true }),
	// The mount is always nosuid and nodev; suid and dev, which
	// mount.fuse3 adds on its own, are ignored (ignoredOption).
	"nosuid": inEffect,
	"nodev":  inEffect,
	"uid":    {func(f *mountFlags, v string, _ bool) error { return parseID(v, &f.opts.UID) }},
	"gid":    {func(f *mountFlags, v string, _ bool) error { return parseID(v, &f.opts.GID) }},
	"umask": {func(f *mountFlags, v string, _ bool) error {
		n, err := strconv.ParseUint(v, 8, 32)
		if err != nil || n > 0o777 {
			return errors.New("want an octal number up to 0777")
		}
		f.opts.Umask = uint32(n)
		return nil
	}},
	"chmod": {func(f *mountFlags, v string, _ bool) error {
		if v != "ignore" {
			return errors.New("want chmod=ignore")
		}
		f.opts.ChmodIgnore = true
		return nil
	}},
	"symlinks": {func(f *mountFlags, v string, _ bool) error {
		switch v {
		case "safe", "raw":
			f.opts.RawSymlinks = v == "raw"
			return nil
		}
		return errors.New("want symlinks=safe or symlinks=raw")
	}},
	// user=NAME is --user. Some versions of mount(8) write it too: a
	// user-mountable fstab line ("user") mounted by alice reaches the
	// helper as user=alice. That one yields to a user named in SERVER.
	"user": {func(f *mountFlags, v string, hasVal bool) error {
		if !hasVal { // fstab's "user": mount(8)'s, ignored
			return nil
		}
		if v == "" {
			return errors.New("want user=NAME")
		}
		f.user, f.optUser = v, v
		return nil
	}},
}

// parseID parses the value of uid= or gid=.
func parseID(v string, id *uint32) error {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return errors.New("want a number")
	}
	*id = uint32(n)
	return nil
}

// ignoredOption reports whether an -o option is for another program, or
// one that ftpfs has no use for: mount(8)'s (defaults, auto, noauto, user,
// users, nouser, owner, group, nofail, _netdev, comment=), systemd's and
// any other x-*, suid and dev (refused for a network filesystem, see
// mountOptions), and access times (ftpfs keeps none).
func ignoredOption(name string) bool {
	return slices.Contains(ignoredOptions, name) || strings.HasPrefix(name, "x-")
}

// ignoredOptions are the names ignoredOption accepts besides x-*; the
// manual lists them.
var ignoredOptions = []string{"defaults", "auto", "noauto", "users", "nouser", "owner", "group", "nofail", "_netdev", "comment",
	"suid", "dev", "atime", "noatime", "relatime", "strictatime", "nodiratime", "lazytime"}

// notOptions are flags that have no -o spelling: a mount that mount(8)
// starts must return once mounted, so it cannot stay in the foreground.
var notOptions = map[string]string{
	"o":          "",
	"f":          "",
	"foreground": "mount(8) waits for the mount to return: use ftpfs mount -f to watch one",
}

// isPasswordName reports whether an option name asks to carry a
// password, which fstab, unit files and ps would show.
func isPasswordName(name string) bool {
	switch strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(name)) {
	case "password", "pass", "passwd", "pw":
		return true
	}
	return false
}

// applyOptions applies one -o value, comma-separated, option by option
// in order, among the flags of fset. Messages name an option without its
// value, except where the value is the mistake.
func (f *mountFlags) applyOptions(fset *flag.FlagSet, s string) error {
	for _, opt := range strings.Split(s, ",") {
		if opt == "" {
			continue
		}
		name, val, hasVal := strings.Cut(opt, "=")
		if err := f.applyOption(fset, name, val, hasVal); err != nil {
			if hasVal && !isPasswordName(name) && !errors.Is(err, errUnknownOption) {
				name = opt
			}
			return fmt.Errorf("-o %s: %w", name, err)
		}
	}
	return nil
}

// errUnknownOption is the error of an option ftpfs does not know.
var errUnknownOption = errors.New("unknown option (every flag is an -o option too, as cache_dir=DIR or tls)")

func (f *mountFlags) applyOption(fset *flag.FlagSet, name, val string, hasVal bool) error {
	if isPasswordName(name) {
		return errors.New("passwords are not taken from mount options (fstab, unit files and ps show them): use password_file=FILE or ~/.netrc")
	}
	if o, ok := mountOptions[name]; ok {
		return o.set(f, val, hasVal)
	}
	if ignoredOption(name) {
		return nil
	}
	flagName := strings.ReplaceAll(name, "_", "-")
	if why, ok := notOptions[flagName]; ok {
		if why == "" {
			return errUnknownOption
		}
		return errors.New(why)
	}
	fl := fset.Lookup(flagName)
	if fl == nil {
		return errUnknownOption
	}
	if b, ok := fl.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() && !hasVal {
		val = "true"
	} else if !hasVal {
		arg, _ := flag.UnquoteUsage(fl)
		return fmt.Errorf("needs a value: %s=%s", name, arg)
	}
	if err := fset.Set(flagName, val); err != nil {
		return fmt.Errorf("invalid value: %w", err)
	}
	return nil
}

// isMountHelperCall reports whether args (after the program name) are
// the way mount.fuse3 runs a mount helper, "ftpfs SRC DIR -o OPTS", which
// runMount then reads as "ftpfs mount SRC DIR -o OPTS". mount.fuse3
// always passes -o (it adds dev and suid unless told nodev and nosuid)
// and mount(8) an absolute DIR;
// a SERVER given as a URL tells the form apart as well. A mistyped
// command name is thus not taken for a server.
func isMountHelperCall(args []string) bool {
	if len(args) < 2 || strings.HasPrefix(args[0], "-") {
		return false
	}
	return strings.Contains(args[0], "://") || (len(args) == 4 && filepath.IsAbs(args[1]) && args[2] == "-o")
}

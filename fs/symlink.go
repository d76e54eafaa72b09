package fs

import (
	"path"
	"strings"
)

// Symlinks of the server. The kernel resolves a link's target itself,
// against this machine's tree: an absolute target, or a relative one
// climbing out of the mount, would name a local file, and a program that
// follows it (cp into a linked directory, an editor saving through a
// linked file) would read or write the client's own files on the
// server's say. So a target shows as it would resolve on the server, but
// only while that stays inside the mounted tree; otherwise the link
// dangles inside the mount.

// outsideName is the directory, next to the link, under which a link out
// of the tree points: ".ftpfs-outside-mount/etc/passwd" still says where
// the link went on the server, and resolves to nothing, since no such
// name exists in the mount (listings hide it, lookups do not find it,
// nothing can create it), and neither can a name below it, so nothing can
// be written through the link either.
const outsideName = ".ftpfs-outside-mount"

// maxLinkTarget is the longest target readlink(2) can return.
const maxLinkTarget = 4095

// linksOutLogged bounds the links out of the tree remembered as logged: a
// link is logged once, unless thousands of others came after it.
const linksOutLogged = 1024

// linkTarget is the target the link rel shows (see safeLink), logging
// the first time a link is found to point out of the tree.
func (m *mount) linkTarget(rel, target string) string {
	if m.o.RawSymlinks {
		return target
	}
	t, outside := safeLink(m.o.Root, rel, target)
	if outside {
		if seen, _ := m.linksOut.ContainsOrAdd(rel+"\x00"+target, struct{}{}); !seen {
			m.log.Warn("symlink target outside the mount: shown as a dangling link (-o symlinks=raw shows the server's target)",
				"path", rel, "target", target, "shown", t)
		}
	}
	return t
}

// safeLink returns the target the link rel (below the mount of root)
// shows for the server's target, and whether that target leaves the
// tree. A relative target that stays in the tree, resolved lexically
// from the link's directory, is kept in its clean form: "a/up/.." would
// climb out if a/up were a link to "..", "a" cannot. An absolute target
// inside the tree becomes relative to the link. Anything else (absolute
// outside, or climbing above the root and not coming back into it) is
// outsideName followed by the server path it names. An empty target
// (unknown) stays empty.
func safeLink(root, rel, target string) (string, bool) {
	if target == "" {
		return "", false
	}
	root = path.Clean("/" + root)
	dir := parent(rel)
	var server string // the server path of the target
	if path.IsAbs(target) {
		server = path.Clean(target)
	} else {
		if !climbs(dir, target) {
			return path.Clean(target), false
		}
		// The server stops at its root: "/.." is "/".
		server = path.Join(root, dir, target)
	}
	if inTree, ok := strings.CutPrefix(server, root); ok && (inTree == "" || inTree[0] == '/' || root == "/") {
		return fromDir(dir, strings.TrimPrefix(inTree, "/")), false
	}
	t := outsideName + server
	if len(t) > maxLinkTarget {
		t = outsideName + "/..."
	}
	return t, true
}

// climbs says whether target, followed from dir (below the mount root;
// "" for the root), goes above the root at some point.
func climbs(dir, target string) bool {
	depth := depth(dir)
	for _, c := range strings.Split(target, "/") {
		switch c {
		case "", ".":
		case "..":
			if depth--; depth < 0 {
				return true
			}
		default:
			depth++
		}
	}
	return false
}

// depth counts the names of dir, a clean path below the mount root.
func depth(dir string) int {
	if dir == "." || dir == "" {
		return 0
	}
	return strings.Count(dir, "/") + 1
}

// fromDir is the relative path from dir to p, both below the mount root:
// up to the root, then down.
func fromDir(dir, p string) string {
	r := strings.Repeat("../", depth(dir)) + p
	if r == "" {
		return "."
	}
	return strings.TrimSuffix(r, "/")
}

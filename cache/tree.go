package cache

import "strings"

// inTree reports whether p is prefix or below it. Paths are clean,
// absolute and "/"-separated; "/" holds everything. The separator check
// keeps "/ab" out of the tree of "/a".
func inTree(p, prefix string) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix == "" {
		return true
	}
	return p == prefix || strings.HasPrefix(p, prefix) && p[len(prefix)] == '/'
}

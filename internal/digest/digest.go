// Package digest names the hash algorithms of FTP's HASH command
// (draft-bryan-ftpext-hash), for ftpd, which answers it, and conn, which
// checks transfers with it.
package digest

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"hash/crc32"
)

// New returns a hash of the algorithm named as HASH names it (SHA-256,
// SHA-512, SHA-1, MD5, CRC32), or nil for another name.
func New(alg string) hash.Hash {
	switch alg {
	case "SHA-256":
		return sha256.New()
	case "SHA-512":
		return sha512.New()
	case "SHA-1":
		return sha1.New()
	case "MD5":
		return md5.New()
	case "CRC32":
		return crc32.NewIEEE()
	}
	return nil
}

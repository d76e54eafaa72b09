// Package cache holds what ftpfs remembers about the server between FTP
// commands: directory listings (Dirs) and file content (Blocks). It knows
// nothing of FUSE or of FTP: listings hold entries of any type E, content
// is bytes, and fetching is a function the caller passes in. So every rule
// below is tested here with a fake clock and no server.
//
// # Listings and their TTL
//
// Dirs maps a directory's path to a Listing: its entries by name and its
// names sorted (readdir must be deterministic). A listing is fresh while
//
//	now < fetched + TTL   or   now < arrived + MinFresh
//
// where fetched is when its fetch began (the data is at least that new)
// and arrived when it ended. TTL is --dir-cache-ttl: the bound on how
// stale names and attributes may be with respect to other FTP clients.
// MinFresh (default 500 ms) is a floor counted from arrival, so that with
// TTL 0, or a listing whose fetch took longer than the TTL, the readdir
// that fetched it still has its lookups (READDIRPLUS, ls -l) served by it
// rather than by one LIST each. TTL 0 would thus mean "stale by at most
// MinFresh", not "never cached" (the mount's TTL is always positive).
// Listings never change once handed out: a holder may keep one and
// answer from it as long as it likes.
//
// Fetch is how a caller reads a directory: it returns the cached listing
// while that is fresh, without calling fetch; otherwise it calls fetch,
// coalescing concurrent calls for one directory into one (ls -l triggers
// many lookups at once), and stores the result. The caller then looks the
// name up in the listing (Listing.Lookup), and the answer is definite both
// ways: a name absent from a fresh listing is ENOENT without any FTP
// command, so repeated probes of a missing name cost nothing. FetchMaxAge
// asks for a tighter age than the TTL: open() uses it to revalidate
// (close to open), and one such listing serves every file of the
// directory.
//
// Errors are never cached. The callers that overlapped a failing fetch
// share its error; the next caller tries again. Retrying less often after
// failures is the connection pool's business, not the cache's. Get
// returns a listing fresh or stale without fetching: the mount uses it
// for what it already knows of a name (its mode, its last attributes
// before an unlink) and to see whether a prefetch is needed, never to
// answer a lookup.
//
// Entries are the caller's type, opaque here. What a caller learns about
// an entry beyond its listing line (the exact times the mount asks MDTM
// for on LIST-only servers) it keeps on its own, keyed so that a changed
// line makes it moot.
//
// # Local changes
//
// Changes made through the mount show at once. After the server
// acknowledges one, the caller patches the parent's listing (Set, Remove,
// Update: a new name, a removed one, a chmod's mode, a utimens's time)
// rather than refetching it; after a rename or rmdir of a directory it
// drops the listings below it (InvalidateTree). A patch costs
// O(sqrt n) amortized even in a directory of 100,000 entries (see
// Listing), and leaves the listing's age alone: it says nothing about
// other clients' changes.
//
// A fetch that began before a change may have read the directory before
// the change; once the change is made, that result must not be stored
// over the patched listing. Each directory has at most
// one fetch in progress, registered in a map; InvalidateTree,
// Put and the patches take that fetch out of the map ("detach" it). A
// detached fetch still answers the callers that were waiting for it, whose
// requests overlapped the change, but its result is not stored, and later
// callers start a new fetch instead of joining it. This is a generation
// check with a generation per fetch in progress, so it costs no memory
// for idle directories.
//
// Bounds: at most MaxListings listings and MaxEntries entries over all of
// them, least recently used first out; the listing just stored always
// stays, however large.
//
// # Blocks
//
// Blocks caches file content in aligned blocks of BlockSize (default
// 256 KiB; see DefaultBlockSize for why), keyed by path, version and block
// index, bounded by bytes, least recently used first out. The version
// names one version of the file (the mount's: size, modification time
// and the MLSD unique fact). Blocks do not age; a new version has new
// keys, and the old version's blocks fall out of the LRU or are dropped
// by InvalidatePath, which an index from path to keys makes cost the
// number of blocks of that path rather than the size of the cache.
//
// Invariant: what is cached for one version is never served for another.
// A reader fixes the version when it opens the file and asks only for
// blocks of that version, and the caller adds a block under a version only
// when it read the bytes for that version: the mount, in a RETR made for
// a handle opened on it. (FTP cannot pin a version during a transfer: a
// file rewritten on the server while a handle reads it is not detected,
// and its new bytes are cached under the old version.) Fetch
// coalesces concurrent fetches of a block like Dirs.Fetch, and a fetch in
// progress when its path is invalidated (the mount does it after an
// upload, an unlink or a rename) is not cached, even if the new version
// happens to have the same key (same size, same second).
//
// # Concurrency and locking
//
// Dirs and Blocks are safe for concurrent use. Each has one mutex, mu,
// which guards its LRU, its counters and its map of fetches in progress
// (fields marked GUARDED_BY(mu); methods whose names begin with an
// underscore expect mu held). Lock order:
//
//	Dirs.mu and Blocks.mu are leaves: neither is held while taking any
//	other lock, nor while calling out of the package, with one exception:
//	the function passed to Dirs.Update runs with Dirs.mu held and must not
//	call the cache.
//
// Callers may therefore hold their own locks while calling the cache (the
// mount holds a write handle's during a commit). The LRU eviction
// callbacks run inside the LRU's methods, with mu held, which is why this
// package uses golang-lru's simplelru under its own mutex rather than
// lru.Cache (which runs callbacks after unlocking) or the expirable
// package (which starts a goroutine that never exits).
//
// Fetch functions run on a goroutine of their own, with no lock held, and
// with a context that carries the first caller's values but is cancelled
// only when every waiting caller has given up; a caller whose context ends
// returns at once with its error. A panic in a fetch function becomes a
// *PanicError instead of ending the process. Listings and cached blocks
// are shared and immutable: read them without locks, never modify them.
// Building a listing (indexing up to 100,000 entries) happens outside mu.
package cache

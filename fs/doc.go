// Package fs is the filesystem of an ftpfs mount: go-fuse nodes and
// handles that answer the kernel from the caches of package cache and,
// when those cannot, from the FTP server through package conn. It speaks
// filesystem only: conn decides how to talk to a server (MLSD or LIST,
// pipelining, retries, quirks) and what its replies mean (error classes);
// cache keeps listings and blocks. fs decides what a program sees: names,
// attributes, content, errno, and when a change is on the server.
//
// Mount is the entry point; Options and DefaultOptions configure it.
// Everything below the mount root is named by its path below the root
// (rel, "" for the root); remotePath turns it into the server's absolute
// path. A node (node.go) is a file, directory or symlink; its inode number
// is a hash of its path and type, so the same path has the same number
// across lookups. A read-only open gives a handle (file.go), any other a
// writeHandle (write_handle.go).
//
// # A lookup, a stat, a readdir
//
// Every name and attribute comes from the cached listing of its parent
// directory (meta.go). Lookup, and Getattr when no open handle answers
// it, ask entry, which asks cache.Dirs.Fetch for the parent's listing: a
// fresh one (younger than --dir-cache-ttl, Options.DirCacheTTL) answers
// at once, with no FTP command; otherwise one fetch per directory runs,
// shared by every caller that wants it meanwhile (ls -l looks up many
// names at once). The fetch is conn.Pool.ReadDirKnown, which returns the
// directory whole (MLSD or LIST, with symlink targets filled in; on MLSD
// servers, a STAT keeping the exact facts the cached listing knows of
// entries that did not change, relist.go), minus
// the names fs hides: uploads in progress (tmpPrefix) and the directory
// links out of the tree point into (outsideName, see symlink.go). A name
// missing from a fresh listing is ENOENT at once: shells and editors
// probing names cost nothing. A listing fetched with at least as many
// small files or subdirectories as the pool has connections dials the
// connections not open yet (warm.go): a copy or a walk of it comes next.
//
// On servers whose listings give only minutes (LIST without MLSD) but
// which answer MDTM, a file's exact time is asked when its attributes are
// (precise): the first file of a directory alone, then every file of that
// directory at once, over all connections but one. Those times live in
// their own LRU, keyed by path, size and the listing's time, so a changed
// listing line makes them moot without any invalidation.
//
// A stat that asks a directory's times claims it (timesBusy): another
// stat there meanwhile waits for that batch, and the batch runs to its
// end even when the asking stat is interrupted (a Go program's
// preemption signals interrupt its requests).
//
// Readdir answers from the same listing, sorted by name, and queues the
// subdirectories without a fresh listing for prefetch workers (a
// recursive reader will want them next; listahead.go). The kernel's READDIRPLUS then looks up each entry,
// which the listing just fetched answers (cache's MinFresh keeps it fresh
// even when the fetch outlasted the TTL). On LIST-only servers with MDTM,
// where each such lookup would cost a command, READDIRPLUS is off.
//
// Changes made through the mount patch the parent's cached listing once
// the server has acknowledged them (setEntry, dropEntry, updateEntry;
// InvalidateTree below a renamed or removed directory) instead of listing
// it again: they show at once, and the listing keeps its age.
//
// # A read
//
// Open revalidates the entry when its listing is older than a second
// (close-to-open, as NFS: one listing serves every file of a directory
// opened together; not for O_TRUNC, which replaces the content anyway). A
// read-only open fixes the file's version: size, time and MLSD unique
// fact. The handle serves only that version, so a read never mixes
// two. Two paths serve reads (file.go, stream.go):
//
//   - Sequential reads of a file larger than one block are served by one
//     RETR stream per handle, read straight into the kernel's buffer. The
//     kernel sends read-ahead in parallel and out of order: a read ahead
//     of the stream (within 16 MiB) waits up to 20 ms for the reads before
//     it, then skips their bytes, storing whole blocks in the block cache
//     for a late reader. A stream gives its connection up after 8 MiB when
//     another transfer waits for one, and after 2 s unread.
//   - Anything else (random reads, small files, a stream that failed or
//     moved on) reads 256 KiB blocks through cache.Blocks: a cached block
//     costs nothing, a missing one a REST+RETR of that block alone, shared
//     by concurrent readers of it. Reading the first block of a small file
//     queues the next small files of its directory for read-ahead (cp -r,
//     tar and grep -r read a directory's files in order).
//
// # A write
//
// A file open for writing is staged in a private local file (stage.go,
// under Options.CacheDir, counted against --staging-size): every byte the
// program writes goes there, and the server gets the file whole at flush
// or fsync (commit.go). Opening an existing file without O_TRUNC downloads
// it into the stage first.
//
//   - Write copies the bytes into the handle's write queue
//     (write_queue.go) and returns; the queue's goroutine writes them to
//     the stage and, when the file is written from offset 0 onwards, to a
//     STOR streamed while the program writes, so that close waits for the
//     last bytes only. Any other write, a truncate, or another transfer
//     waiting for a connection drops the stream; the stage has every byte.
//   - Flush and Fsync commit (sync). They settle the queue; check, for a
//     file opened without O_TRUNC, that the server's copy did not change
//     since (MLST; otherwise the upload goes to NAME.conflict-TIME and the
//     close gets EIO; LIST-only servers cannot tell); then finish the
//     stream, or upload the stage, to a hidden temporary name in the same
//     directory (the name itself for a new empty file, or with
//     --no-atomic-upload). A transfer whose data connection drops goes on
//     from the server's size of the temporary name with the stage's bytes
//     (conn's SendFrom, Resume, CommitFrom: REST+STOR, else APPE, else
//     from byte 0 a bounded number of times); a stream that broke goes on
//     so at the flush, while the writes since were appends. conn's
//     Upload.Commit reads the final reply, checks SIZE where the server
//     has it, and the digest where it tells one (HASH, XSHA256...: a
//     mismatch is EIO), sets a pending chmod, and renames the upload over
//     the target (deleting the target first on servers that refuse to
//     rename over a file). Only then does close return 0. A failure leaves the old content (or
//     nothing) under the name and the bytes in the stage for the next
//     flush; a stage with bytes the server lacks when its last descriptor
//     closes is kept and described (staged.go) for ftpfs status and the
//     next mount.
//   - A rename, a truncate by name, a utimens or (unless the mode can go
//     with the upload) a chmod of a file open for writing commits it
//     first, inside that operation, so that the change applies to the
//     server's copy of what was written.
//   - CopyFileRange (copy.go) of a whole file into a handle that holds
//     nothing yet copies on the server (conn's Pool.Copy: SITE CPFR and
//     CPTO to a temporary name, SIZE, the rename): the handle is then
//     clean, its stage empty until a read or write downloads the copy
//     (restage). Anything else gets EOPNOTSUPP, and the kernel copies
//     through Read and Write.
//
// A write waits for the network only when its queue is full (8 writes),
// when it starts a stream (which never waits for a connection), when it
// drops one, and behind a commit of its file in progress. Stat never
// waits for an upload: it reads the size the handle last published
// (writeHandle.attrs).
//
// # Errors
//
// errno.go decides every errno a program sees for a failed exchange:
// toErrno takes the class conn gives the error (conn.Classify; errors.Is
// with a conn.Class works too) and the operation. The table classErrno
// holds most answers: not found ENOENT, permission EACCES, no space
// ENOSPC, quota EDQUOT, exists EEXIST, invalid name EINVAL, timeout
// ETIMEDOUT, interrupted EINTR, unsupported ENOTSUP, not empty ENOTEMPTY.
// opErrno holds the operations that differ: chmod on a server without
// SITE CHMOD is EPERM, and always 0 with -o chmod=ignore; utimens on a
// server that cannot set times succeeds, the mount keeping the time until
// the next listing (for a directory, whatever the refusal, unless the
// server could not be reached). Anything else (the connection lost after
// conn's retries, a reply no class fits, a listing over its caps) is EIO.
// An errno decided before (ENOENT from a listing) passes through.
// stageErrno maps failures of the local stage: ENOSPC for a full disk or
// the staging limit, EIO otherwise. Errnos that no exchange decides are
// returned where they arise: EROFS, EISDIR, EEXIST for O_EXCL, EINVAL and
// ENAMETOOLONG for names FTP cannot carry, EILSEQ for names the server's
// encoding cannot hold (validName, names.go), EPERM for what FTP cannot do
// (links, device nodes, chown), EINVAL for rename flags.
//
// EINTR: go-fuse cancels an operation's context when the kernel
// interrupts it (the caller got a signal; Go programs get SIGURG often).
// Operations that only read (lookup, getattr, readdir, readlink, open,
// read) then return EINTR if they were waiting for the server. Operations
// that change the server
// (create, setattr, unlink, mkdir, rmdir, rename; see changeCtx) and the
// commit of flush and fsync are not interrupted: once a command is sent,
// the server may have acted, and a caller told EINTR would try again
// against a changed tree. Timeouts bound them instead: twice --timeout
// (changeCtx, as opCtx for the others; a read, once), and for a commit
// or the download of an open, time by the file's size (uploadTimeout).
//
// Logged, with op and path: a timeout and every EIO of a failed exchange
// (Warn), a listing over its caps (Warn), every failed commit with the
// stage's local path (Error), a conflict (Error). toErrno logs no other
// class: the program sees its errno.
//
// # Kernel caching
//
// Entries, attributes and missing names are cached by the kernel for
// --dir-cache-ttl: Mount sets EntryTimeout, AttrTimeout and
// NegativeTimeout, and every reply carries them. A read-only open returns
// FOPEN_KEEP_CACHE only when the file's version is the one of its
// previous open (keepCache); otherwise the kernel drops the file's pages.
// go-fuse accepts the kernel's AUTO_INVAL_DATA, so pages also go when the
// kernel sees a file's size or time change in attributes. Write-only
// handles use direct I/O (no page cache, one copy); read-write ones keep
// the page cache, which mmap needs. Read-only handles say FOPEN_NOFLUSH.
//
// Notifications: fs sends one, Inode.NotifyEntry on the parent of a file
// whose creating handle's upload failed without any succeeding
// (forgetIfNeverUploaded), so that the next open(O_CREAT) of the name
// creates it. NotifyContent is not used. A notification waits for kernel
// locks: an entry's for its directory's, content's for the file's pages.
// Hence, for this one and any added later:
//
//   - Never while holding a lock of fs. The kernel may be holding the
//     lock the notification needs while it waits for one of our handlers,
//     and that handler for our lock: a rename holds its directories and
//     commits the open file under writeHandle.mu.
//   - Never from inside a handler of the same node during which the
//     kernel holds what the notification needs: an entry notification
//     from a lookup, create, unlink or rename in that directory; a
//     content notification from a read of that file (its pages are
//     locked).
//   - Not inline from a handler during which the kernel holds the file's
//     own lock (FSYNC, SETATTR, WRITE): an unlink or rename of that file
//     takes the directory's lock and then waits for the file's. Send it
//     from a goroutine, which then waits until the reply has released the
//     file. Fsync does that; Flush, during which the kernel holds no lock,
//     sends it inline, so that the name is gone when close returns.
//
// # Locks
//
// Each lock, what it guards, and whether it may be held across network
// I/O (commands, replies, data, or waiting for a connection of the pool):
//
//   - writeHandle.mu: a file open for writing: its stage, size, dirty
//     state and stream. Held across network I/O by design: the whole
//     commit (sync: MLST, upload, final reply, SIZE, rename), starting a
//     stream, waiting for the queue's network writes, dropping a stream
//     (aborting its STOR, DELE of its temporary name). Operations on that
//     file wait for it; stat does not (attrs is atomic).
//   - handle.mu: a read handle's stream and last read end. Held while a
//     stream opens (a connection from the pool, EPSV, REST, RETR), bounded
//     by the read's timeout, so that the reads arriving meanwhile use that
//     stream; never while a stream is read.
//   - stream.mu: a stream's position and state. Never across network I/O:
//     the reader marks the stream busy and reads and closes without it;
//     _end closes on a goroutine of its own; close only sets a deadline
//     (Interrupt) under it.
//   - writeQueue.mu: the first stage and stream failures. Never across
//     I/O; the queue's goroutine writes without it.
//   - node.wmu: a node's current writer. Nothing is called under it.
//   - mount.mtimeMu: the per-directory count of MDTM asks (mtimeAsks),
//     read and bumped as one. Nothing but that LRU is called under it.
//   - cache.Dirs.mu, cache.Blocks.mu: never held outside package cache,
//     which runs fetches on goroutines of their own, without locks.
//   - conn.Pool.mu: never held while talking to the network (package conn).
//   - Mounted.once: stops the prefetch workers and closes the pool once,
//     sending QUIT (a few seconds at most); a second Wait or Unmount
//     waits for the first. Only the pool's mu is taken under it.
//   - Locks of libraries, taken and released within one call: golang-lru's
//     (mount.mtimes, mtimeAsks, opened, linksOut), sync.Map's (mount.streams),
//     go-fuse's Inode locks (Path, GetChild, Parent, NewInode).
//
// The lock order:
//
//	LOCK ORDERING
//
//	writeHandle.mu > another writeHandle.mu (TryLock only: yieldStreams) > leaves
//	handle.mu      > stream.mu                                           > leaves
//
//	leaves: writeQueue.mu, node.wmu, mount.mtimeMu, cache.Dirs.mu,
//	        cache.Blocks.mu, conn.Pool.mu, and the libraries' locks
//
//	A > B: B may be taken while A is held, never A while B is. The two
//	chains never meet: no goroutine holds a writeHandle.mu and a handle.mu.
//
// Rules:
//
//   - No goroutine holds two handle.mu, nor two stream.mu. Under
//     writeHandle.mu: writeQueue.mu, node.wmu (Release), the caches, the
//     pool, go-fuse's Inode locks (rel). Under handle.mu: stream.mu and
//     the pool. Under stream.mu: the pool's mu only (Pool.Waiting).
//   - The leaves take no lock of fs. Under mount.mtimeMu only the LRU it
//     guards is called; under the others nothing of fs, but for the
//     function given to Dirs.Update, which runs under Dirs.mu and must not
//     call the cache (fs's only set a field).
//   - No lock of fs is held while a notification is sent (see above).
//   - The only two locks of one kind held together are two write
//     handles', in yieldStreams: a commit that finds every transfer
//     connection taken, holding its own handle's mu, asks the streams of
//     the other open files to give theirs up. It takes each handle's mu
//     with TryLock and skips a handle whose mu is held: waiting could
//     deadlock two commits that yield each other's streams (each holds
//     its own mu and waits for the other's), and would wait behind a
//     whole upload of a busy handle. A skipped handle gives its
//     connection up itself at its next write, seeing that someone waits
//     (streamFor checks Pool.Waiting), and the commit waits in the pool
//     meanwhile, bounded by its upload timeout.
//
// Fields guarded by a lock say so: // GUARDED_BY(mu). Methods that expect
// their struct's mu held begin with an underscore (stream's) or say "Call
// with mu held" (writeHandle's).
//
// # Goroutines
//
// Besides go-fuse's request goroutines: MaxConns-1 listing prefetch
// workers and MaxConns-2 file prefetch workers per mount (at least one
// each), ended by Unmount or Wait; one write queue goroutine per write
// handle, ended by Release; a timer per read stream that closes it when
// idle, and a goroutine per stream close; MDTM workers for the length of
// one batch (preciseDir); the notification of a failed fsync; the fetch
// goroutines of package cache.
package fs

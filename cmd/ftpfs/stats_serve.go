package main

// The mount's side of ftpfs stats: a unix socket in the cache dir that
// answers each connection with one JSON snapshot, and with --metrics the
// same figures in Prometheus' text format over HTTP.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	ftpfs "ftpfs/fs"
	"golang.org/x/sys/unix"
)

// statsReport is what the socket sends: the mount's figures and where
// it is.
type statsReport struct {
	ftpfs.Stats
	Mountpoint string `json:"mountpoint"`
	Metrics    string `json:"metrics,omitempty"` // the --metrics address bound
}

// statsSource is what serves figures; fs.Mounted is one.
type statsSource interface{ Stats() ftpfs.Stats }

// statsSocket is where the mount at mountpoint answers ftpfs stats: a
// name of its own in the cache dir, so that mounts sharing a cache dir
// keep their sockets apart. The name comes from the mountpoint with its
// parent's symlinks resolved (never the mountpoint itself: asking a hung
// mount would hang), so "stats ./site" and "stats /mnt/site" agree.
func statsSocket(cacheDir, mountpoint string) string {
	sum := sha256.Sum256([]byte(canonicalMountpoint(mountpoint)))
	return filepath.Join(cacheDir, "stats-"+hex.EncodeToString(sum[:8])+".sock")
}

func canonicalMountpoint(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		return filepath.Join(dir, filepath.Base(abs))
	}
	return abs
}

// maxSocketPath is the longest path a unix socket may have (sun_path,
// less its NUL).
const maxSocketPath = 107

// statsServer serves one mount's figures.
type statsServer struct {
	sock    net.Listener
	metrics net.Listener // nil without --metrics
	path    string
	log     *slog.Logger
	src     statsSource
	mnt     string
	http    *http.Server
}

// listenStats opens the socket, and the metrics address when asked,
// before the mount: a socket that cannot be made, or an address taken,
// fails the mount instead of leaving it without them.
func listenStats(c *mountConfig, log *slog.Logger) (*statsServer, error) {
	path := statsSocket(c.opts.CacheDir, c.mountpoint)
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("stats socket %s: longer than the %d bytes a unix socket may have: use a shorter --cache-dir", path, maxSocketPath)
	}
	// The cache dir is private (checked before): nobody else can
	// reach the socket, nor put anything at its name. What is there is
	// a socket of a mount that ended without removing it.
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("stats socket: %w", err)
	}
	sock, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("stats socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		sock.Close()
		return nil, fmt.Errorf("stats socket: %w", err)
	}
	s := &statsServer{sock: sock, path: path, log: log, mnt: c.mountpoint}
	if c.metrics != "" {
		if s.metrics, err = net.Listen("tcp", c.metrics); err != nil {
			sock.Close()
			return nil, fmt.Errorf("--metrics: %w", err)
		}
	}
	return s, nil
}

// serve answers on the socket, and on the metrics address, until close.
func (s *statsServer) serve(src statsSource) {
	s.src = src
	go s.serveSocket()
	if s.metrics != nil {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
			writeMetrics(w, s.report())
		})
		s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go s.http.Serve(s.metrics)
		s.log.Info("metrics served", "addr", "http://"+s.metrics.Addr().String()+"/metrics")
	}
}

func (s *statsServer) report() statsReport {
	r := statsReport{Stats: s.src.Stats(), Mountpoint: s.mnt}
	if s.metrics != nil {
		r.Metrics = s.metrics.Addr().String()
	}
	return r
}

func (s *statsServer) serveSocket() {
	for {
		c, err := s.sock.Accept()
		if err != nil {
			return // closed
		}
		go s.answer(c.(*net.UnixConn))
	}
}

// answer sends one snapshot to a client of this user (or root): the
// socket's mode says so already, the peer's credentials say it again.
func (s *statsServer) answer(c *net.UnixConn) {
	defer c.Close()
	if uid, err := peerUID(c); err != nil || (uid != os.Geteuid() && uid != 0) {
		s.log.Warn("stats socket: a client of another user refused", "uid", uid, "err", err)
		return
	}
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	json.NewEncoder(c).Encode(s.report())
}

// peerUID is the user of the process at the other end of c.
func peerUID(c *net.UnixConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return -1, err
	}
	if cerr != nil {
		return -1, cerr
	}
	return int(cred.Uid), nil
}

// close stops serving and removes the socket.
func (s *statsServer) close() {
	s.sock.Close() // removes the socket file too (net.UnixListener)
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		s.http.Shutdown(ctx)
		cancel()
	} else if s.metrics != nil {
		s.metrics.Close()
	}
}

// serveWithStats serves the mount and its figures until it goes away.
func serveWithStats(ctx context.Context, m mountHandle, st *statsServer, logger *slog.Logger) int {
	if src, ok := m.(statsSource); ok {
		st.serve(src)
	}
	defer st.close()
	return serveMount(ctx, m, logger)
}

// Command ftplink runs the link emulator (internal/link) in front of any
// FTP server, to try a client over an emulated round trip by hand:
//
//	go run ./bench/ftplink -rtt 20ms -upstream 127.0.0.1:21
//	lftp -p 2100 127.0.0.1
//
// It prints what it counted when it stops (Ctrl-C), and on SIGUSR1,
// which also starts the counts afresh.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"ftpfs/internal/link"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:2100", "where clients connect (`host:port`)")
	upstream := flag.String("upstream", "", "the FTP server (`host:port`)")
	rtt := flag.Duration("rtt", 20*time.Millisecond, "round-trip time")
	window := flag.String("window", "4M", "bytes in flight per direction of each connection (K, M, G: binary)")
	rate := flag.String("rate", "0", "bytes per second per direction of each connection, 0 for no cap (K, M, G: binary)")
	linger := flag.Bool("linger", false, "the server's close of a data connection returns when its FIN is acknowledged (vsftpd's SO_LINGER)")
	verbose := flag.Bool("v", false, "log every connection and command")
	flag.Parse()
	if *upstream == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: ftplink -upstream host:port [-listen host:port] [-rtt 20ms] [-window 4M] [-rate 0] [-linger] [-v]")
		os.Exit(2)
	}
	w, err := size(*window)
	if err != nil {
		fatal(fmt.Errorf("-window: %w", err))
	}
	r, err := size(*rate)
	if err != nil {
		fatal(fmt.Errorf("-rate: %w", err))
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	l, err := link.Start(*upstream, link.Options{RTT: *rtt, Window: int(w), Rate: r, Listen: *listen, Logger: log, Linger: *linger})
	if err != nil {
		fatal(err)
	}
	fmt.Fprintf(os.Stderr, "ftplink: %s -> %s, RTT %v, window %d bytes, rate %d B/s, linger %v\n", l.Addr(), *upstream, *rtt, l.Options().Window, r, *linger)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGUSR1)
	for s := range sig {
		fmt.Fprintln(os.Stderr, "ftplink:", l.Stats())
		if s != syscall.SIGUSR1 {
			break
		}
		l.Reset()
	}
	if err := l.Close(); err != nil {
		fatal(err)
	}
}

// size parses a byte count with an optional binary suffix: 256K, 4M.
func size(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult = 1 << 10
	case strings.HasSuffix(s, "M"):
		mult = 1 << 20
	case strings.HasSuffix(s, "G"):
		mult = 1 << 30
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a byte count", s)
	}
	return n * mult, nil
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "ftplink:", err)
	os.Exit(1)
}

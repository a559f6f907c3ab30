// Command ferretdb runs FerretDB v1 (MongoDB wire protocol) on the SQLite backend for local
// development and tests. It wraps the embeddable package github.com/FerretDB/FerretDB/ferretdb,
// which avoids the version.txt start-up panic of `go install .../cmd/ferretdb` and keeps
// telemetry disabled. Built and started by services/ops/infra/local.py.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// shutdownGrace bounds how long we wait for FerretDB to drain connections after a signal.
const shutdownGrace = 10 * time.Second

// ferretdbVersion is informational only; the real pin is go.mod.
const ferretdbVersion = "v1.24.2"

func notice(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s ferretdb: %s\n", time.Now().UTC().Format(time.RFC3339Nano), fmt.Sprintf(format, args...))
}

func main() {
	listenAddr := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	stateDir := flag.String("state-dir", "", "directory for the SQLite databases (created if missing)")
	sqliteURL := flag.String("sqlite-url", "", "SQLite URI of an existing directory, e.g. file:data/ (overrides --state-dir)")
	logLevel := flag.String("log-level", "info", "log level: debug, info, warn or error")
	flag.Parse()

	if err := run(*listenAddr, *stateDir, *sqliteURL, *logLevel); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: %s\n", err)
		os.Exit(1)
	}
}

func run(listenAddr, stateDir, sqliteURL, logLevel string) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("invalid --log-level %q: %w", logLevel, err)
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if sqliteURL == "" {
		if stateDir == "" {
			return errors.New("one of --state-dir or --sqlite-url is required")
		}

		abs, err := filepath.Abs(stateDir)
		if err != nil {
			return err
		}

		if err = os.MkdirAll(abs, 0o755); err != nil {
			return err
		}

		// The SQLite backend wants a "file:" URI whose path ends with a slash.
		sqliteURL = (&url.URL{Scheme: "file", Path: strings.TrimSuffix(abs, "/") + "/"}).String()
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: listenAddr},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	done := make(chan error, 1)

	go func() { done <- f.Run(ctx) }()

	// Lifecycle lines are printed regardless of --log-level.
	notice("FerretDB %s ready on %s (sqlite %s)", ferretdbVersion, f.MongoDBURI(), sqliteURL)

	select {
	case err = <-done:
		return err
	case <-ctx.Done():
	}

	notice("signal received, shutting down")

	select {
	case err = <-done:
		if err == nil {
			notice("stopped")
		}

		return err
	case <-time.After(shutdownGrace):
		return errors.New("connections did not close in time; exiting anyway")
	}
}

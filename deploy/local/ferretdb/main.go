// Command ferretdb runs one FerretDB v1 instance: a MongoDB-wire server backed by
// PostgreSQL or SQLite. We build this tiny wrapper instead of `go install
// github.com/FerretDB/FerretDB/cmd/ferretdb`, because that binary panics at start:
// its build/version/version.txt is not part of the published module.
//
// The embedded package reports its version as "unknown" (buildInfo.ferretdbVersion); we set it from
// the module version recorded in the binary, so clients and scripts/services.sh see v1.24.2.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/FerretDB/FerretDB/build/version"
	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	handler := flag.String("handler", "postgresql", "backend: postgresql or sqlite")
	pgURL := flag.String("postgresql-url", "", "PostgreSQL URL (handler=postgresql)")
	sqliteURL := flag.String("sqlite-url", "", "SQLite directory URI such as file:/path/dir/ (handler=sqlite)")
	logLevel := flag.String("log-level", "info", "debug, info, warn or error (warn: failed commands are dumped; info: also every connection)")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		log.Fatalf("invalid -log-level %q: %v", *logLevel, err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path == "github.com/FerretDB/FerretDB" {
				version.Get().Version = dep.Version
			}
		}
	}

	cfg := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *listen},
		Logger:   logger,
		Handler:  *handler,
	}
	switch *handler {
	case "postgresql":
		if *pgURL == "" {
			log.Fatal("-postgresql-url is required for handler=postgresql")
		}
		cfg.PostgreSQLURL = *pgURL
	case "sqlite":
		if *sqliteURL == "" {
			log.Fatal("-sqlite-url is required for handler=sqlite")
		}
		cfg.SQLiteURL = *sqliteURL
	default:
		log.Fatalf("unknown handler %q (valid: postgresql, sqlite)", *handler)
	}

	f, err := ferretdb.New(cfg)
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Printf("ferretdb listening on %s (handler=%s)\n", *listen, *handler)
	if err := f.Run(ctx); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}

// Command ferretdb runs one FerretDB v1 instance: a MongoDB-wire server backed by
// PostgreSQL or SQLite. We build this tiny wrapper instead of `go install
// github.com/FerretDB/FerretDB/cmd/ferretdb`, because that binary panics at start:
// its build/version/version.txt is not part of the published module.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	handler := flag.String("handler", "postgresql", "backend: postgresql or sqlite")
	pgURL := flag.String("postgresql-url", "", "PostgreSQL URL (handler=postgresql)")
	sqliteURL := flag.String("sqlite-url", "", "SQLite directory URI such as file:/path/dir/ (handler=sqlite)")
	flag.Parse()

	cfg := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *listen},
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

// Command structd runs the StructD server.
//
// Usage, as redis-server:
//
//	structd [/path/to/structd.conf] [--directive value ...]
package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/structd/structd/config"
	"github.com/structd/structd/server"
)

func main() {
	cfg, err := config.Load(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "\n*** FATAL CONFIG FILE ERROR ***\n%v\n", err)
		os.Exit(1)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: config.SlogLevel(cfg.LogLevel)}))
	slog.SetDefault(logger)

	srv := server.New(cfg, server.Options{Logger: logger})
	if err := srv.Start(); err != nil {
		logger.Error("cannot start server", "err", err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		logger.Info("received signal, shutting down", "signal", s.String())
	case <-srv.Done():
	}
	srv.Close()
	logger.Info("StructD is now ready to exit, bye bye...")
}

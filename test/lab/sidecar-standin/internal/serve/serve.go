// Package serve runs a lab program's HTTP servers until ctx ends or one of them fails, then shuts
// them all down: the one serving loop of fake-xboard and the sidecar stand-in.
package serve

import (
	"context"
	"log"
	"net"
	"net/http"
	"time"
)

// Run listens on every server's Addr (exiting the program if one cannot be bound), logs banner
// once all listen, and returns after the shutdown.
func Run(ctx context.Context, logger *log.Logger, banner string, servers ...*http.Server) {
	errs := make(chan error, len(servers))
	for _, srv := range servers {
		ln, err := net.Listen("tcp", srv.Addr)
		if err != nil {
			logger.Fatalf("listen %s: %v", srv.Addr, err)
		}
		go func() { errs <- srv.Serve(ln) }()
	}
	logger.Print(banner)
	select {
	case <-ctx.Done():
	case err := <-errs:
		logger.Printf("server stopped: %v", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for _, srv := range servers {
		_ = srv.Shutdown(sctx)
	}
}

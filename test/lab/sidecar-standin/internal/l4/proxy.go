// Package l4 is the lab's stand-in for Xboard's entry point, an AWS NLB with IP targets and
// client IP preservation (deploy/istio/xboard/service-nlb-ip.patch.yaml): per accepted
// connection it picks one target, round-robin, and opens the upstream connection FROM the
// caller's own address, so the target (a sidecar stand-in) sees the VPS address as its TCP peer,
// as an Xboard pod behind such an NLB does. Bytes are copied both ways until either side
// closes. On loopback any 127.x.y.z is local, so binding the caller's address works there.
//
// Serve takes any net.Listener: a TLS listener (tls.NewListener) terminates TLS in front of the
// same forwarding, and the caller's address is still the accepted connection's RemoteAddr.
package l4

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy forwards connections to its targets.
type Proxy struct {
	targets []string
	next    atomic.Uint64
	logf    func(string, ...any)

	accepted  atomic.Int64
	failed    atomic.Int64
	perTarget []atomic.Int64
}

func New(targets []string, logf func(string, ...any)) *Proxy {
	if logf == nil {
		logf = log.Printf
	}
	return &Proxy{targets: targets, logf: logf, perTarget: make([]atomic.Int64, len(targets))}
}

// Stats are connections accepted, connections whose upstream dial failed, and per target.
func (p *Proxy) Stats() (accepted, failed int64, perTarget []int64) {
	perTarget = make([]int64, len(p.perTarget))
	for i := range p.perTarget {
		perTarget[i] = p.perTarget[i].Load()
	}
	return p.accepted.Load(), p.failed.Load(), perTarget
}

// Serve accepts until ln is closed or ctx ends.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	go func() {
		<-ctx.Done()
		_ = ln.Close()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		p.accepted.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.forward(ctx, c)
		}()
	}
}

func (p *Proxy) forward(ctx context.Context, down net.Conn) {
	defer down.Close()
	i := int((p.next.Add(1) - 1) % uint64(len(p.targets)))
	target := p.targets[i]
	d := net.Dialer{Timeout: 5 * time.Second}
	// Client IP preservation: the upstream socket is bound to the caller's address (any port).
	if ta, ok := down.RemoteAddr().(*net.TCPAddr); ok {
		d.LocalAddr = &net.TCPAddr{IP: ta.IP}
	}
	up, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		p.failed.Add(1)
		p.logf("l4: %s -> %s: %v", down.RemoteAddr(), target, err)
		return
	}
	p.perTarget[i].Add(1)
	defer up.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Half-close: the other direction may still carry the answer.
		if tc, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = tc.CloseWrite()
		} else {
			_ = dst.Close()
		}
		done <- struct{}{}
	}
	go pipe(up, down)
	go pipe(down, up)
	select {
	case <-done:
	case <-ctx.Done():
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

package l4

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
)

// Each target answers with the peer address it sees and its own name.
func target(t *testing.T, name string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			_, _ = c.Write([]byte(name + " " + host + "\n"))
			c.Close()
		}
	}()
	return ln.Addr().String()
}

func TestRoundRobinFromTheCallersAddress(t *testing.T) {
	p := New([]string{target(t, "a"), target(t, "b")}, t.Logf)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = p.Serve(ctx, ln) }()
	var got []string
	for _, from := range []string{"127.9.8.7", "127.9.8.7", "127.6.5.4"} {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.TrimSpace(line))
	}
	want := []string{"a 127.9.8.7", "b 127.9.8.7", "a 127.6.5.4"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %v, want %v", got, want)
	}
	if acc, failed, per := p.Stats(); acc != 3 || failed != 0 || per[0] != 2 || per[1] != 1 {
		t.Fatalf("stats %d %d %v", acc, failed, per)
	}
}

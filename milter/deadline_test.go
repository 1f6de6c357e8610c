package milter

import (
	"bufio"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// deadlineCounter counts the read deadlines that reach the connection.
type deadlineCounter struct {
	net.Conn
	reads []time.Time
}

func (d *deadlineCounter) SetReadDeadline(t time.Time) error {
	d.reads = append(d.reads, t)
	return d.Conn.SetReadDeadline(t)
}

// go-milter sets and clears a deadline around every packet: the connection
// gets one only before a read that reaches it, and that read still times
// out at the deadline of its packet.
func TestTrackedConnDeadlines(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	dc := &deadlineCounter{Conn: a}
	tc := &trackedConn{Conn: dc, r: bufio.NewReader(a), onClose: func() {}}

	// Two packets arrive in one read: the second is served from the buffer.
	go b.Write([]byte("0123456789"))
	buf := make([]byte, 5)
	for i, want := range []string{"01234", "56789"} {
		must(t, tc.SetReadDeadline(time.Now().Add(time.Minute)))
		if _, err := tc.Read(buf); err != nil || string(buf) != want {
			t.Fatalf("read %d = %q, %v; want %q", i, buf, err, want)
		}
		must(t, tc.SetReadDeadline(time.Time{}))
	}
	if len(dc.reads) != 1 {
		t.Fatalf("%d deadlines reached the connection, want 1 (the read that reached it): %v", len(dc.reads), dc.reads)
	}

	// A silent peer: the read times out at its packet's deadline.
	start := time.Now()
	must(t, tc.SetReadDeadline(start.Add(50*time.Millisecond)))
	_, err := tc.Read(buf)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read from a silent peer = %v, want a deadline exceeded", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 5*time.Second {
		t.Fatalf("the read timed out after %v, want 50ms", d)
	}
	if len(dc.reads) != 2 {
		t.Fatalf("%d deadlines reached the connection, want 2", len(dc.reads))
	}
}

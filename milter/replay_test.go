package milter

import (
	"strings"
	"testing"
)

func TestSplitMessage(t *testing.T) {
	hdr, body := splitMessage([]byte("From: <a@b.test>\r\nSubject: one\r\n two\r\nX-Empty:\r\n\r\nline 1\nline 2\n"))
	got := ""
	for _, h := range hdr {
		got += h[0] + "=" + h[1] + "|"
	}
	if want := "From= <a@b.test>|Subject= one\n two|X-Empty=|"; got != want {
		t.Errorf("header = %q, want %q", got, want)
	}
	if string(body) != "line 1\r\nline 2\r\n" {
		t.Errorf("body = %q", body)
	}
	if hdr, body := splitMessage([]byte("no header at all\n")); len(hdr) != 0 || string(body) != "no header at all\r\n" {
		t.Errorf("headerless: %q %q", hdr, body)
	}
}

// FuzzSplitMessage: any file splits into header fields whose names hold no
// colon or line break, never a panic.
func FuzzSplitMessage(f *testing.F) {
	for _, s := range []string{"A: b\n\nc", "A: b\r\n c\r\n\r\n", "\n\n", " x\n", ":\n", "A:b"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		hdr, _ := splitMessage(msg)
		for _, h := range hdr {
			if h[0] == "" || strings.ContainsAny(h[0], ": \t\n") {
				t.Fatalf("header name %q", h[0])
			}
		}
	})
}

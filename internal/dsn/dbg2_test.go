package dsn

import (
	"bytes"
	"os"
	"testing"

	"github.com/emersion/go-message"
)

func TestDebugNote(t *testing.T) {
	f := os.Getenv("DSN_FILE")
	if f == "" {
		t.Skip()
	}
	b, _ := os.ReadFile(f)
	b = normalizeNewlines(b)
	e, err := message.Read(bytes.NewReader(b))
	p := &parsed{header: e.Header}
	p.walk(e, 0, false)
	t.Logf("err=%v texts=%d", err, len(p.texts))
	for _, x := range p.texts {
		n := notification(x)
		t.Logf("note=%q bounce=%v", n, looksLikeBounce(p.header, n))
		rep := &Report{}
		rep.readText(p.header, n, p.orig)
		t.Logf("%+v", rep)
	}
}

package dsn

import (
	"os"
	"testing"
)

func TestDebugOne(t *testing.T) {
	f := os.Getenv("DSN_FILE")
	if f == "" {
		t.Skip()
	}
	fh, _ := os.Open(f)
	r, err := Parse(fh)
	t.Logf("%+v %v", r, err)
}

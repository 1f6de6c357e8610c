package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

type testConf struct {
	Name    string   `toml:"name"`
	Wait    Duration `toml:"wait"`
	Network Prefix   `toml:"network"`
	Table   struct {
		Count int `toml:"count"`
	} `toml:"table"`
}

func (c *testConf) Validate() error {
	if c.Table.Count < 0 {
		return Errorf("table.count", "want 0 or more, got %d", c.Table.Count)
	}
	return nil
}

// Every error names the file and, where it can, the line and the key.
func TestDecode(t *testing.T) {
	var c testConf
	if err := Decode("t.toml", []byte("name = \"x\"\nwait = \"90s\"\nnetwork = \"192.0.2.7\"\n[table]\ncount = 3\n"), &c); err != nil {
		t.Fatal(err)
	}
	if c.Name != "x" || time.Duration(c.Wait) != 90*time.Second || c.Network.String() != "192.0.2.7/32" || c.Table.Count != 3 {
		t.Fatalf("decoded %+v", c)
	}
	for in, want := range map[string]string{
		"nmae = \"x\"":                 `t.toml:1: unknown key "nmae"; see contrib/mailsift.toml for the keys there are`,
		"\n[table]\ncount = -1":        `t.toml:3: table.count: want 0 or more, got -1`,
		"wait = \"soon\"":              `t.toml:1: wait: want a duration such as "10s" or "5m", got "soon"`,
		"network = \"10.0.0.0/33\"":    `t.toml:1: network: want a network such as "192.0.2.0/24", got "10.0.0.0/33"`,
		"[table\n":                     `t.toml:2: expected '.' or ']' to end table name, but got '\n' instead`,
		"name = \"\xff\"":              `t.toml: not UTF-8 text; want a TOML file`,
		"[table]\ncount = \"three\"\n": `t.toml:2: table.count: incompatible types: TOML value has type string; destination has type integer`,
	} {
		var c testConf
		if err := Decode("t.toml", []byte(in), &c); err == nil || err.Error() != want {
			t.Errorf("%q:\n got %v\nwant %s", in, err, want)
		}
	}
}

// KeyError puts the key's line to an error its user found.
func TestKeyError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(p, []byte("# x\n[checks.recipient]\nlist = \"/l\"\n"), 0o644)
	if got := KeyError(p, "checks.recipient.list", os.ErrNotExist).Error(); got != p+":3: checks.recipient.list: file does not exist" {
		t.Fatalf("KeyError = %q", got)
	}
	if got := KeyError("", "checks.recipient.list", os.ErrNotExist).Error(); got != "built-in default: checks.recipient.list: file does not exist" {
		t.Fatalf("KeyError = %q", got)
	}
}

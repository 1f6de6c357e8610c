package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The files a configuration names are loaded once, by the command that uses
// them; "config check" loads them to say whether they are good, and an
// error names the configuration file, the key's line and the file.
func TestConfigCheckFiles(t *testing.T) {
	dir := t.TempDir()
	logins := filepath.Join(dir, "logins")
	os.WriteFile(logins, []byte("www\n"), 0o644)
	for _, tt := range []struct{ in, want string }{
		{"[greylist.whitelist]\nfiles = [\"/nonexistent/wl\"]", `:2: greylist.whitelist.files: stat /nonexistent/wl: no such file or directory`},
		{"[checks.recipient]\ndomains = [\"example.org\"]\nlist = \"/nonexistent/recipients\"",
			`:3: checks.recipient.list: recipient list: stat /nonexistent/recipients: no such file or directory`},
		{"[outbound]\nlogins = \"" + logins + "\"", `:2: outbound.logins: ` + logins + `:1: want "LOGIN ADDRESS|@DOMAIN ...", got "www"`},
		{"[outbound]\nmailboxes = \"/nonexistent/mailboxes\"", `:2: outbound.mailboxes: recipient list: stat /nonexistent/mailboxes: no such file or directory`},
	} {
		c := filepath.Join(dir, "c.toml")
		os.WriteFile(c, []byte(tt.in), 0o644)
		for _, cmd := range [][]string{{"config", "check", "-c", c}, {"run", "-c", c}} {
			code, out, errs := runCmd(cmd...)
			if code != 1 || out != "" || errs != c+tt.want+"\n" {
				t.Errorf("%s with %q: exit %d, stdout %q, stderr %q; want 1 and %q", cmd[0], tt.in, code, out, errs, c+tt.want)
			}
		}
	}
	// A good list loads, and config check says so.
	list := filepath.Join(dir, "recipients")
	os.WriteFile(list, []byte("bob@example.org\n"), 0o644)
	c := filepath.Join(dir, "good.toml")
	os.WriteFile(c, []byte("[checks.recipient]\ndomains = [\"example.org\"]\nlist = \""+list+"\"\n"), 0o644)
	if code, out, errs := runCmd("config", "check", "-c", c); code != 0 || !strings.Contains(out, ": valid;") {
		t.Fatalf("good list: exit %d, stderr %q", code, errs)
	}
}

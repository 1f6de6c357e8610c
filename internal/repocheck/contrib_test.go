package repocheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// contrib/postfix/main.cf sends the macros mailsift reads: without
// {daemon_addr} the HELO check cannot tell a client greeting with our own
// address ([192.0.2.25]).
func TestPostfixSnippetMacros(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "contrib/postfix/main.cf"))
	if err != nil {
		t.Fatal(err)
	}
	macros := map[string][]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && strings.HasPrefix(k, "milter_") && strings.HasSuffix(strings.TrimSpace(k), "_macros") {
			macros[strings.TrimSpace(k)] = strings.Fields(v)
		}
	}
	for stage, want := range map[string][]string{
		"milter_connect_macros":       {"j", "{daemon_addr}", "{client_addr}", "{client_name}", "{client_ptr}"},
		"milter_mail_macros":          {"i", "{auth_authen}"},
		"milter_end_of_data_macros":   {"i"},
		"milter_end_of_header_macros": {"i"},
	} {
		for _, m := range want {
			if !strings.Contains(" "+strings.Join(macros[stage], " ")+" ", " "+m+" ") {
				t.Errorf("%s lacks %s: %v", stage, m, macros[stage])
			}
		}
	}
}

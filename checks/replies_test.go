package checks

import "testing"

// The class of the basic code and of the enhanced code must agree for every
// row (maddy once shipped 550 with 4.7.23; this test is what catches that).
func TestTableClassesAgree(t *testing.T) {
	seen := map[string]bool{}
	for _, row := range Table() {
		k := row.Check + "." + row.Key
		if seen[k] {
			t.Errorf("%s: listed twice", k)
		}
		seen[k] = true
		if err := row.Reply.Validate(); err != nil {
			t.Errorf("%s: %v", k, err)
		}
		if row.Key == "temp" && !row.Reply.Temporary() || row.Key == "perm" && row.Reply.Temporary() {
			t.Errorf("%s: %s has the wrong class for its key", k, row.Reply)
		}
	}
}

func TestParseReply(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"550 5.7.1 Go away", "550 5.7.1 Go away", ""},
		{"450 4.7.1 Later please", "450 4.7.1 Later please", ""},
		{"554 Go away", "554 Go away", ""},
		{"550 4.7.1 Go away", "", `reply 550 4.7.1: the enhanced code's class 4.x.x does not match the reply code's class 5xx`},
		{"250 2.0.0 ok", "", "reply code 250: want a 4xx or 5xx code"},
		{"55 5.7.1 x", "", `reply "55 5.7.1 x": want "CODE X.Y.Z text", e.g. "550 5.7.1 Rejected"`},
		{"550 5.7.1", "", `reply "550 5.7.1": the text is empty; say why the mail is refused`},
	}
	for _, tt := range tests {
		r, err := ParseReply(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("ParseReply(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || r.String() != tt.want {
			t.Errorf("ParseReply(%q) = %q, %v; want %q", tt.in, r, err, tt.want)
		}
	}
}

func TestReplyClassConversion(t *testing.T) {
	r := Reply{550, "5.7.25", "x"}
	if got := r.AsTemporary().String(); got != "450 4.7.25 x" {
		t.Errorf("AsTemporary = %q", got)
	}
	if got := (Reply{451, "4.7.1", "x"}).AsPermanent().String(); got != "554 5.7.1 x" {
		t.Errorf("AsPermanent = %q", got)
	}
	for _, row := range Table() {
		if err := row.Reply.AsTemporary().Validate(); err != nil {
			t.Errorf("%s.%s AsTemporary: %v", row.Check, row.Key, err)
		}
		if err := row.Reply.AsPermanent().Validate(); err != nil {
			t.Errorf("%s.%s AsPermanent: %v", row.Check, row.Key, err)
		}
	}
}

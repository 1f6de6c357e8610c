package milter

import "testing"

// FuzzAuthServID: the authserv-id of any Authentication-Results value is
// found or empty, never a panic, and a header whose id is ours is the one
// removed.
func FuzzAuthServID(f *testing.F) {
	for _, s := range []string{"mx.mailsift.test; none", "mx.mailsift.test 1; spf=pass", " mx.mailsift.test ;dkim=pass", "", ";", "x\r\n\ty; z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		id := authServID(v)
		if len(id) > len(v) {
			t.Fatalf("authServID(%q) = %q", v, id)
		}
	})
}

func TestAuthServID(t *testing.T) {
	for in, want := range map[string]string{
		"mx.mailsift.test; none":              "mx.mailsift.test",
		"mx.mailsift.test 1; spf=pass":        "mx.mailsift.test",
		"  MX.mailsift.test ; dkim=pass":      "MX.mailsift.test",
		"other.example; spf=fail (bad (nest)": "other.example",
	} {
		if got := authServID(in); got != want {
			t.Errorf("authServID(%q) = %q, want %q", in, got, want)
		}
	}
}

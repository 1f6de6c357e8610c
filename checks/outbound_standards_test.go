package checks

import (
	"context"
	"strings"
	"testing"
)

func TestStandards(t *testing.T) {
	s := &Standards{Violation: reply(t, StandardsName, "perm")}
	ok := []Header{{"From", "a@site.test"}, {"Subject", "hi"}, {"Date", "Mon, 1 Jan 2026 00:00:00 +0000"},
		{"Message-ID", "<1@site.test>"}, {"Received", "one"}, {"Received", "two"}, {"X-Long", "folded\n\tline"}}
	long := strings.Repeat("x", 998)
	tests := []struct {
		name    string
		headers []Header
		body    []string // written in these chunks, after the header block
		what    string
	}{
		{"clean", ok, []string{"Hello\r\n", long + "\r\n"}, ""},
		{"no From", ok[1:], nil, "no From header field"},
		{"two From", append([]Header{{"FROM", "b@site.test"}}, ok...), nil, "2 From header fields"},
		{"two Subject", append(ok, Header{"subject", "again"}), nil, "2 Subject header fields"},
		{"two Date", append(ok, Header{"Date", "x"}), nil, "2 Date header fields"},
		{"two Message-ID", append(ok, Header{"Message-Id", "<2@x>"}), nil, "2 Message-ID header fields"},
		{"long header line", append(ok, Header{"X-Big", strings.Repeat("y", 993)}), nil, "a line of the X-Big header field is 1000 octets long, over 998"},
		{"long folded header line", append(ok, Header{"X-Big", "a\n " + strings.Repeat("y", 998)}), nil, "a line of the X-Big header field is 999 octets long, over 998"},
		{"bare CR in a header", append(ok, Header{"X-CR", "a\rb"}), nil, "bare CR in the X-CR header field"},
		{"bare LF in a header", append(ok, Header{"X-LF", "a\nb"}), nil, "bare LF in the X-LF header field"},
		{"long body line", ok, []string{"Hi\r\n", long[:500], long[:499] + "\r\n"}, "line 2 of the body is over 998 octets long"},
		{"bare LF in the body", ok, []string{"one\r\ntwo\nthree\r\n"}, "bare LF in line 2 of the body"},
		{"bare CR in the body", ok, []string{"one\r", "two\r\n"}, "bare CR in line 1 of the body"},
		{"CRLF split across chunks", ok, []string{"one\r", "\ntwo\r\n"}, ""},
		{"bare CR at the end", ok, []string{"one\r\ntwo\r"}, "bare CR in line 2 of the body"},
		{"first of several", ok, []string{"a\nb\rc\r\n"}, "bare LF in line 1 of the body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := s.Stream(context.Background())
			// The header block as the milter writes it: a bare LF in it
			// must not count, only the body's.
			st.Write([]byte("From: a@site.test\r\nX-Long: folded\r\n\tline\r\n\r"))
			st.Write([]byte("\n"))
			for _, c := range tt.body {
				st.Write([]byte(c))
			}
			r := s.CheckData(context.Background(), &Envelope{Headers: tt.headers, Streams: map[string]MessageStream{StandardsName: st}})
			if tt.what == "" {
				if r.Status != Pass || r.Reason != "standards-ok" {
					t.Fatalf("got %+v, want pass", r)
				}
				return
			}
			want := "550 5.6.0 Message does not comply with RFC 5322: " + tt.what
			if r.Status != Fail || r.Reason != "standards-violation" || r.Reply.String() != want {
				t.Fatalf("got %s %s %q, want %q", r.Status, r.Reason, r.Reply, want)
			}
		})
	}
}

func FuzzStandards(f *testing.F) {
	f.Add("From: a@b\r\n\r\nhello\r\n", "x\ny")
	f.Add("\r\n\r\n\r\r\n\n", "")
	f.Fuzz(func(t *testing.T, msg, header string) {
		s := &Standards{Violation: Reply{550, "5.6.0", "Message does not comply with RFC 5322: {what}"}}
		st := s.Stream(context.Background())
		for i := 0; i < len(msg); i += 3 {
			st.Write([]byte(msg[i:min(i+3, len(msg))]))
		}
		r := s.CheckData(context.Background(), &Envelope{Headers: []Header{{"From", header}}, Streams: map[string]MessageStream{StandardsName: st}})
		if r.Status == Fail {
			if err := r.Reply.Validate(); err != nil {
				t.Fatalf("reply %q: %v", r.Reply, err)
			}
		}
		// One pass, one byte at a time, finds the same.
		st2 := s.Stream(context.Background())
		for i := range len(msg) {
			st2.Write([]byte{msg[i]})
		}
		r2 := s.CheckData(context.Background(), &Envelope{Headers: []Header{{"From", header}}, Streams: map[string]MessageStream{StandardsName: st2}})
		if r.Text != r2.Text {
			t.Fatalf("chunking changed the finding: %q vs %q", r.Text, r2.Text)
		}
	})
}

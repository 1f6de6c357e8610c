package e2e

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metricValue returns the value of the sample line that starts with name.
func metricValue(body, name string) string {
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, name+" ") {
			return strings.TrimPrefix(l, name+" ")
		}
	}
	return ""
}

// The admin endpoint after real sessions through Postfix: the counters
// moved, health and readiness answer, and a greylisted triplet can be
// looked up, whitelisted and deleted.
func TestAdminEndpoint(t *testing.T) {
	m := startMailsift(t, greylistConfig+"snapshot = \"\"\n")
	p := startPostfix(t, m.addr)
	base := "http://" + m.waitLog(t, "admin endpoint listening")["mailsift.admin.listen"].(string)

	c := p.xclient(t, "192.0.2.10", "good.checks.test", "mail.checks.test")
	c.expect("250", "MAIL FROM:<admin@checks.test>")
	c.expect("450 4.7.1", "RCPT TO:<bob@example.test>")
	c.expect("221", "QUIT")
	m.recordFor(t, "admin@checks.test")

	code, body := get(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for name, want := range map[string]string{
		`mailsift_messages_total{action="tempfail"}`:                   "1",
		`mailsift_check_results_total{check="greylist",status="fail"}`: "1",
		`mailsift_check_results_total{check="ptr",status="pass"}`:      "1",
		`mailsift_replies_total{class="4xx"}`:                          "1",
		`mailsift_greylist_entries`:                                    "1",
		`mailsift_sessions_open`:                                       "0",
	} {
		if got := metricValue(body, name); got != want {
			t.Errorf("%s = %q, want %s", name, got, want)
		}
	}
	for _, name := range []string{`mailsift_sessions_total`, `mailsift_dns_cache_total{result="miss"}`, `mailsift_dns_queries_total{outcome="answer"}`} {
		if v := metricValue(body, name); v == "" || v == "0" {
			t.Errorf("%s = %q, want it to have moved", name, v)
		}
	}
	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 200 || body != "ready\n" {
		t.Errorf("/readyz: %d %q", code, body)
	}

	q := url.Values{"client": {"org:checks.test"}, "sender": {"admin@checks.test"}, "rcpt": {"bob@example.test"}}.Encode()
	if _, body := get(t, base+"/greylist?"+q); !strings.Contains(body, `"state":"pending"`) {
		t.Fatalf("lookup: %s", body)
	}
	for _, action := range []string{"pass", "delete"} {
		resp, err := http.Post(base+"/greylist/"+action+"?"+q, "", nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", action, resp, err)
		}
		resp.Body.Close()
		_, body := get(t, base+"/greylist?"+q)
		want := map[string]string{"pass": `"state":"passed"`, "delete": `"state":"unknown"`}[action]
		if !strings.Contains(body, want) {
			t.Fatalf("after %s: %s", action, body)
		}
	}
	// Whitelisted by hand: the next attempt passes without waiting.
	resp, _ := http.Post(base+"/greylist/pass?"+q, "", nil)
	resp.Body.Close()
	c = p.xclient(t, "192.0.2.10", "good.checks.test", "mail.checks.test")
	c.expect("250", "MAIL FROM:<admin@checks.test>")
	c.expect("250", "RCPT TO:<bob@example.test>")
	c.expect("221", "QUIT")
	if code, _ := get(t, base+"/greylist"); code != http.StatusBadRequest {
		t.Errorf("lookup without parameters: %d, want 400", code)
	}
}

package admin

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/mailsift/mailsift/greylist"
)

var t0 = time.Unix(1_800_000_000, 0)

type endpoint struct {
	base   string // http://127.0.0.1:PORT
	port   string
	store  *greylist.Memory
	greyOn atomic.Bool
	logs   *observer.ObservedLogs
}

// start serves Handler on a loopback port, as cmd/mailsift does.
func start(t *testing.T, listen, token string) *endpoint {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if listen == "" {
		listen = ln.Addr().String()
	}
	core, logs := observer.New(zap.InfoLevel)
	e := &endpoint{base: "http://" + ln.Addr().String(), port: port, store: greylist.NewMemory(1000), logs: logs}
	e.greyOn.Store(true)
	h := Handler(Options{Registry: prometheus.NewRegistry(), Ready: func(context.Context) error { return nil },
		Greylist: func() greylist.Admin {
			if e.greyOn.Load() {
				return e.store
			}
			return nil
		},
		MaxAge: func() time.Duration { return time.Hour }, Now: func() time.Time { return t0 },
		Listen: listen, Token: token, Log: zap.New(core)})
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return e
}

var triplet = url.Values{"client": {"net:192.0.2.0/24"}, "sender": {"alice@example.com"}, "rcpt": {"bob@example.org"}}.Encode()

// do sends a request with the given Host and headers and returns the
// status and body.
func (e *endpoint) do(t *testing.T, method, path, host string, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.base+path, nil)
	if host != "" {
		req.Host = host
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *endpoint) state(t *testing.T) string {
	t.Helper()
	_, body := e.do(t, "GET", "/greylist?"+triplet, "", nil)
	return body
}

// A page in a browser on this host cannot reach the endpoint through a
// rebound DNS name, nor make it whitelist a triplet with a cross-site POST.
func TestHostAndOrigin(t *testing.T) {
	e := start(t, "", "")
	for _, tt := range []struct {
		host string
		hdr  map[string]string
		code int
	}{
		{"", nil, 200},
		{"localhost:" + e.port, nil, 200},
		{"LOCALHOST.:" + e.port, nil, 200},
		{"[::1]:" + e.port, nil, 200},
		{"127.0.0.2:" + e.port, nil, 200},
		{"evil.example:" + e.port, nil, 421},
		{"evil.example", nil, 421},
		{"192.0.2.1:" + e.port, nil, 421},
		{"", map[string]string{"Origin": "http://evil.example"}, 403},
		{"", map[string]string{"Origin": "null"}, 403},
		{"", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"", map[string]string{"Sec-Fetch-Site": "same-origin"}, 200},
		{"", map[string]string{"Origin": "http://127.0.0.1:" + e.port}, 200},
	} {
		if code, body := e.do(t, "POST", "/greylist/pass?"+triplet, tt.host, tt.hdr); code != tt.code {
			t.Errorf("Host %q %v: %d %q, want %d", tt.host, tt.hdr, code, body, tt.code)
		}
		if tt.code != 200 {
			if s := e.state(t); !strings.Contains(s, `"state":"unknown"`) {
				t.Fatalf("Host %q %v: the refused POST changed the triplet: %s", tt.host, tt.hdr, s)
			}
		} else {
			e.store.Delete(context.Background(), greylist.TripletKey("net:192.0.2.0/24", "alice@example.com", "bob@example.org"))
		}
	}
	if code, body := e.do(t, "GET", "/metrics", "rebind.example:"+e.port, nil); code != 421 || !strings.Contains(body, `Host "rebind.example:`+e.port+`" is not this endpoint's`) {
		t.Fatalf("GET /metrics through a rebound name: %d %q", code, body)
	}
}

// Listening on all addresses: an address is no name to rebind, so any is
// taken; names other than localhost are not.
func TestHostWildcardListen(t *testing.T) {
	e := start(t, "0.0.0.0:9895", "")
	if code, _ := e.do(t, "GET", "/healthz", "192.0.2.7:9895", nil); code != 200 {
		t.Fatalf("an address: %d", code)
	}
	if code, _ := e.do(t, "GET", "/healthz", "evil.example:9895", nil); code != 421 {
		t.Fatalf("a name: %d", code)
	}
}

func TestToken(t *testing.T) {
	e := start(t, "", "s3cret-token")
	for _, tt := range []struct {
		path, auth string
		code       int
	}{
		{"/metrics", "", 401},
		{"/metrics", "Bearer wrong", 401},
		{"/metrics", "Basic czNjcmV0LXRva2Vu", 401},
		{"/metrics", "Bearer s3cret-token", 200},
		{"/greylist?" + triplet, "Bearer s3cret-token", 200},
		{"/greylist?" + triplet, "", 401},
		{"/healthz", "", 200},
	} {
		hdr := map[string]string{}
		if tt.auth != "" {
			hdr["Authorization"] = tt.auth
		}
		code, body := e.do(t, "GET", tt.path, "", hdr)
		if code != tt.code || strings.Contains(body, "s3cret") {
			t.Errorf("%s with %q: %d %q, want %d", tt.path, tt.auth, code, body, tt.code)
		}
	}
	code, _ := e.do(t, "POST", "/greylist/pass?"+triplet, "", nil)
	if _, s := e.do(t, "GET", "/greylist?"+triplet, "", map[string]string{"Authorization": "Bearer s3cret-token"}); code != 401 || !strings.Contains(s, `"state":"unknown"`) {
		t.Fatalf("POST without the token: %d, then %s", code, s)
	}
}

// Every change made by hand leaves a log line: what, which triplet, who.
func TestChangesLogged(t *testing.T) {
	e := start(t, "", "")
	for _, action := range []string{"pass", "delete"} {
		if code, body := e.do(t, "POST", "/greylist/"+action+"?"+triplet, "", nil); code != 200 {
			t.Fatalf("%s: %d %q", action, code, body)
		}
	}
	logs := e.logs.FilterMessage("greylist changed through the admin endpoint").All()
	if len(logs) != 2 {
		t.Fatalf("%d change records, want 2: %v", len(logs), e.logs.All())
	}
	for i, want := range []string{"greylist-pass", "greylist-delete"} {
		f := logs[i].ContextMap()
		if f["mailsift.admin.action"] != want || f["mailsift.checks.greylist.client_key"] != "net:192.0.2.0/24" ||
			f["email.from.address"] != "alice@example.com" || f["email.to.address"] != "bob@example.org" ||
			!strings.HasPrefix(f["client.address"].(string), "127.0.0.1:") {
			t.Errorf("record %d: %v", i, f)
		}
	}
}

// The store is asked for at each request: greylisting turned on by a
// reload is there without a restart, and turned off is gone.
func TestGreylistFollowsReload(t *testing.T) {
	e := start(t, "", "")
	e.greyOn.Store(false)
	if code, body := e.do(t, "GET", "/greylist?"+triplet, "", nil); code != 404 || body != "greylisting is off\n" {
		t.Fatalf("off: %d %q", code, body)
	}
	e.greyOn.Store(true)
	if code, body := e.do(t, "GET", "/greylist?"+triplet, "", nil); code != 200 || !strings.Contains(body, `"state":"unknown"`) {
		t.Fatalf("on: %d %q", code, body)
	}
}

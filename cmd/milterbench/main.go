// Command milterbench is a milter load generator: it speaks the milter
// protocol to any milter (mailsift, OpenDMARC, OpenDKIM, rspamd's proxy...)
// as Postfix does, and reports messages per second, round trips per
// second, latency percentiles, and the actions and reply codes it got.
//
//	milterbench -addr unix:/run/mailsift.sock -c 8 -d 10s
//	milterbench -addr inet:127.0.0.1:8895 -corpus testdata/bench -json
//
// Templates (-client-ip, -helo, -from, -rcpt) take {n}, the message number,
// and {c}, the connection number, for variety.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/textproto"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gomilter "github.com/d--j/go-milter"
)

type options struct {
	addr                        string
	concurrency, perConn, count int
	duration, warmup, timeout   time.Duration
	corpus                      string
	size, headers               int
	clientIP, clientName, helo  string
	from, rcpt                  string
	jsonOut                     bool
	actions, protocol, version  uint
}

// What Postfix 3.7 offers with milter_protocol = 6 (src/milter/milter8.c,
// milter8_connect: my_actions, MILTER8_V6_PROTO_MASK), and the macros it
// sends by default at each stage (postconf -d milter_connect_macros ...),
// unless the milter asks for others.
const (
	postfixActions = gomilter.OptAddHeader | gomilter.OptChangeBody | gomilter.OptAddRcpt | gomilter.OptRemoveRcpt |
		gomilter.OptChangeHeader | gomilter.OptQuarantine | gomilter.OptChangeFrom | gomilter.OptAddRcptWithArgs | gomilter.OptSetMacros
	postfixProtocol = gomilter.OptNoConnect | gomilter.OptNoHelo | gomilter.OptNoMailFrom | gomilter.OptNoRcptTo |
		gomilter.OptNoBody | gomilter.OptNoHeaders | gomilter.OptNoEOH | gomilter.OptNoUnknown | gomilter.OptNoData |
		gomilter.OptSkip | gomilter.OptRcptRej | gomilter.OptNoReplies | gomilter.OptHeaderLeadingSpace
)

var postfixMacros = [][]gomilter.MacroName{
	gomilter.StageConnect: {"j", "{daemon_name}", "{daemon_addr}", "v", "_"},
	gomilter.StageHelo:    {"{tls_version}", "{cipher}", "{cipher_bits}", "{cert_subject}", "{cert_issuer}"},
	gomilter.StageMail:    {"i", "{auth_type}", "{auth_authen}", "{auth_author}", "{mail_addr}", "{mail_host}", "{mail_mailer}"},
	gomilter.StageRcpt:    {"i", "{rcpt_addr}", "{rcpt_host}", "{rcpt_mailer}"},
	gomilter.StageData:    {"i"},
	gomilter.StageEOM:     {"i"},
	gomilter.StageEOH:     {"i"},
}

// clientOptions are the options of a client that drives a milter as
// Postfix 3.7 does.
func clientOptions(o options) []gomilter.Option {
	opts := []gomilter.Option{
		gomilter.WithReadTimeout(o.timeout), gomilter.WithWriteTimeout(o.timeout),
		gomilter.WithMaximumVersion(uint32(o.version)),
		gomilter.WithActions(gomilter.OptAction(o.actions)), gomilter.WithProtocols(gomilter.OptProtocol(o.protocol)),
		gomilter.WithoutDefaultMacros(),
	}
	for st, ms := range postfixMacros {
		opts = append(opts, gomilter.WithMacroRequest(gomilter.MacroStage(st), ms))
	}
	return opts
}

// message is one corpus message: its headers in order and its body.
type message struct {
	headers [][2]string
	body    []byte
}

func main() {
	var o options
	flag.StringVar(&o.addr, "addr", "inet:127.0.0.1:8895", "the milter: inet:HOST:PORT or unix:PATH")
	flag.IntVar(&o.concurrency, "c", 8, "connections at once")
	flag.IntVar(&o.perConn, "n", 1, "messages per connection")
	flag.IntVar(&o.count, "count", 0, "stop after this many messages (0: run for -d)")
	flag.DurationVar(&o.duration, "d", 10*time.Second, "how long to measure")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "load before measuring")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Second, "per milter reply")
	flag.StringVar(&o.corpus, "corpus", "", "a directory of .eml files (default: a generated message)")
	flag.IntVar(&o.size, "size", 4096, "generated message: body bytes")
	flag.IntVar(&o.headers, "headers", 10, "generated message: header count")
	flag.StringVar(&o.clientIP, "client-ip", "192.0.2.10", "client address template")
	flag.StringVar(&o.clientName, "client-name", "good.checks.test", "client hostname template")
	flag.StringVar(&o.helo, "helo", "mail.checks.test", "HELO template")
	flag.StringVar(&o.from, "from", "alice{n}@checks.test", "MAIL FROM template")
	flag.StringVar(&o.rcpt, "rcpt", "bob@example.test", "RCPT TO template; comma-separated for several")
	flag.BoolVar(&o.jsonOut, "json", false, "print the result as JSON")
	flag.UintVar(&o.actions, "actions", uint(postfixActions), "action mask offered (default: Postfix 3.7's)")
	flag.UintVar(&o.protocol, "protocol", uint(postfixProtocol), "protocol mask offered (default: Postfix 3.7's with milter_protocol = 6)")
	flag.UintVar(&o.version, "version", 6, "milter protocol version offered")
	flag.Parse()
	msgs, err := loadCorpus(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "milterbench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res := run(ctx, o, msgs)
	if o.jsonOut {
		json.NewEncoder(os.Stdout).Encode(res)
	} else {
		res.print(os.Stdout)
	}
	if res.Messages == 0 {
		os.Exit(1)
	}
}

func loadCorpus(o options) ([]message, error) {
	if o.corpus == "" {
		m := message{body: bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ=-\r\n"), max(o.size/66, 1))}
		m.headers = [][2]string{{"From", "Alice <alice@checks.test>"}, {"To", "bob@example.test"}, {"Subject", "milterbench"},
			{"Message-Id", "<bench@checks.test>"}, {"Date", "Sat, 28 Nov 2026 12:00:00 +0000"}}
		for i := len(m.headers); i < o.headers; i++ {
			m.headers = append(m.headers, [2]string{fmt.Sprintf("X-Bench-%d", i), "filler value for a realistic header block"})
		}
		return []message{m}, nil
	}
	files, err := filepath.Glob(filepath.Join(o.corpus, "*.eml"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no .eml files in %s", o.corpus)
	}
	var msgs []message
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		r := textproto.NewReader(bufio.NewReader(bytes.NewReader(b)))
		var m message
		for {
			line, err := r.ReadContinuedLine()
			if err != nil || line == "" {
				break
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				return nil, fmt.Errorf("%s: bad header line %q", f, line)
			}
			m.headers = append(m.headers, [2]string{k, strings.TrimSpace(v)})
		}
		rest, _ := io.ReadAll(r.R)
		m.body = bytes.ReplaceAll(bytes.ReplaceAll(rest, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// result is what a run measured.
type result struct {
	Messages      int                `json:"messages"`
	Seconds       float64            `json:"seconds"`
	MsgsPerSec    float64            `json:"messages_per_second"`
	TripsPerSec   float64            `json:"round_trips_per_second"`
	P50, P90, P99 float64            `json:"-"`
	Latency       map[string]float64 `json:"latency_ms"`
	Actions       map[string]int     `json:"actions"`
	Codes         map[string]int     `json:"reply_codes"`
	Errors        int                `json:"errors"`
	FirstError    string             `json:"first_error,omitempty"`
}

func (r *result) print(w io.Writer) {
	fmt.Fprintf(w, "messages      %d in %.1fs\n", r.Messages, r.Seconds)
	fmt.Fprintf(w, "messages/s    %.1f\n", r.MsgsPerSec)
	fmt.Fprintf(w, "round trips/s %.1f\n", r.TripsPerSec)
	fmt.Fprintf(w, "latency ms    p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", r.Latency["p50"], r.Latency["p90"], r.Latency["p99"], r.Latency["max"])
	fmt.Fprintf(w, "actions       %v\n", r.Actions)
	fmt.Fprintf(w, "reply codes   %v\n", r.Codes)
	fmt.Fprintf(w, "errors        %d %s\n", r.Errors, r.FirstError)
}

type stats struct {
	mu        sync.Mutex
	lat       []time.Duration
	trips     int
	actions   map[string]int
	codes     map[string]int
	errors    int
	firstErr  string
	measuring atomic.Bool
}

func run(ctx context.Context, o options, msgs []message) *result {
	network, address, _ := strings.Cut(o.addr, ":")
	if network == "inet" {
		network = "tcp"
	}
	client := gomilter.NewClient(network, address, clientOptions(o)...)
	st := &stats{actions: map[string]int{}, codes: map[string]int{}}
	var seq atomic.Int64
	var done atomic.Int64
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for c := 0; c < o.concurrency; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				conn(ctx, client, o, msgs, c, &seq, st, &done, cancel)
			}
		}()
	}
	if o.warmup > 0 && o.count == 0 {
		select {
		case <-time.After(o.warmup):
		case <-ctx.Done():
		}
	}
	st.measuring.Store(true)
	start := time.Now()
	if o.count == 0 {
		select {
		case <-time.After(o.duration):
		case <-ctx.Done():
		}
		cancel()
	}
	progress := isTerminal()
	stopProgress := make(chan struct{})
	if progress {
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-stopProgress:
					return
				case <-t.C:
					st.mu.Lock()
					fmt.Fprintf(os.Stderr, "\r%d messages, %d errors", len(st.lat), st.errors)
					st.mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(stopProgress)
	if progress {
		fmt.Fprintln(os.Stderr)
	}
	secs := time.Since(start).Seconds()
	st.mu.Lock()
	defer st.mu.Unlock()
	sort.Slice(st.lat, func(i, j int) bool { return st.lat[i] < st.lat[j] })
	pct := func(p float64) float64 {
		if len(st.lat) == 0 {
			return 0
		}
		return float64(st.lat[min(int(p*float64(len(st.lat))), len(st.lat)-1)]) / 1e6
	}
	return &result{Messages: len(st.lat), Seconds: secs, MsgsPerSec: float64(len(st.lat)) / secs, TripsPerSec: float64(st.trips) / secs,
		Latency: map[string]float64{"p50": pct(.5), "p90": pct(.9), "p99": pct(.99), "max": pct(1)},
		Actions: st.actions, Codes: st.codes, Errors: st.errors, FirstError: st.firstErr}
}

func expand(tmpl string, n int64, c int) string {
	return strings.NewReplacer("{n}", strconv.FormatInt(n, 10), "{c}", strconv.Itoa(c)).Replace(tmpl)
}

// conn runs one milter connection of up to o.perConn messages, with the
// commands and macros Postfix sends.
func conn(ctx context.Context, client *gomilter.Client, o options, msgs []message, c int, seq *atomic.Int64, st *stats, done *atomic.Int64, stop func()) {
	fail := func(err error) {
		st.mu.Lock()
		st.errors++
		if st.firstErr == "" {
			st.firstErr = err.Error()
		}
		st.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	n := seq.Add(1)
	ip := expand(o.clientIP, n, c)
	name := expand(o.clientName, n, c)
	mac := macros{}
	for k, v := range map[string]string{"j": "mx.bench.test", "{daemon_name}": "mx.bench.test", "{daemon_addr}": "127.0.0.1",
		"v": "Postfix 3.7.11", "_": name + " [" + ip + "]", "{client_addr}": ip, "{client_name}": name, "{client_ptr}": name,
		"{client_port}": "40000"} {
		mac[k] = v
	}
	s, err := client.Session(mac)
	if err != nil {
		fail(err)
		return
	}
	defer s.Close()
	trips := 0
	// trip counts a command the milter answers.
	trip := func(opt gomilter.OptProtocol) {
		if !s.ProtocolOption(opt) {
			trips++
		}
	}
	step := func(a *gomilter.Action, err error) (*gomilter.Action, bool) {
		if err != nil {
			fail(err)
			return nil, false
		}
		return a, true
	}
	trip(gomilter.OptNoConnReply)
	if _, ok := step(s.Conn(name, gomilter.FamilyInet, 40000, ip)); !ok {
		return
	}
	trip(gomilter.OptNoHeloReply)
	if _, ok := step(s.Helo(expand(o.helo, n, c))); !ok {
		return
	}
	for i := 0; i < o.perConn && ctx.Err() == nil; i++ {
		if i > 0 {
			n = seq.Add(1)
			start = time.Now()
		}
		m := msgs[int(n)%len(msgs)]
		action, code := "", ""
		record := func(a *gomilter.Action) {
			switch a.Type {
			case gomilter.ActionRejectWithCode, gomilter.ActionReject, gomilter.ActionTempFail:
				action, code = "reply", strconv.Itoa(int(a.SMTPCode))
			case gomilter.ActionContinue, gomilter.ActionAccept:
				action = "accept"
			case gomilter.ActionDiscard:
				action = "discard"
			default:
				action = a.String()
			}
		}
		from := expand(o.from, n, c)
		mac.set("{mail_addr}", from)
		mac.set("{mail_host}", from[strings.LastIndexByte(from, '@')+1:])
		mac.set("{mail_mailer}", "smtp")
		trip(gomilter.OptNoMailReply)
		a, ok := step(s.Mail(from, ""))
		if !ok {
			return
		}
		refused := a.StopProcessing()
		if refused {
			record(a)
		}
		accepted := 0
		for _, rc := range strings.Split(expand(o.rcpt, n, c), ",") {
			if refused {
				break
			}
			mac.set("{rcpt_addr}", rc)
			mac.set("{rcpt_host}", rc[strings.LastIndexByte(rc, '@')+1:])
			mac.set("{rcpt_mailer}", "virtual")
			trip(gomilter.OptNoRcptReply)
			a, ok := step(s.Rcpt(rc, ""))
			if !ok {
				return
			}
			if a.StopProcessing() {
				record(a)
			} else {
				accepted++
			}
		}
		if refused || accepted == 0 {
			if err := s.Abort(nil); err != nil {
				fail(err)
				return
			}
		} else {
			// Postfix knows the queue id from DATA on.
			mac.set("i", fmt.Sprintf("Q%d", n))
			trip(gomilter.OptNoDataReply)
			if _, ok := step(s.DataStart()); !ok {
				return
			}
			for _, h := range m.headers {
				if !s.ProtocolOption(gomilter.OptNoHeaders) && !s.Skip() {
					trip(gomilter.OptNoHeaderReply)
				}
				// Postfix sends the value as it was, its leading space
				// included, when the milter asks for SMFIP_HDR_LEADSPC;
				// else without the space.
				v := h[1]
				if s.ProtocolOption(gomilter.OptHeaderLeadingSpace) {
					v = " " + v
				}
				if _, ok := step(s.HeaderField(h[0], v, nil)); !ok {
					return
				}
			}
			if !s.ProtocolOption(gomilter.OptNoEOH) {
				trip(gomilter.OptNoEOHReply)
			}
			if _, ok := step(s.HeaderEnd()); !ok {
				return
			}
			for off := 0; off == 0 || off < len(m.body); off += int(gomilter.DataSize64K) {
				if !s.ProtocolOption(gomilter.OptNoBody) && !s.Skip() {
					trip(gomilter.OptNoBodyReply)
				}
				if _, ok := step(s.BodyChunk(m.body[off:min(off+int(gomilter.DataSize64K), len(m.body))])); !ok {
					return
				}
			}
			trips++
			_, a, err := s.End()
			if _, ok := step(a, err); !ok {
				return
			}
			record(a)
			// Postfix aborts after each message.
			if err := s.Abort(nil); err != nil {
				fail(err)
				return
			}
		}
		for _, k := range []string{"i", "{mail_addr}", "{mail_host}", "{mail_mailer}", "{rcpt_addr}", "{rcpt_host}", "{rcpt_mailer}"} {
			delete(mac, k)
		}
		if !st.measuring.Load() {
			trips = 0
			continue
		}
		lat := time.Since(start)
		st.mu.Lock()
		st.lat = append(st.lat, lat)
		st.trips += trips
		if action == "" {
			action = "accept"
		}
		st.actions[action]++
		if code != "" {
			st.codes[code]++
		}
		st.mu.Unlock()
		trips = 0
		if o.count > 0 && done.Add(1) >= int64(o.count) {
			stop()
		}
	}
}

// macros are the macro values of one SMTP session, as Postfix knows them.
type macros map[string]string

func (m macros) GetEx(name string) (string, bool) { v, ok := m[name]; return v, ok }
func (m macros) Get(name string) string           { return m[name] }
func (m macros) set(name, value string)           { m[name] = value }

func isTerminal() bool {
	fi, err := os.Stderr.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

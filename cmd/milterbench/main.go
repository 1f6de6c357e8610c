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

	gomilter "github.com/emersion/go-milter"
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
	actions, protocol           uint
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
	flag.UintVar(&o.actions, "actions", uint(0x3f), "action mask offered: every action of milter protocol version 2 (go-milter's client downgrades only within these)")
	flag.UintVar(&o.protocol, "protocol", 0, "protocol mask offered")
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
	client := gomilter.NewClientWithOptions(network, address, gomilter.ClientOptions{
		ReadTimeout: o.timeout, WriteTimeout: o.timeout,
		ActionMask: gomilter.OptAction(o.actions), ProtocolMask: gomilter.OptProtocol(o.protocol)})
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

// conn runs one milter connection of up to o.perConn messages.
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
	s, err := client.Session()
	if err != nil {
		fail(err)
		return
	}
	defer s.Close()
	n := seq.Add(1)
	ip := expand(o.clientIP, n, c)
	trips := 0
	step := func(a *gomilter.Action, err error) (*gomilter.Action, bool) {
		trips++
		if err != nil {
			fail(err)
			return nil, false
		}
		return a, true
	}
	s.Macros(gomilter.CodeConn, "j", "mx.bench.test", "{daemon_name}", "mx.bench.test", "{client_addr}", ip,
		"{client_name}", expand(o.clientName, n, c), "{client_ptr}", expand(o.clientName, n, c), "{client_port}", "40000")
	if _, ok := step(s.Conn(expand(o.clientName, n, c), gomilter.FamilyInet, 40000, ip)); !ok {
		return
	}
	s.Macros(gomilter.CodeHelo, "{client_addr}", ip)
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
			switch a.Code {
			case gomilter.ActReplyCode:
				action, code = "reply", strconv.Itoa(a.SMTPCode)
			case gomilter.ActContinue, gomilter.ActAccept:
				action = "accept"
			default:
				action = string(rune(a.Code))
			}
		}
		s.Macros(gomilter.CodeMail, "{mail_addr}", expand(o.from, n, c))
		a, ok := step(s.Mail("<"+expand(o.from, n, c)+">", nil))
		if !ok {
			return
		}
		refused := a.Code != gomilter.ActContinue
		accepted := 0
		for _, rc := range strings.Split(expand(o.rcpt, n, c), ",") {
			s.Macros(gomilter.CodeRcpt, "{rcpt_addr}", rc)
			a, ok := step(s.Rcpt("<"+rc+">", nil))
			if !ok {
				return
			}
			if a.Code == gomilter.ActContinue {
				accepted++
			} else {
				record(a)
			}
		}
		if refused || accepted == 0 {
			s.Abort()
		} else {
			s.Macros(gomilter.CodeHeader, "i", fmt.Sprintf("Q%d", n))
			for _, h := range m.headers {
				if !s.ProtocolOption(gomilter.OptNoHeaders) {
					if _, ok := step(s.HeaderField(h[0], h[1])); !ok {
						return
					}
				}
			}
			if !s.ProtocolOption(gomilter.OptNoEOH) {
				if _, ok := step(s.HeaderEnd()); !ok {
					return
				}
			}
			if !s.ProtocolOption(gomilter.OptNoBody) {
				for off := 0; off < len(m.body); off += gomilter.MaxBodyChunk {
					if _, ok := step(s.BodyChunk(m.body[off:min(off+gomilter.MaxBodyChunk, len(m.body))])); !ok {
						return
					}
				}
			}
			s.Macros(gomilter.CodeEOB, "i", fmt.Sprintf("Q%d", n))
			_, a, err := s.End()
			if _, ok := step(a, err); !ok {
				return
			}
			record(a)
			if !refused {
				s.Abort() // Postfix aborts after each message
			}
		}
		if !st.measuring.Load() {
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

func isTerminal() bool {
	fi, err := os.Stderr.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

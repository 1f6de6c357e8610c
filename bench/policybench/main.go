// Command policybench drives a Postfix policy server (postgrey, or any
// check_policy_service target) over the policy delegation protocol, as
// Postfix's smtpd does at RCPT TO: one request per message on connections
// kept open, -c at once. It reports requests per second, latency
// percentiles and the actions it got. Loopback only; bounded by -d and
// -count.
//
//	policybench -addr inet:127.0.0.1:10023 -c 8 -d 10s -json
//
// The protocol: https://www.postfix.org/SMTPD_POLICY_README.html
// ("Policy protocol description"): name=value lines ended by an empty
// line, answered by action=... and an empty line.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type options struct {
	addr                       string
	concurrency, count         int
	duration, warmup, timeout  time.Duration
	clientIP, clientName, helo string
	from, rcpt                 string
	jsonOut                    bool
}

func main() {
	var o options
	flag.StringVar(&o.addr, "addr", "inet:127.0.0.1:10023", "the policy server: inet:HOST:PORT or unix:PATH (loopback only)")
	flag.IntVar(&o.concurrency, "c", 8, "connections at once")
	flag.IntVar(&o.count, "count", 0, "stop after this many requests (0: run for -d)")
	flag.DurationVar(&o.duration, "d", 10*time.Second, "how long to measure (at most 10m)")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "load before measuring")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Second, "per reply")
	flag.StringVar(&o.clientIP, "client-ip", "192.0.2.10", "client_address")
	flag.StringVar(&o.clientName, "client-name", "good.checks.test", "client_name and reverse_client_name")
	flag.StringVar(&o.helo, "helo", "mail.checks.test", "helo_name")
	flag.StringVar(&o.from, "from", "alice@checks.test", "sender")
	flag.StringVar(&o.rcpt, "rcpt", "bob@example.test", "recipient")
	flag.BoolVar(&o.jsonOut, "json", false, "print the result as JSON")
	flag.Parse()
	res, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "policybench:", err)
		os.Exit(1)
	}
	if o.jsonOut {
		json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	fmt.Printf("%d requests in %.1fs: %.1f/s, p50 %.3f ms, p99 %.3f ms, errors %d\nactions: %v\n",
		res.Messages, res.Seconds, res.PerSecond, res.Latency["p50"], res.Latency["p99"], res.Errors, res.Actions)
}

// result is what one run measured; the JSON names match milterbench's.
type result struct {
	Messages   int                `json:"messages"`
	Seconds    float64            `json:"seconds"`
	PerSecond  float64            `json:"messages_per_second"`
	Latency    map[string]float64 `json:"latency_ms"`
	Errors     int                `json:"errors"`
	FirstError string             `json:"first_error,omitempty"`
	Actions    map[string]int     `json:"actions"`
}

// dial connects to addr, refusing anything but loopback and unix sockets.
func dial(addr string, timeout time.Duration) (net.Conn, error) {
	network, a, ok := strings.Cut(addr, ":")
	switch {
	case ok && network == "unix":
		return net.DialTimeout("unix", a, timeout)
	case ok && network == "inet":
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			return nil, fmt.Errorf("-addr %q: %v", addr, err)
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("-addr %q: want a loopback address", addr)
		}
		return net.DialTimeout("tcp", a, timeout)
	}
	return nil, fmt.Errorf(`-addr %q: want "inet:HOST:PORT" or "unix:PATH"`, addr)
}

// request is one RCPT TO check as Postfix 3.7's smtpd sends it.
func request(o options, n int) []byte {
	var b strings.Builder
	for _, kv := range [][2]string{
		{"request", "smtpd_access_policy"}, {"protocol_state", "RCPT"}, {"protocol_name", "ESMTP"},
		{"client_address", o.clientIP}, {"client_name", o.clientName}, {"client_port", strconv.Itoa(40000 + n%20000)},
		{"reverse_client_name", o.clientName}, {"server_address", "127.0.0.1"}, {"server_port", "25"},
		{"helo_name", o.helo}, {"sender", o.from}, {"recipient", o.rcpt}, {"recipient_count", "0"},
		{"queue_id", ""}, {"instance", fmt.Sprintf("%x.%x", os.Getpid(), n)}, {"size", "4096"},
		{"etrn_domain", ""}, {"stress", ""}, {"sasl_method", ""}, {"sasl_username", ""}, {"sasl_sender", ""},
		{"ccert_subject", ""}, {"ccert_issuer", ""}, {"ccert_fingerprint", ""}, {"ccert_pubkey_fingerprint", ""},
		{"encryption_protocol", ""}, {"encryption_cipher", ""}, {"encryption_keysize", "0"}, {"policy_context", ""},
		{"compatibility_level", "3.6"}, {"mail_version", "3.7.11"},
	} {
		b.WriteString(kv[0] + "=" + kv[1] + "\n")
	}
	b.WriteString("\n")
	return []byte(b.String())
}

// errNoAction is a reply with no action= attribute.
var errNoAction = errors.New("reply has no action attribute")

// readReply reads one reply: name=value lines up to an empty line. It
// returns the action's first word (DUNNO, DEFER_IF_PERMIT, PREPEND...).
func readReply(r *bufio.Reader) (string, error) {
	action, started := "", false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if err == io.EOF && (started || line != "") {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		started = true
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if action == "" {
				return "", errNoAction
			}
			return action, nil
		}
		if len(line) > 4096 {
			return "", fmt.Errorf("reply line of %d bytes", len(line))
		}
		if v, ok := strings.CutPrefix(line, "action="); ok {
			action, _, _ = strings.Cut(v, " ")
			if action == "" {
				action = "(empty)"
			}
		}
	}
}

func run(o options) (*result, error) {
	if o.concurrency < 1 || o.concurrency > 256 {
		return nil, fmt.Errorf("-c %d: want 1 to 256", o.concurrency)
	}
	if o.duration <= 0 || o.duration > 10*time.Minute {
		return nil, fmt.Errorf("-d %v: want more than 0 and at most 10m", o.duration)
	}
	c, err := dial(o.addr, o.timeout)
	if err != nil {
		return nil, err
	}
	c.Close()

	var (
		measuring atomic.Bool
		issued    atomic.Int64
		mu        sync.Mutex
		lat       []time.Duration
		actions   = map[string]int{}
		errs      int
		firstErr  string
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < o.concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var conn net.Conn
			var br *bufio.Reader
			var mine []time.Duration
			mineActions := map[string]int{}
			defer func() {
				if conn != nil {
					conn.Close()
				}
				mu.Lock()
				lat = append(lat, mine...)
				for k, v := range mineActions {
					actions[k] += v
				}
				mu.Unlock()
			}()
			fail := func(err error) {
				mu.Lock()
				if errs++; firstErr == "" {
					firstErr = err.Error()
				}
				mu.Unlock()
				if conn != nil {
					conn.Close()
					conn = nil
				}
			}
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				m := measuring.Load()
				if m && o.count > 0 && issued.Add(1) > int64(o.count) {
					return
				}
				if conn == nil {
					c, err := dial(o.addr, o.timeout)
					if err != nil {
						fail(err)
						time.Sleep(10 * time.Millisecond)
						continue
					}
					conn, br = c, bufio.NewReader(c)
				}
				t0 := time.Now()
				conn.SetDeadline(t0.Add(o.timeout))
				if _, err := conn.Write(request(o, n)); err != nil {
					fail(err)
					continue
				}
				a, err := readReply(br)
				if err != nil {
					fail(err)
					continue
				}
				if m {
					mine = append(mine, time.Since(t0))
					mineActions[a]++
				}
			}
		}()
	}
	time.Sleep(o.warmup)
	start := time.Now()
	measuring.Store(true)
	deadline := time.NewTimer(o.duration)
	if o.count > 0 {
		// -count ends the run early; -d still bounds it.
		tick := time.NewTicker(10 * time.Millisecond)
	wait:
		for {
			select {
			case <-deadline.C:
				break wait
			case <-tick.C:
				if issued.Load() >= int64(o.count) {
					break wait
				}
			}
		}
		tick.Stop()
	} else {
		<-deadline.C
	}
	close(stop)
	wg.Wait()
	secs := time.Since(start).Seconds()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(p*float64(len(lat)-1))]) / 1e6
	}
	return &result{Messages: len(lat), Seconds: secs, PerSecond: float64(len(lat)) / secs,
		Latency: map[string]float64{"p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "max": pct(1)},
		Errors:  errs, FirstError: firstErr, Actions: actions}, nil
}

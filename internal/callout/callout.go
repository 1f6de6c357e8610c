// Package callout verifies a sender address by asking the sender domain's
// own mail servers whether they would accept mail for it (Postfix's
// reject_unverified_sender; its ADDRESS_VERIFICATION_README describes the
// behaviour users know). It never sends DATA.
//
// Callouts done carelessly get a site blocklisted, so the limits are part
// of the design: results are cached (long when positive, shorter when
// negative, briefly when temporary), identical probes are coalesced, each
// destination domain has a cap on concurrent probes and a rate limit, and a
// domain that refuses the null sender is remembered as unverifiable rather
// than probed again.
//
// A probe goes where the sender's DNS says, and the sender may be hostile:
// it never reaches loopback, private, link-local, multicast, reserved or
// our own addresses unless Config.AllowNetworks lists them, and each server
// address has its own rate limit, so that many domains naming one server
// do not multiply the probes it gets.
package callout

import (
	"context"
	"net/netip"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Status is what a verification found.
type Status string

// The outcomes.
const (
	Deliverable   Status = "deliverable"   // RCPT TO got 2xx
	Undeliverable Status = "undeliverable" // RCPT TO got 5xx
	AcceptAll     Status = "accept-all"    // a random local part is accepted too
	Unverifiable  Status = "unverifiable"  // the servers refuse the probe's MAIL FROM
	Unknown       Status = "unknown"       // no answer: 4xx, timeouts, refused connections
	InProgress    Status = "in-progress"   // not known within the budget; the probe goes on
	Limited       Status = "limited"       // the domain's concurrency or rate limit is reached
	NoProbe       Status = "no-probe"      // nothing to ask: null MX or no such domain
)

// Outcome is the result of a verification.
type Outcome struct {
	Status Status
	MX     string // the server that answered last, "host [ip]"
	Reply  string // the remote reply line that decided
	Detail string // why, for the log
	Cached bool   // from the cache, no probe made
}

// Verifier runs and caches probes. Its probes may outlive the session that
// asked (so that the client's retry finds the answer), never the Verifier:
// Close cancels and waits for them.
type Verifier struct {
	cfg    Config
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	results  *lru.Cache[string, entry]
	badDoms  *lru.Cache[string, time.Time]   // unverifiable domains, until
	windows  *lru.Cache[string, *window]     // rate limit per domain
	targets  *lru.Cache[netip.Addr, *window] // rate limit per server address
	own      []netip.Addr
	inflight map[string]*call
	active   map[string]int // probes running per domain
}

type entry struct {
	out     Outcome
	expires time.Time
}

type window struct {
	start time.Time
	count int
}

type call struct {
	done chan struct{}
	out  Outcome
}

// New returns a Verifier; cfg's zero fields take the defaults.
func New(cfg Config) *Verifier {
	cfg.defaults()
	v := &Verifier{cfg: cfg, inflight: map[string]*call{}, active: map[string]int{}}
	v.ctx, v.cancel = context.WithCancel(context.Background())
	v.results, _ = lru.New[string, entry](cfg.CacheSize)
	v.badDoms, _ = lru.New[string, time.Time](cfg.CacheSize)
	v.windows, _ = lru.New[string, *window](cfg.CacheSize)
	v.targets, _ = lru.New[netip.Addr, *window](cfg.CacheSize)
	for _, a := range cfg.OwnAddrs {
		v.own = append(v.own, a.Unmap())
	}
	return v
}

// Close cancels the probes still running and waits for them to end.
func (v *Verifier) Close() {
	v.mu.Lock()
	v.closed = true
	v.mu.Unlock()
	v.cancel()
	v.wg.Wait()
}

// Verify says whether local@domain is deliverable, waiting at most the
// budget (or until ctx is done) for a probe. domain must be lowercased.
func (v *Verifier) Verify(ctx context.Context, local, domain string) Outcome {
	key := domain + "\x00" + local
	now := v.cfg.Now()
	v.mu.Lock()
	if e, ok := v.results.Get(key); ok && now.Before(e.expires) {
		v.mu.Unlock()
		e.out.Cached = true
		return e.out
	}
	if until, ok := v.badDoms.Get(domain); ok && now.Before(until) {
		v.mu.Unlock()
		return Outcome{Status: Unverifiable, Detail: domain + " refuses the probe's MAIL FROM (remembered)", Cached: true}
	}
	v.mu.Unlock()
	for _, k := range []string{key, domain} { // the address, then the domain's unverifiability
		if o, ok := v.cfg.Shared.get(ctx, k); ok {
			o.Cached = true
			return o
		}
	}
	v.mu.Lock()
	c, ok := v.inflight[key]
	if !ok {
		if v.closed {
			v.mu.Unlock()
			return Outcome{Status: Unknown, Detail: "shutting down"}
		}
		if v.active[domain] >= v.cfg.MaxPerDomain {
			v.mu.Unlock()
			return Outcome{Status: Limited, Detail: "concurrent probes to " + domain + " at the limit"}
		}
		if !take(v.windows, domain, now, v.cfg.RatePerMinute) {
			v.mu.Unlock()
			return Outcome{Status: Limited, Detail: "probes to " + domain + " at the rate limit"}
		}
		c = &call{done: make(chan struct{})}
		v.inflight[key] = c
		v.active[domain]++
		v.wg.Add(1)
		go v.run(key, local, domain, c)
	}
	v.mu.Unlock()

	t := time.NewTimer(v.cfg.Budget)
	defer t.Stop()
	select {
	case <-c.done:
		return c.out
	case <-t.C:
	case <-ctx.Done():
	}
	return Outcome{Status: InProgress, Detail: "no answer within the budget; the probe goes on and its result is cached"}
}

// take counts one probe in key's one-minute window, unless the window
// holds limit already. v.mu is held.
func take[K comparable](windows *lru.Cache[K, *window], key K, now time.Time, limit int) bool {
	w, ok := windows.Get(key)
	if !ok || now.Sub(w.start) >= time.Minute {
		w = &window{start: now}
		windows.Add(key, w)
	}
	if w.count >= limit {
		return false
	}
	w.count++
	return true
}

// takeTarget counts a connection to ip against its rate limit.
func (v *Verifier) takeTarget(ip netip.Addr) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return take(v.targets, ip, v.cfg.Now(), v.cfg.RatePerTarget)
}

func (v *Verifier) run(key, local, domain string, c *call) {
	defer v.wg.Done()
	ctx, cancel := context.WithTimeout(v.ctx, v.cfg.ProbeTimeout)
	out := v.probe(ctx, local, domain)
	cancel()
	v.cfg.Observe(out.Status)

	now := v.cfg.Now()
	shareKey, ttl := key, v.cfg.TempTTL
	v.mu.Lock()
	switch out.Status {
	case Deliverable, AcceptAll:
		ttl = v.cfg.PositiveTTL
		v.results.Add(key, entry{out, now.Add(ttl)})
	case Undeliverable:
		ttl = v.cfg.NegativeTTL
		v.results.Add(key, entry{out, now.Add(ttl)})
	case Unverifiable:
		shareKey, ttl = domain, v.cfg.NegativeTTL
		v.badDoms.Add(domain, now.Add(ttl))
	default:
		if v.ctx.Err() != nil {
			shareKey = ""
		} else {
			v.results.Add(key, entry{out, now.Add(ttl)})
		}
	}
	delete(v.inflight, key)
	if v.active[domain]--; v.active[domain] <= 0 {
		delete(v.active, domain)
	}
	c.out = out
	close(c.done)
	v.mu.Unlock()
	if shareKey != "" {
		// Not v.ctx: a Close right after the answer must not lose it.
		v.cfg.Shared.set(context.Background(), shareKey, out, ttl)
	}
}

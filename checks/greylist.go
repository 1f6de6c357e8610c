package checks

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/mailsift/mailsift/greylist"
)

// Greylist answers an unknown (client, sender, recipient) triplet's first
// attempt with a temporary error and accepts the retry, as postgrey and
// milter-greylist do. It runs per recipient at RCPT TO; the null sender is
// greylisted at the end of DATA instead (milter-greylist's delayedreject),
// so that other sites' callouts to us, which stop at RCPT TO, still work.
type Greylist struct {
	Store  greylist.Store
	Timing greylist.Timing
	Now    func() time.Time
	// OrgDomain keys a client with a forward-confirmed hostname by its
	// organizational domain, so a sender's pool counts as one client.
	OrgDomain  bool
	IPv4, IPv6 int // prefix lengths of the network key
	// SPFSkip lets a message whose MAIL FROM domain passed SPF skip
	// greylisting (off by default: spammers publish SPF for their own
	// domains too).
	SPFSkip   bool
	Delimiter string // recipient/sender extension delimiter
	Whitelist *GreyWhitelist
	// The replies; see Table for the defaults.
	Greylisted, StoreError Reply
}

// Name implements Check.
func (*Greylist) Name() string { return GreylistName }

// Local implements Local: the memory store answers in memory; any other
// store (Redis) waits on the network.
func (g *Greylist) Local() bool {
	switch g.Store.(type) {
	case *greylist.Memory, *greylist.Persistent:
		return true
	}
	return false
}

// Records implements Recorder: a triplet is recorded only for a recipient
// the other checks accept, so that refused mail leaves no greylist state.
func (*Greylist) Records() {}

// CheckRcpt implements RcptChecker.
func (g *Greylist) CheckRcpt(ctx context.Context, env *Envelope) Result {
	if env.From == "" {
		return Result{Status: None, Reason: ReasonGreylistAtData, Text: "the null sender is greylisted at the end of DATA"}
	}
	return g.check(ctx, env, env.Rcpt)
}

// CheckData implements DataChecker: the null sender's recipients.
func (g *Greylist) CheckData(ctx context.Context, env *Envelope) Result {
	if env.From != "" {
		return Result{} // judged at RCPT TO
	}
	r := Result{Status: Pass, Reason: ReasonGreylistKnown}
	for _, rcpt := range env.Rcpts {
		if r = g.check(ctx, env, rcpt); r.Status != Pass {
			return r
		}
	}
	return r
}

func (g *Greylist) check(ctx context.Context, env *Envelope, rcpt string) Result {
	if why := g.Whitelist.Match(env, rcpt); why != "" {
		return Result{Status: Pass, Reason: ReasonGreylistWhitelist, Text: why}
	}
	// A domain whose SPF passed by naming the client's address (ip4, ip6,
	// a, mx) vouches for the client. A pass by +all, exists or ptr holds
	// for any address its owner likes: keyed by it, any client could
	// complete another's retry, so the client is keyed by its network.
	spf := env.SPF
	spfDomain := ""
	if spf.MatchedIP() {
		spfDomain = spf.Domain
	}
	if g.SPFSkip && spfDomain != "" {
		return Result{Status: Pass, Reason: ReasonGreylistSPFPass, Text: "SPF passed for " + spfDomain + " by " + spf.Mechanism}
	}
	// Without a forward-confirmed hostname, a domain that passed SPF for
	// this message stands for the client's pool as well.
	name := env.VerifiedName()
	if name == "" {
		name = spfDomain
	}
	client := greylist.Client(env.ClientIP, name, g.OrgDomain, g.IPv4, g.IPv6)
	details := map[string]string{"client_key": client.Key, "client_key_kind": client.Kind}
	if spf != nil && spf.Status == Pass && spf.Mechanism != "" {
		details["spf_mechanism"] = spf.Mechanism
	}
	to := rcpt
	if a, err := ParseAddress(rcpt); err == nil {
		to = a.String()
	}
	triplet := greylist.TripletKey(client.Key, greylist.NormalizeSender(env.From, g.Delimiter), to)
	res, err := g.Store.Check(ctx, greylist.ClientKey(client.Key), triplet, g.Now(), g.Timing)
	if err != nil {
		return Result{Status: TempError, Reason: ReasonGreylistStoreError, Text: err.Error(), Details: details,
			Reply: g.StoreError.Expand(map[string]string{"rcpt": rcpt})}
	}
	switch res.Verdict {
	case greylist.Greylisted:
		secs := int(math.Ceil(res.RetryIn.Seconds()))
		return Result{Status: Fail, Reason: ReasonGreylistGreylisted, Details: details,
			Text:  fmt.Sprintf("new triplet; a retry in %d s passes", secs),
			Reply: g.Greylisted.Expand(map[string]string{"rcpt": rcpt, "retry": fmt.Sprint(secs)})}
	case greylist.FirstPass:
		return Result{Status: Pass, Reason: ReasonGreylistRetryPassed, Text: "retried after the delay", Details: details}
	case greylist.Whitelisted:
		return Result{Status: Pass, Reason: ReasonGreylistAutoWhitelisted, Text: fmt.Sprintf("client passed %d times", res.Passes), Details: details}
	}
	return Result{Status: Pass, Reason: ReasonGreylistKnown, Text: "triplet passed before", Details: details}
}

// GreyWhitelist says who is never greylisted: client networks, suffixes
// of a forward-confirmed client hostname (an unverified PTR is chosen by
// the client's side), sender domains, and recipients ("postmaster@" for
// that local part in any domain). The files are read again when they
// change.
type GreyWhitelist struct {
	Exceptions
	Files []*LineFile // entries: a network, a hostname suffix, or a recipient (with "@")

	mu   sync.Mutex
	gens []int
	file Exceptions // parsed from Files
}

// Match returns why env/rcpt is whitelisted, or "".
func (w *GreyWhitelist) Match(env *Envelope, rcpt string) string {
	if w == nil {
		return ""
	}
	if why := w.match(env, rcpt); why != "" {
		return why
	}
	return w.fromFiles().match(env, rcpt)
}

// fromFiles returns the entries of the files, parsed again when a file
// changed.
func (w *GreyWhitelist) fromFiles() *Exceptions {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.gens) != len(w.Files) {
		w.gens = make([]int, len(w.Files))
	}
	changed := false
	all := make([][]string, len(w.Files))
	for i, f := range w.Files {
		lines, gen := f.Lines()
		all[i] = lines
		if gen != w.gens[i] {
			w.gens[i], changed = gen, true
		}
	}
	if changed {
		w.file = Exceptions{}
		for _, lines := range all {
			for _, l := range lines {
				w.file.add(l)
			}
		}
	}
	return &w.file
}

// ParseWhitelistEntry checks one whitelist file entry.
func ParseWhitelistEntry(line string) error {
	var w Exceptions
	if !w.add(line) {
		return fmt.Errorf("want a network (192.0.2.0/24), a hostname suffix (outbound.example.net) or a recipient (postmaster@ or user@example.org), got %q", line)
	}
	return nil
}

func (w *Exceptions) add(line string) bool {
	if p, err := netip.ParsePrefix(line); err == nil {
		w.Networks = append(w.Networks, p.Masked())
		return true
	}
	if a, err := netip.ParseAddr(line); err == nil {
		w.Networks = append(w.Networks, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		return true
	}
	if strings.Contains(line, "@") {
		if local, ok := strings.CutSuffix(line, "@"); ok && local != "" {
			w.Recipients = append(w.Recipients, line)
			return true
		}
		if a, err := ParseAddress(line); err == nil && a.Domain != "" {
			w.Recipients = append(w.Recipients, a.String())
			return true
		}
		return false
	}
	h := strings.ToLower(strings.Trim(line, "."))
	if HostnameSyntaxError(h) != "" {
		return false
	}
	w.Hostnames = append(w.Hostnames, h)
	return true
}

// The greylist check's name and reasons (its log's mailsift.checks.greylist.reason, and keys of its actions).
const (
	GreylistName                  = "greylist"
	ReasonGreylistGreylisted      = "greylist-greylisted"
	ReasonGreylistRetryPassed     = "greylist-retry-passed"
	ReasonGreylistKnown           = "greylist-known"
	ReasonGreylistAutoWhitelisted = "greylist-auto-whitelisted"
	ReasonGreylistWhitelist       = "greylist-whitelist"
	ReasonGreylistAtData          = "greylist-at-data"
	ReasonGreylistStoreError      = "greylist-store-error"
	ReasonGreylistSPFPass         = "greylist-spf-pass"
)

func greylistReasons() []string {
	return []string{ReasonGreylistGreylisted, ReasonGreylistRetryPassed, ReasonGreylistKnown, ReasonGreylistAutoWhitelisted, ReasonGreylistWhitelist, ReasonGreylistAtData, ReasonGreylistStoreError, ReasonGreylistSPFPass}
}

// greylistRows are the greylist check's default replies (keys of [greylist.replies]).
func greylistRows() []Row {
	return []Row{
		{GreylistName, "temp", Reply{450, "4.7.1", "<{rcpt}>: Recipient address rejected: Greylisted, retry in {retry} seconds"}},
		{GreylistName, "store", Reply{451, "4.3.0", "<{rcpt}>: Temporary lookup failure"}},
	}
}

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
	"github.com/mailsift/mailsift/internal/config"
	"github.com/mailsift/mailsift/internal/redisconn"
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
	h, ok := hostSuffix(line)
	if !ok {
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

// GreylistConfig is [greylist]: the greylist check and its store.
type GreylistConfig struct {
	Enabled          bool            `toml:"enabled"`
	Mode             CheckMode       `toml:"mode"`
	Delay            config.Duration `toml:"delay"`
	RetryWindow      config.Duration `toml:"retry_window"`
	MaxAge           config.Duration `toml:"max_age"`
	AutoWhitelist    int             `toml:"auto_whitelist"`
	IPv4Prefix       int             `toml:"ipv4_prefix"`
	IPv6Prefix       int             `toml:"ipv6_prefix"`
	OrgDomain        bool            `toml:"org_domain"`
	SPFSkip          bool            `toml:"spf_skip"`
	Store            string          `toml:"store"`
	MaxEntries       int             `toml:"max_entries"`
	Snapshot         string          `toml:"snapshot"`
	SnapshotInterval config.Duration `toml:"snapshot_interval"`
	Whitelist        WhitelistConfig `toml:"whitelist"`
	Redis            RedisConfig     `toml:"redis"`
	CheckConfig
}

// WhitelistConfig is [greylist.whitelist].
type WhitelistConfig struct {
	Networks   []config.Prefix `toml:"networks"`
	Hostnames  []string        `toml:"hostnames"`
	Senders    []string        `toml:"senders"`
	Recipients []string        `toml:"recipients"`
	Files      []string        `toml:"files"`
}

// RedisConfig is [greylist.redis].
type RedisConfig struct {
	Addrs      []string `toml:"addrs"`
	MasterName string   `toml:"master_name"`
	Username   string   `toml:"username"`
	Password   string   `toml:"password"`
	// PasswordFile holds the password (its first line), so that the secret
	// need not sit in the config file; not with password.
	PasswordFile string          `toml:"password_file"`
	DB           int             `toml:"db"`
	Prefix       string          `toml:"prefix"`
	Timeout      config.Duration `toml:"timeout"`
}

// RedisPassword returns the password: password, or the first line of
// password_file (read now, so that a reload picks up a new one).
func (r *RedisConfig) RedisPassword() (string, error) {
	if r.PasswordFile == "" {
		return r.Password, nil
	}
	return config.ReadSecret(r.PasswordFile)
}

// Conn is the connection to the server for a store whose keys start with
// prefix, with the password read now (see RedisPassword).
func (r *RedisConfig) Conn(prefix string) (redisconn.Config, error) {
	password, err := r.RedisPassword()
	return redisconn.Config{Addrs: r.Addrs, MasterName: r.MasterName, Username: r.Username, Password: password,
		DB: r.DB, Prefix: prefix, Timeout: time.Duration(r.Timeout)}, err
}

// DefaultGreylistConfig is [greylist] as it is when the file says nothing.
func DefaultGreylistConfig() GreylistConfig {
	return GreylistConfig{
		Enabled: true, Delay: config.Duration(5 * time.Minute), RetryWindow: config.Duration(48 * time.Hour), MaxAge: config.Duration(35 * 24 * time.Hour),
		AutoWhitelist: 5, IPv4Prefix: 24, IPv6Prefix: 64, OrgDomain: true, Store: "memory", MaxEntries: 1000000,
		Snapshot: "/var/lib/mailsift/greylist.snapshot", SnapshotInterval: config.Duration(5 * time.Minute),
		Whitelist: WhitelistConfig{Recipients: []string{"postmaster@", "abuse@"}},
		Redis:     RedisConfig{Prefix: "mailsift:greylist:", Timeout: config.Duration(time.Second)},
		// A greylisted triplet tempfails; a store that cannot answer
		// lets mail through (fail open), and says so in the log.
		CheckConfig: CheckConfig{Actions: map[string]Action{"fail": ActionTempfail, ReasonGreylistStoreError: ActionLog}},
	}
}

// Validate checks the table and lowercases the whitelist's names. The
// whitelist files are loaded by whoever uses them, once.
func (g *GreylistConfig) Validate() error {
	for _, d := range []struct {
		key string
		v   config.Duration
	}{{"retry_window", g.RetryWindow}, {"max_age", g.MaxAge}, {"snapshot_interval", g.SnapshotInterval}} {
		if d.v <= 0 {
			return config.Errorf("greylist."+d.key, "want a positive duration")
		}
	}
	if g.Delay >= g.RetryWindow {
		return config.Errorf("greylist.delay", "want less than retry_window (%s): a retry must be able to pass", time.Duration(g.RetryWindow))
	}
	if g.AutoWhitelist < 0 || g.AutoWhitelist > 65535 {
		return config.Errorf("greylist.auto_whitelist", "want 0 (off) to 65535 passes, got %d", g.AutoWhitelist)
	}
	if g.IPv4Prefix < 8 || g.IPv4Prefix > 32 {
		return config.Errorf("greylist.ipv4_prefix", "want 8 to 32, got %d", g.IPv4Prefix)
	}
	if g.IPv6Prefix < 16 || g.IPv6Prefix > 128 {
		return config.Errorf("greylist.ipv6_prefix", "want 16 to 128, got %d", g.IPv6Prefix)
	}
	switch g.Store {
	case "memory":
		if g.MaxEntries < 1000 {
			return config.Errorf("greylist.max_entries", "want 1000 or more, got %d", g.MaxEntries)
		}
		if g.Snapshot != "" && !strings.HasPrefix(g.Snapshot, "/") {
			return config.Errorf("greylist.snapshot", "want an absolute path, or \"\" for no snapshot, got %q", g.Snapshot)
		}
	case "redis":
		if len(g.Redis.Addrs) == 0 {
			return config.Errorf("greylist.store", "\"redis\" needs the server(s) in [greylist.redis] addrs = [\"HOST:PORT\", ...]")
		}
		for _, a := range g.Redis.Addrs {
			if !config.ValidHostPort(a) {
				return config.Errorf("greylist.redis.addrs", "want \"HOST:PORT\", got %q", a)
			}
		}
		if g.Redis.Timeout <= 0 {
			return config.Errorf("greylist.redis.timeout", "want a positive duration")
		}
		if f := g.Redis.PasswordFile; f != "" {
			if g.Redis.Password != "" {
				return config.Errorf("greylist.redis.password_file", "set password or password_file, not both")
			}
			if _, err := config.ReadSecret(f); err != nil {
				return config.Errorf("greylist.redis.password_file", "%s", err)
			}
		}
	default:
		return config.Errorf("greylist.store", "want \"memory\" or \"redis\", got %q", g.Store)
	}
	w := &g.Whitelist
	if err := normalizeNames(w.Hostnames, hostSuffix, "greylist.whitelist.hostnames", "hostname suffixes"); err != nil {
		return err
	}
	if err := normalizeNames(w.Senders, domainName, "greylist.whitelist.senders", "sender domains"); err != nil {
		return err
	}
	for _, r := range w.Recipients {
		if !strings.Contains(r, "@") || ParseWhitelistEntry(r) != nil {
			return config.Errorf("greylist.whitelist.recipients", "want \"postmaster@\" (any domain) or an address, got %q", r)
		}
	}
	return nil
}

// On reports whether the greylist check runs.
func (g *GreylistConfig) On() bool { return g.Enabled && g.Mode != "off" }

// newGreylist builds the greylist check from its table; delimiter is
// [checks.recipient]'s.
func newGreylist(g *GreylistConfig, d Deps, delimiter string) Check {
	wl := &GreyWhitelist{Exceptions: Exceptions{Hostnames: g.Whitelist.Hostnames, Senders: g.Whitelist.Senders, Recipients: g.Whitelist.Recipients},
		Files: d.Whitelist}
	for _, p := range g.Whitelist.Networks {
		wl.Networks = append(wl.Networks, p.Prefix)
	}
	return &Greylist{Store: d.Store(), Now: time.Now,
		Timing: greylist.Timing{Delay: time.Duration(g.Delay), RetryWindow: time.Duration(g.RetryWindow),
			MaxAge: time.Duration(g.MaxAge), AWLCount: g.AutoWhitelist},
		OrgDomain: g.OrgDomain, SPFSkip: g.SPFSkip, IPv4: g.IPv4Prefix, IPv6: g.IPv6Prefix, Delimiter: delimiter,
		Whitelist:  wl,
		Greylisted: g.Reply(GreylistName, "temp"), StoreError: g.Reply(GreylistName, "store")}
}

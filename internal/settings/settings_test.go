package settings

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/config"
	"github.com/mailsift/mailsift/internal/policy"
)

func TestContribConfigIsTheDefault(t *testing.T) {
	c, err := Load("../../contrib/mailsift.toml")
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	// The documented file spells out what Default leaves implicit: empty
	// lists, and each default action and reply.
	d.DNS.Servers = []string{}
	d.Greylist.Whitelist.Networks, d.Greylist.Whitelist.Hostnames = []config.Prefix{}, []string{}
	d.Greylist.Whitelist.Senders, d.Greylist.Whitelist.Files = []string{}, []string{}
	d.Greylist.Redis.Addrs = []string{}
	for _, p := range []struct{ doc, def *checks.CheckConfig }{
		{&c.Checks.PTR.CheckConfig, &d.Checks.PTR.CheckConfig},
		{&c.Checks.Helo.CheckConfig, &d.Checks.Helo.CheckConfig},
		{&c.Checks.Sender.CheckConfig, &d.Checks.Sender.CheckConfig},
		{&c.Checks.Recipient.CheckConfig, &d.Checks.Recipient.CheckConfig},
		{&c.Checks.Relay.CheckConfig, &d.Checks.Relay.CheckConfig},
		{&c.Checks.Callout.CheckConfig, &d.Checks.Callout.CheckConfig},
		{&c.Greylist.CheckConfig, &d.Greylist.CheckConfig},
		{&c.Checks.SPF.CheckConfig, &d.Checks.SPF.CheckConfig},
		{&c.Checks.DKIM.CheckConfig, &d.Checks.DKIM.CheckConfig},
		{&c.Checks.DMARC.CheckConfig, &d.Checks.DMARC.CheckConfig},
		{&c.Outbound.Login.CheckConfig, &d.Outbound.Login.CheckConfig},
		{&c.Outbound.Mailbox.CheckConfig, &d.Outbound.Mailbox.CheckConfig},
		{&c.Outbound.Limit.CheckConfig, &d.Outbound.Limit.CheckConfig},
		{&c.Outbound.Preflight.CheckConfig, &d.Outbound.Preflight.CheckConfig},
		{&c.Outbound.Standards.CheckConfig, &d.Outbound.Standards.CheckConfig},
		{&c.Outbound.Suppress.CheckConfig, &d.Outbound.Suppress.CheckConfig},
	} {
		for k, a := range p.doc.Actions {
			want, ok := p.def.Actions[k]
			if !ok {
				want, ok = policy.DefaultActions()[checks.Status(k)]
			}
			if !ok || want != a {
				t.Errorf("contrib/mailsift.toml: action %s = %s, but the default is %s", k, a, want)
			}
		}
		for k, a := range p.def.Actions {
			if _, ok := p.doc.Actions[k]; !ok {
				t.Errorf("contrib/mailsift.toml does not show the default action %s = %s", k, a)
			}
		}
		p.def.Actions = p.doc.Actions
		p.def.Replies = p.doc.Replies
		p.def.Except = p.doc.Except
	}
	for _, row := range checks.Table() {
		cc := map[string]*checks.CheckConfig{"ptr": &c.Checks.PTR.CheckConfig, "helo": &c.Checks.Helo.CheckConfig,
			"sender": &c.Checks.Sender.CheckConfig, "recipient": &c.Checks.Recipient.CheckConfig, "relay": &c.Checks.Relay.CheckConfig,
			"callout": &c.Checks.Callout.CheckConfig, "greylist": &c.Greylist.CheckConfig,
			"spf": &c.Checks.SPF.CheckConfig, "dmarc": &c.Checks.DMARC.CheckConfig,
			"login": &c.Outbound.Login.CheckConfig, "mailbox": &c.Outbound.Mailbox.CheckConfig, "limit": &c.Outbound.Limit.CheckConfig,
			"preflight": &c.Outbound.Preflight.CheckConfig, "standards": &c.Outbound.Standards.CheckConfig,
			"suppress": &c.Outbound.Suppress.CheckConfig}[row.Check]
		if cc == nil {
			continue
		}
		if got, ok := cc.Replies[row.Key]; !ok || got.Reply != row.Reply {
			t.Errorf("contrib/mailsift.toml: checks.%s.replies.%s = %q, the default is %q", row.Check, row.Key, got.Reply, row.Reply)
		}
	}
	if !reflect.DeepEqual(c, d) {
		a, _ := c.Encode()
		b, _ := d.Encode()
		t.Fatalf("contrib/mailsift.toml differs from the defaults:\n%s\n---\n%s", a, b)
	}
	if got := c.Checks.Helo.Reply("helo", "syntax").String(); got != "501 5.5.2 <{helo}>: Helo command rejected: Invalid name" {
		t.Fatalf("helo syntax reply = %q", got)
	}
	if c.Policy().Decide(failHelo()).Action != "reject" {
		t.Fatal("default policy does not reject a bad HELO")
	}
}

func TestEmptyIsDefault(t *testing.T) {
	c, err := Parse("empty.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen.String() != "inet:127.0.0.1:8895" || c.Mode != "enforce" || time.Duration(c.ShutdownGrace) != 10*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestValid(t *testing.T) {
	c, err := Parse("x.toml", []byte(`
listen = "unix:/run/mailsift/mailsift.sock"
hostname = "mx.example.org"
mode = "tag"
[dns]
servers = ["127.0.0.1:5353", "[::1]:53"]
[trust]
networks = ["192.0.2.0/24", "2001:db8::1"]
[checks.helo]
mode = "observe"
actions = { fail = "tempfail" }
replies = { syntax = "550 5.7.1 Go away" }
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen.Network != "unix" || c.Listen.Address != "/run/mailsift/mailsift.sock" {
		t.Errorf("listen = %+v", c.Listen)
	}
	if c.Trust.Networks[1].String() != "2001:db8::1/128" {
		t.Errorf("networks = %v", c.Trust.Networks)
	}
	r := c.Policy().Rules["helo"]
	if r.Mode != "observe" || r.Actions["fail"] != "tempfail" {
		t.Errorf("rule = %+v", r)
	}
	if got := c.Checks.Helo.Reply("helo", "syntax").String(); got != "550 5.7.1 Go away" {
		t.Errorf("reply = %q", got)
	}
}

// Every error names the file and the line and says what was expected.
func TestErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"listen = \"8891\"", `c.toml:1: listen: want "inet:HOST:PORT" or "unix:PATH" (an absolute path), got "8891"`},
		{"\n\nlisten = \"unix:relative.sock\"", `c.toml:3: listen: want "inet:HOST:PORT" or "unix:PATH" (an absolute path), got "unix:relative.sock"`},
		{"mode = \"strict\"", `c.toml:1: mode: unknown mode "strict", want enforce, tag or observe`},
		{"shutdown_grace = \"ten\"", `c.toml:1: shutdown_grace: want a duration such as "10s" or "5m", got "ten"`},
		{"listne = \"inet:127.0.0.1:1\"", `c.toml:1: unknown key "listne"; see contrib/mailsift.toml for the keys there are`},
		{"[dns]\ntimeout = \"1s\"\nservers = [\"127.0.0.1\"]", `c.toml:3: dns.servers: server 1: want "HOST:PORT" such as "127.0.0.1:53", got "127.0.0.1"`},
		{"[dns]\nattempts = 0", `c.toml:2: dns.attempts: want 1 to 10, got 0`},
		{"[dns]\ncache_size = -1", `c.toml:2: dns.cache_size: want 0 (no cache) or more entries, got -1`},
		{"[dns]\ntimeout = \"0s\"", `c.toml:2: dns.timeout: want a positive duration`},
		{"[checks]\ntimeout = \"0s\"", `c.toml:2: checks.timeout: want a positive duration`},
		{"progress_interval = \"0s\"", `c.toml:1: progress_interval: want a positive duration`},
		{"[dns]\nattempts = \"two\"", `c.toml:2: dns.attempts: incompatible types: TOML value has type string; destination has type integer`},
		{"[trust]\nnetworks = [\"10.0.0.0/33\"]", `c.toml:2: trust.networks: want a network such as "192.0.2.0/24", got "10.0.0.0/33"`},
		{"[log]\nlevel = \"loud\"", `c.toml:2: log.level: unknown level "loud", want debug, info, warn or error`},
		{"hostname = \"not a host\"", `c.toml:1: hostname: want a hostname such as "mx.example.org", got "not a host"`},
		{"[checks.helo]\nmode = \"loud\"", `c.toml:2: checks.helo.mode: unknown mode "loud", want enforce, tag, observe or off`},
		{"[checks.helo.actions]\nfial = \"reject\"", `c.toml:2: checks.helo.actions.fial: want a status (pass, fail, softfail, neutral, none, temperror, permerror) or one of helo's reasons (helo-valid, helo-literal, helo-missing, helo-invalid-syntax, helo-literal-mismatch, helo-ours, helo-not-fqdn, helo-unknown, helo-temperror), got "fial"`},
		{"[checks.helo]\nactions = { fail = \"bounce\" }", `c.toml:2: checks.helo.actions.fail: unknown action "bounce", want one of reject, tempfail, quarantine, tag, log, off`},
		{"[checks.helo.replies]\nsyntax = \"550 4.5.2 no\"", `c.toml:2: checks.helo.replies.syntax: reply 550 4.5.2: the enhanced code's class 4.x.x does not match the reply code's class 5xx`},
		{"[checks.helo.replies]\nbogus = \"550 5.5.2 no\"", `c.toml:2: checks.helo.replies.bogus: unknown reply, want one of temp, unknown, syntax, non_fqdn, literal, ours`},
		{"[checks.helo]\nnope = 1", `c.toml:2: unknown key "checks.helo.nope"; see contrib/mailsift.toml for the keys there are`},
		{"listen = ", `c.toml:1: listen: unexpected EOF; expected value`},
		{"[checks.callout]\nshared = true", `c.toml:2: checks.callout.shared: the shared cache uses the greylist's Redis: set [greylist] store = "redis" and [greylist.redis] addrs`},
		{"[dmarc]\nreport_from = \"nobody\"", `c.toml:2: dmarc.report_from: want an address such as "dmarc-noreply@example.org", or "" for dmarc-noreply@HOSTNAME, got "nobody"`},
		{"[dmarc]\ninterval = \"30m\"", `c.toml:2: dmarc.interval: want whole hours from "1h" to "168h" (RFC 7489 §7.2: daily, or more often), got 30m0s`},
		{"[dmarc]\nrelay = \"localhost\"", `c.toml:2: dmarc.relay: want "HOST:PORT" such as "127.0.0.1:25", or "" to use sendmail, got "localhost"`},
		{"[dmarc]\nreports = true\nsendmail = \"\"", `c.toml:3: dmarc.sendmail: reports are on: set sendmail or relay, the way reports leave`},
		{"[dmarc]\nrua_addresses = [\"dmarc\"]", `c.toml:2: dmarc.rua_addresses: want addresses such as "dmarc@example.org", got "dmarc"`},
		{"[dmarc]\nstore = \"redis\"", `c.toml:2: dmarc.store: "redis" uses the greylist's Redis: set [greylist.redis] addrs = ["HOST:PORT", ...]`},
		{"[admin]\nlisten = \"9895\"", `c.toml:2: admin.listen: want "HOST:PORT" such as "127.0.0.1:9895", or "" for none, got "9895"`},
		{"[admin]\nlisten = \"127.0.0.1:99999\"", `c.toml:2: admin.listen: want "HOST:PORT" such as "127.0.0.1:9895", or "" for none, got "127.0.0.1:99999"`},
		{"[greylist]\nstore = \"disk\"", `c.toml:2: greylist.store: want "memory" or "redis", got "disk"`},
		{"[greylist]\nstore = \"redis\"", `c.toml:2: greylist.store: "redis" needs the server(s) in [greylist.redis] addrs = ["HOST:PORT", ...]`},
		{"[greylist]\ndelay = \"72h\"", `c.toml:2: greylist.delay: want less than retry_window (48h0m0s): a retry must be able to pass`},
		{"[greylist]\nipv4_prefix = 33", `c.toml:2: greylist.ipv4_prefix: want 8 to 32, got 33`},
		{"[greylist]\nsnapshot = \"relative\"", `c.toml:2: greylist.snapshot: want an absolute path, or "" for no snapshot, got "relative"`},
		{"[greylist.whitelist]\nrecipients = [\"postmaster\"]", `c.toml:2: greylist.whitelist.recipients: want "postmaster@" (any domain) or an address, got "postmaster"`},
		{"[greylist.actions]\nbogus = \"log\"", `c.toml:2: greylist.actions.bogus: want a status (pass, fail, softfail, neutral, none, temperror, permerror) or one of greylist's reasons (greylist-greylisted, greylist-retry-passed, greylist-known, greylist-auto-whitelisted, greylist-whitelist, greylist-at-data, greylist-store-error, greylist-spf-pass), got "bogus"`},
		{"[checks.ptr]\nmode = \"strict\"", `c.toml:2: checks.ptr.mode: unknown mode "strict", want off, exists (a PTR record) or fcrdns (forward-confirmed)`},
		{"[checks.ptr.except]\nsenders = [\"example.com\"]", `c.toml:1: checks.ptr.except: ptr runs at connect, before the sender and recipients are known: use networks or hostnames`},
		{"[checks.sender.except]\nhostnames = [\"bad..name\"]", `c.toml:2: checks.sender.except.hostnames: want hostname suffixes such as "outbound.example.net", got "bad..name"`},
		{"[checks.recipient.except]\nrecipients = [\"nobody\"]", `c.toml:2: checks.recipient.except.recipients: want addresses such as "postmaster@example.org", got "nobody"`},
		{"[checks.relay.except]\nnetworks = [\"x\"]", `c.toml:2: checks.relay.except.networks: want a network such as "192.0.2.0/24" or an address, got "x"`},
		{"[checks.recipient]\ndomains = [\"localhost\"]", `c.toml:2: checks.recipient.domains: want domain names such as "example.org", got "localhost"`},
		{"[checks.recipient]\nlist = \"/nonexistent/recipients\"", `c.toml:2: checks.recipient.list: a recipient list needs checks.recipient.domains: the domains it lists`},
		{"[checks.recipient]\ndelimiter = \"@\"", `c.toml:2: checks.recipient.delimiter: want one character such as "+" or "" for none, got "@"`},
		{"[checks.sender]\nunknown_domain = \"yes\"", `c.toml:2: checks.sender.unknown_domain: incompatible types: TOML value has type string; destination has type boolean`},
		{"[dns\n", `c.toml:2: expected '.' or ']' to end table name, but got '\n' instead`},
		{"a = \"\xff\"", `c.toml: not UTF-8 text; want a TOML file`},
	}
	for _, tt := range tests {
		_, err := Parse("c.toml", []byte(tt.in))
		if err == nil {
			t.Errorf("Parse(%q): no error, want %q", tt.in, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("Parse(%q):\n got %q\nwant %q", tt.in, err, tt.want)
		}
	}
}

func TestWarnings(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600)
	for _, tt := range []struct{ in, want string }{
		{"", "checks.recipient.domains is empty: mailsift refuses only sender-specified routing (%, !, quoted @, source routes), not relaying for strangers (keep Postfix's reject_unauth_destination)"},
		{"[checks.recipient]\ndomains = [\"example.org\"]\n[checks.relay]\nmode = \"off\"", "checks.relay.mode is off: mailsift does not refuse relaying for strangers (keep Postfix's reject_unauth_destination)"},
		{"[checks.recipient]\ndomains = [\"example.org\"]\n[checks.relay.actions]\nfail = \"log\"", `checks.relay.actions.fail is "log": mailsift does not refuse relaying for strangers`},
		{"[trust]\nnetworks = [\"0.0.0.0/0\"]\n[checks.recipient]\ndomains = [\"example.org\"]", "trust.networks: 0.0.0.0/0 is trusted: most of the internet skips every check and may relay through you"},
		{"[checks.recipient]\ndomains = [\"Example.ORG.\"]", ""},
		{"[checks.recipient]\ndomains = [\"example.org\"]\n[admin]\nlisten = \"0.0.0.0:9895\"",
			`admin.listen "0.0.0.0:9895" is not on loopback and admin.token_file is not set: whoever reaches it can whitelist greylisted mail; set a token or listen on 127.0.0.1`},
		{"[checks.recipient]\ndomains = [\"example.org\"]\n[admin]\nlisten = \"localhost:9895\"", ""},
		{"[checks.recipient]\ndomains = [\"example.org\"]\n[admin]\nlisten = \"[::1]:9895\"", ""},
		{"[checks.recipient]\ndomains = [\"example.org\"]\n[admin]\nlisten = \"0.0.0.0:9895\"\ntoken_file = \"" + tokenFile + "\"", ""},
	} {
		c, err := Parse("w.toml", []byte(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(c.Warnings(), "; ")
		if got != tt.want {
			t.Errorf("Warnings(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestExceptionsAndReasonActions(t *testing.T) {
	c, err := Parse("x.toml", []byte(`
[checks.helo.actions]
helo-ours = "reject"
fail = "tag"
[checks.sender.except]
networks = ["192.0.2.0/24"]
hostnames = [".Outbound.Example.NET."]
senders = ["Example.COM"]
[checks.recipient]
domains = ["Example.ORG"]
[checks.recipient.except]
recipients = ["postmaster@EXAMPLE.org"]
`))
	if err != nil {
		t.Fatal(err)
	}
	x := c.Checks.Sender.Exceptions()
	if x == nil || x.Networks[0].String() != "192.0.2.0/24" || x.Hostnames[0] != "outbound.example.net" || x.Senders[0] != "example.com" {
		t.Fatalf("sender exceptions = %+v", x)
	}
	if r := c.Checks.Recipient.Exceptions(); r == nil || r.Recipients[0] != "postmaster@example.org" {
		t.Fatalf("recipient exceptions = %+v", r)
	}
	if c.Checks.Helo.Exceptions() != nil {
		t.Fatal("helo has exceptions it was not given")
	}
	if c.Checks.Recipient.Domains[0] != "example.org" {
		t.Fatalf("domains = %v", c.Checks.Recipient.Domains)
	}
	rule := c.Policy().Rules["helo"]
	if rule.Actions["helo-ours"] != "reject" || rule.Actions["fail"] != "tag" {
		t.Fatalf("helo rule = %+v", rule)
	}
}

// Effective spells out the defaults, reads back as the same configuration,
// and leaves the original alone.
func TestEffective(t *testing.T) {
	c := Default()
	e := c.Effective()
	if len(c.Checks.PTR.Actions) != 0 || len(c.Checks.PTR.Replies) != 0 {
		t.Fatalf("Effective changed the original: %v %v", c.Checks.PTR.Actions, c.Checks.PTR.Replies)
	}
	if a := e.Checks.PTR.Actions["temperror"]; a != policy.Tempfail {
		t.Fatalf("ptr temperror = %q", a)
	}
	if r := e.Checks.Helo.Replies["ours"].Reply.String(); r != "550 5.7.1 <{helo}>: Helo command rejected: You are not me" {
		t.Fatalf("helo ours = %q", r)
	}
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("effective.toml", b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	for name := range c.checkConfigs() {
		for _, reason := range checks.Reasons(name) {
			for _, s := range checks.Statuses {
				r := checks.Result{Check: name, Status: s, Reason: reason}
				if a, b := back.Policy().Decide(r), c.Policy().Decide(r); a != b {
					t.Errorf("%s %s/%s: printed config decides %+v, the original %+v", name, s, reason, a, b)
				}
			}
		}
	}
	if !reflect.DeepEqual(back.Effective(), e) {
		t.Fatalf("printed and read back: not the same")
	}
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n  \n"), 0o600)
	for _, tt := range []struct{ in, want string }{
		{"[admin]\ntoken_file = \"" + empty + "\"", "s.toml:2: admin.token_file: " + empty + ": empty; want the secret on its first line"},
		{"[admin]\ntoken_file = \"" + dir + "/missing\"", "s.toml:2: admin.token_file: open " + dir + "/missing: no such file or directory"},
		{"[greylist]\nstore = \"redis\"\n[greylist.redis]\naddrs = [\"127.0.0.1:6379\"]\npassword = \"x\"\npassword_file = \"" + empty + "\"",
			"s.toml:6: greylist.redis.password_file: set password or password_file, not both"},
		{"[greylist]\nstore = \"redis\"\n[greylist.redis]\naddrs = [\"127.0.0.1:6379\"]\npassword_file = \"" + empty + "\"",
			"s.toml:5: greylist.redis.password_file: " + empty + ": empty; want the secret on its first line"},
	} {
		if _, err := Parse("s.toml", []byte(tt.in)); err == nil || err.Error() != tt.want {
			t.Errorf("%q: %v, want %s", tt.in, err, tt.want)
		}
	}
	if s, err := config.ReadSecret("/dev/zero"); err != nil || s != strings.Repeat("\x00", 4096) {
		t.Fatalf("/dev/zero: %d bytes, %v; want the first 4 KiB", len(s), err)
	}
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte("  tok en \nsecond line\n"), 0o600)
	if s, err := config.ReadSecret(good); s != "tok en" || err != nil {
		t.Fatalf("ReadSecret = %q, %v", s, err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if err == nil || !strings.Contains(err.Error(), "nope.toml: no such file") {
		t.Fatalf("err = %v", err)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	c, err := Load("../../contrib/mailsift.toml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "effective.toml")
	os.WriteFile(p, b, 0o644)
	c2, err := Load(p)
	if err != nil {
		t.Fatalf("the effective config does not load back: %v\n%s", err, b)
	}
	if !reflect.DeepEqual(c, c2) {
		t.Fatalf("round trip differs:\n%s", b)
	}
}

func FuzzParse(f *testing.F) {
	seed, _ := os.ReadFile("../../contrib/mailsift.toml")
	f.Add(seed)
	f.Add([]byte("listen = \"inet:127.0.0.1:1\"\n[checks.helo]\nactions = { fail = \"tag\" }"))
	f.Add([]byte("[dns]\nservers = [\"a:1\"]\n[[x]]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.toml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.toml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if _, err := c.Encode(); err != nil {
			t.Fatalf("valid config does not encode: %v", err)
		}
	})
}

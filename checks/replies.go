package checks

// Row is one line of the reply table: the default reply a check gives for
// one kind of finding.
type Row struct {
	Check string // check name
	Key   string // which finding: "temp", "perm", or a narrower one such as "syntax"
	Reply Reply
}

// Table is the one table of default replies (docs/flow.md, "Replies").
// Every check takes its defaults from here and the config may override each.
// The enhanced codes follow RFC 3463 and its registry (RFC 5248), with the
// authentication codes of RFC 7372 and the null MX code of RFC 7505.
func Table() []Row {
	return append([]Row{
		{"ptr", "temp", Reply{450, "4.7.25", "Client host rejected: cannot find your hostname, [{client}]"}},
		{"ptr", "perm", Reply{550, "5.7.25", "Client host rejected: cannot find your hostname, [{client}]"}},
		{"helo", "temp", Reply{450, "4.7.1", "<{helo}>: Helo command rejected: Host not found"}},
		{"helo", "unknown", Reply{550, "5.7.1", "<{helo}>: Helo command rejected: Host not found"}},
		{"helo", "syntax", Reply{501, "5.5.2", "<{helo}>: Helo command rejected: Invalid name"}},
		{"helo", "non_fqdn", Reply{504, "5.5.2", "<{helo}>: Helo command rejected: need fully-qualified hostname"}},
		{"helo", "literal", Reply{550, "5.7.1", "<{helo}>: Helo command rejected: not your address"}},
		{"helo", "ours", Reply{550, "5.7.1", "<{helo}>: Helo command rejected: You are not me"}},
		{"sender", "temp", Reply{450, "4.1.8", "<{sender}>: Sender address rejected: Domain not found"}},
		{"sender", "unknown_domain", Reply{550, "5.1.8", "<{sender}>: Sender address rejected: Domain not found"}},
		{"sender", "non_fqdn", Reply{504, "5.5.2", "<{sender}>: Sender address rejected: need fully-qualified address"}},
		{"sender", "syntax", Reply{553, "5.1.7", "<{sender}>: Sender address rejected: malformed address"}},
		{"sender", "null_mx", Reply{550, "5.7.27", "<{sender}>: Sender address rejected: Domain does not accept mail"}},
		{"callout", "temp", Reply{450, "4.1.7", "<{sender}>: Sender address rejected: unverified address"}},
		{"callout", "in_progress", Reply{450, "4.1.7", "<{sender}>: Sender address rejected: address verification in progress"}},
		{"callout", "perm", Reply{550, "5.1.7", "<{sender}>: Sender address rejected: undeliverable address ({remote})"}},
		{"recipient", "temp", Reply{451, "4.3.0", "<{rcpt}>: Recipient address rejected: temporary lookup failure"}},
		{"recipient", "unlisted", Reply{550, "5.1.1", "<{rcpt}>: Recipient address rejected: User unknown"}},
		{"recipient", "syntax", Reply{501, "5.1.3", "<{rcpt}>: Recipient address rejected: malformed address"}},
		{"recipient", "non_fqdn", Reply{504, "5.5.2", "<{rcpt}>: Recipient address rejected: need fully-qualified address"}},
		{"relay", "perm", Reply{554, "5.7.1", "<{rcpt}>: Relay access denied"}},
		{"greylist", "temp", Reply{450, "4.7.1", "<{rcpt}>: Recipient address rejected: Greylisted, retry in {retry} seconds"}},
		{"greylist", "store", Reply{451, "4.3.0", "<{rcpt}>: Temporary lookup failure"}},
		{"spf", "temp", Reply{451, "4.7.24", "SPF temporary error for <{sender}>, try again later"}},
		{"spf", "perm", Reply{550, "5.7.23", "SPF validation failed for <{sender}>"}},
		{"dmarc", "temp", Reply{451, "4.7.1", "Temporary DNS failure evaluating DMARC for {domain}, try again later"}},
		{"dmarc", "perm", Reply{550, "5.7.1", "Email rejected per DMARC policy for {domain}"}},
		{"dmarc", "from", Reply{550, "5.7.1", "Message must have exactly one From address"}},
	}, outboundRows()...)
}

// DefaultReply returns the table's reply for check and key, and whether
// there is one.
func DefaultReply(check, key string) (Reply, bool) {
	for _, r := range Table() {
		if r.Check == check && r.Key == key {
			return r.Reply, true
		}
	}
	return Reply{}, false
}

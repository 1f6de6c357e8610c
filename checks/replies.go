package checks

// Row is one line of the reply table: the default reply a check gives for
// one kind of finding.
type Row struct {
	Check string // check name
	Key   string // which finding: "temp", "perm", or a narrower one such as "syntax"
	Reply Reply
}

// Table is the one table of default replies (docs/flow.md, "Replies"),
// gathered from the rows each check keeps beside its code. Every check
// takes its defaults from here and the config may override each.
// The enhanced codes follow RFC 3463 and its registry (RFC 5248), with the
// authentication codes of RFC 7372 and the null MX code of RFC 7505.
func Table() []Row {
	var rows []Row
	for _, f := range []func() []Row{ptrRows, heloRows, senderRows, calloutRows, recipientRows, relayRows, greylistRows, spfRows, dmarcRows, outboundRows} {
		rows = append(rows, f()...)
	}
	return rows
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

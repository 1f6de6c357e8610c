package checks

// Reasons lists the reasons each check may give, by check name, so that
// the config can name a reason in a check's actions and be checked.
func Reasons(check string) []string {
	switch check {
	case "ptr":
		return []string{"ptr-fcrdns", "ptr-exists", "ptr-missing", "ptr-unresolvable", "ptr-mismatch", "ptr-temperror", "ptr-no-client-address"}
	case "helo":
		return []string{"helo-valid", "helo-literal", "helo-missing", "helo-invalid-syntax", "helo-literal-mismatch", "helo-ours", "helo-not-fqdn", "helo-unknown", "helo-temperror"}
	case "sender":
		return []string{"sender-null", "sender-valid", "sender-domain-mx", "sender-domain-address", "sender-malformed", "sender-not-fqdn", "sender-null-mx", "sender-domain-unknown", "sender-temperror"}
	case "recipient":
		return []string{"rcpt-listed", "rcpt-local", "rcpt-foreign", "rcpt-postmaster", "rcpt-malformed", "rcpt-not-fqdn", "rcpt-unlisted", "rcpt-temperror"}
	case "callout":
		return []string{"callout-deliverable", "callout-accept-all", "callout-undeliverable", "callout-not-probed", "callout-null-sender",
			"callout-own-domain", "callout-in-progress", "callout-unverifiable", "callout-limited", "callout-temperror"}
	case "greylist":
		return []string{"greylist-greylisted", "greylist-retry-passed", "greylist-known", "greylist-auto-whitelisted", "greylist-whitelist",
			"greylist-at-data", "greylist-store-error", "greylist-spf-pass"}
	case "spf":
		return []string{"spf-pass", "spf-fail", "spf-fail-dmarc-decides", "spf-softfail", "spf-neutral", "spf-none", "spf-temperror", "spf-permerror", "spf-no-client-address"}
	case "dkim":
		return []string{"dkim-pass", "dkim-fail", "dkim-temperror", "dkim-permerror", "dkim-none", "dkim-unreadable", "dkim-no-message"}
	case "dmarc":
		return []string{"dmarc-pass", "dmarc-none", "dmarc-fail-reject", "dmarc-fail-quarantine", "dmarc-fail-none", "dmarc-override",
			"dmarc-temperror", "dmarc-temperror-unenforced", "dmarc-from-invalid"}
	case "relay":
		return []string{"relay-local", "relay-denied", "relay-routing", "relay-mta-decides", "relay-malformed"}
	}
	return outboundReasons(check)
}

package checks

// reasons lists the reasons each check may give, by check name, so that the
// config can name a reason in a check's actions and be checked. Each list
// is kept beside its check, with the check's reason constants.
func reasons() map[string]func() []string {
	return map[string]func() []string{
		PTRName:       ptrReasons,
		HeloName:      heloReasons,
		SenderName:    senderReasons,
		RecipientName: recipientReasons,
		CalloutName:   calloutReasons,
		GreylistName:  greylistReasons,
		SPFName:       spfReasons,
		DKIMName:      dkimReasons,
		DMARCName:     dmarcReasons,
		RelayName:     relayReasons,
		PreflightName: preflightReasons,
		LoginName:     loginReasons,
		MailboxName:   mailboxReasons,
		LimitName:     limitReasons,
		StandardsName: standardsReasons,
		SuppressName:  suppressReasons,
	}
}

// Reasons lists the reasons the check named check may give.
func Reasons(check string) []string {
	if f, ok := reasons()[check]; ok {
		return f()
	}
	return nil
}

// The reasons the chain gives for any check.
const (
	ReasonException     = "exception"      // an exception matched: the check did not run (status skipped)
	ReasonInternalError = "internal-error" // the check panicked (temperror)
)

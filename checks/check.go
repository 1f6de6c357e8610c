package checks

import (
	"context"
	"net/netip"
)

// Check is what every check has: the lowercase name shared by its config
// table, its log fields, its metrics labels and its Authentication-Results
// method. A check runs at the stages whose interface it implements.
type Check interface {
	Name() string
}

// ConnectChecker judges the connecting client.
type ConnectChecker interface {
	Check
	CheckConnect(ctx context.Context, env *Envelope) Result
}

// HeloChecker judges the HELO/EHLO name.
type HeloChecker interface {
	Check
	CheckHelo(ctx context.Context, env *Envelope) Result
}

// MailChecker judges the MAIL FROM address.
type MailChecker interface {
	Check
	CheckMail(ctx context.Context, env *Envelope) Result
}

// RcptChecker judges one RCPT TO address; env.Rcpt is the one in question.
type RcptChecker interface {
	Check
	CheckRcpt(ctx context.Context, env *Envelope) Result
}

// DataChecker judges the whole message at its end (headers in env.Headers).
// A check that also runs earlier may return a zero Result here, to say it
// has nothing to add.
type DataChecker interface {
	Check
	CheckData(ctx context.Context, env *Envelope) Result
}

// BodyReader marks a data check that reads the message body, so the MTA
// is asked to send it; without one, only the headers are sent.
type BodyReader interface {
	DataChecker
	ReadsBody()
}

// Stage is an SMTP stage at which checks run.
type Stage int

// The stages, in SMTP order.
const (
	StageConnect Stage = iota
	StageHelo
	StageMail
	StageRcpt
	StageData
	numStages = iota
)

// Envelope is what is known of a connection and its current message when a
// check runs. Checks read it and never change it: the checks of one stage
// run concurrently on the same Envelope.
type Envelope struct {
	// Connection.
	ClientIP   netip.Addr // unmapped; invalid when the MTA gave none
	ClientPort int
	ClientName string     // the client hostname the MTA verified ({client_name}), "" when none
	PTRName    string     // the client hostname the ptr check forward-confirmed, "" when none; see VerifiedName
	PTRRefuted bool       // the ptr check found that the client's reverse DNS does not hold: ClientName is not taken
	ClientPTR  string     // the MTA's PTR name, unverified
	DaemonAddr netip.Addr // the MTA's own address the client connected to ({daemon_addr}, {if_addr})
	MTAName    string     // the MTA's own hostname (macro j)
	Helo       string     // the HELO/EHLO argument as given
	AuthUser   string     // {auth_authen}: SMTP AUTH user name, "" when not authenticated
	Trusted    bool       // trusted network or authenticated: inbound checks skip

	// Message.
	From    string // MAIL FROM without angle brackets; "" is the null sender
	Rcpt    string // the recipient being checked (RCPT stage only)
	Rcpts   []string
	Headers []Header
	QueueID string

	// The hand-offs of the checks that already ran (see Take): the spf
	// check's outcome for this message, the dkim check's; nil until then.
	SPF  *SPFOutcome
	DKIM *DKIMOutcome
	// Streams are the message streams of the Streamer checks, by name.
	Streams map[string]MessageStream
}

// Header is one message header field as the MTA passed it.
type Header struct {
	Name, Value string
}

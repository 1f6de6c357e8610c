package checks

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"
	"sync"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"

	"github.com/mailsift/mailsift/internal/config"
)

// DKIM verifies the message's DKIM signatures (RFC 6376, Ed25519 RFC 8463)
// with go-msgauth, the keys looked up through mailsift's resolver. The
// message is streamed into the verifier as the MTA sends it, so memory per
// message stays bounded whatever its size.
type DKIM struct {
	DNS NetResolver
	Max int // signatures verified at most

	// bufs are the verifiers' read buffers (*bufio.Reader of the default
	// size), reused across messages: go-msgauth wraps its input in
	// bufio.NewReader, which takes a *bufio.Reader of that size as it is
	// instead of allocating 4 KB for every message.
	bufs sync.Pool
}

// Name implements Check.
func (*DKIM) Name() string { return DKIMName }

// ReadsBody implements BodyReader.
func (*DKIM) ReadsBody() {}

// MessageStream receives the message as the MTA passes it: the header
// block, then the body, and gives a check's verdict at its end.
type MessageStream interface {
	io.Writer
	// Finish ends the message and waits for the verdict.
	Finish(ctx context.Context) Result
	// Abort drops the message; the stream's work ends.
	Abort()
}

// Streamer is a check that reads the message as a stream.
type Streamer interface {
	BodyReader
	Stream(ctx context.Context) MessageStream
}

// Stream implements Streamer.
func (d *DKIM) Stream(ctx context.Context) MessageStream {
	pr, pw := io.Pipe()
	s := &dkimStream{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		// The key's TXT answer comes from the resolver's cache, but
		// go-msgauth (v0.7.0 and its master) parses it again for every
		// signature: LookupTXT is its only hook, and the parsed key
		// (queryResult, the verifier interface, queryMethods) is unexported,
		// so there is nothing a parsed key could be handed back through.
		// BenchmarkDKIMVerify: parsing is ~9 % of an RSA-2048 verification
		// (under 1 % for Ed25519); a cached *rsa.PublicKey would still pay
		// crypto/rsa's per-call modulus setup (~11 %). Caching needs an
		// upstream hook (emersion/go-msgauth#56) or our own verifier.
		opts := &dkim.VerifyOptions{MaxVerifications: d.Max,
			// go-msgauth takes no context: bind the lookups to ours.
			LookupTXT: func(name string) ([]string, error) { return d.DNS.LookupTXT(ctx, name) }}
		br, _ := d.bufs.Get().(*bufio.Reader)
		if br == nil {
			br = bufio.NewReader(pr)
		} else {
			br.Reset(pr)
		}
		s.vs, s.err = dkim.VerifyWithOptions(br, opts)
		io.Copy(io.Discard, pr) // the verifier may stop early: drain, so writers never block
		pr.Close()
		br.Reset(nil) // hold no pipe while pooled
		d.bufs.Put(br)
	}()
	return s
}

type dkimStream struct {
	pw   *io.PipeWriter
	done chan struct{}
	vs   []*dkim.Verification
	err  error
}

func (s *dkimStream) Write(p []byte) (int, error) { return s.pw.Write(p) }

func (s *dkimStream) Abort() {
	s.pw.CloseWithError(errors.New("message aborted"))
	<-s.done
}

func (s *dkimStream) Finish(ctx context.Context) Result {
	s.pw.Close()
	select {
	case <-s.done:
	case <-ctx.Done():
		s.Abort()
		text := "verification did not finish in time"
		return Result{Status: TempError, Reason: ReasonDKIMTempError, Text: text, DKIM: &DKIMOutcome{Status: TempError, Text: text}}
	}
	return dkimResult(s.vs, s.err)
}

// CheckData implements DataChecker: the stream's verdict.
func (d *DKIM) CheckData(ctx context.Context, env *Envelope) Result {
	s, ok := env.Streams[d.Name()]
	if !ok {
		return Result{Status: None, Reason: ReasonDKIMNoMessage, DKIM: &DKIMOutcome{Status: None}}
	}
	return s.Finish(ctx)
}

func dkimResult(vs []*dkim.Verification, err error) Result {
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) && len(vs) == 0 {
		return Result{Status: PermError, Reason: ReasonDKIMUnreadable, Text: err.Error(),
			AuthRes: []authres.Result{&authres.DKIMResult{Value: authres.ResultPermError, Reason: err.Error()}},
			DKIM:    &DKIMOutcome{Status: PermError, Text: err.Error(), Signatures: []DKIMSignature{{Status: PermError}}}}
	}
	if len(vs) == 0 {
		return Result{Status: None, Reason: ReasonDKIMNone, Text: "no signature",
			AuthRes: []authres.Result{&authres.GenericResult{Method: "dkim", Value: authres.ResultNone}},
			DKIM:    &DKIMOutcome{Status: None, Text: "no signature"}}
	}
	r := Result{DKIM: &DKIMOutcome{}}
	rank := map[Status]int{Pass: 4, TempError: 3, Fail: 2, PermError: 1}
	var texts []string
	for _, v := range vs {
		st := Pass
		switch {
		case v.Err == nil:
		case dkim.IsTempFail(v.Err):
			st = TempError
		case dkim.IsPermFail(v.Err):
			st = PermError
		default:
			st = Fail
		}
		ar := &authres.DKIMResult{Value: authres.ResultValue(st), Domain: v.Domain, Identifier: v.Identifier}
		text := v.Domain + "=" + string(st)
		if v.Err != nil {
			ar.Reason = strings.TrimPrefix(v.Err.Error(), "dkim: ")
			text += " (" + ar.Reason + ")"
		}
		texts = append(texts, text)
		r.AuthRes = append(r.AuthRes, ar)
		r.DKIM.Signatures = append(r.DKIM.Signatures, DKIMSignature{Status: st, Domain: v.Domain})
		if rank[st] > rank[r.Status] {
			r.Status, r.Reason = st, "dkim-"+string(st)
		}
	}
	r.Text = strings.Join(texts, ", ")
	r.DKIM.Status, r.DKIM.Text = r.Status, r.Text
	return r
}

// The dkim check's name and reasons (its log's mailsift.checks.dkim.reason, and keys of its actions).
const (
	DKIMName             = "dkim"
	ReasonDKIMPass       = "dkim-pass"
	ReasonDKIMFail       = "dkim-fail"
	ReasonDKIMTempError  = "dkim-temperror"
	ReasonDKIMPermError  = "dkim-permerror"
	ReasonDKIMNone       = "dkim-none"
	ReasonDKIMUnreadable = "dkim-unreadable"
	ReasonDKIMNoMessage  = "dkim-no-message"
)

func dkimReasons() []string {
	return []string{ReasonDKIMPass, ReasonDKIMFail, ReasonDKIMTempError, ReasonDKIMPermError, ReasonDKIMNone, ReasonDKIMUnreadable, ReasonDKIMNoMessage}
}

// DKIMConfig is [checks.dkim].
type DKIMConfig struct {
	Mode          CheckMode `toml:"mode"`
	MaxSignatures int       `toml:"max_signatures"`
	CheckConfig
}

func defaultDKIMConfig() DKIMConfig {
	return DKIMConfig{MaxSignatures: 5, CheckConfig: CheckConfig{Actions: map[string]Action{
		"fail": ActionLog, "temperror": ActionLog, "permerror": ActionLog}}}
}

// Validate checks the table.
func (t *DKIMConfig) Validate() error {
	if t.MaxSignatures < 1 || t.MaxSignatures > 50 {
		return config.Errorf("checks.dkim.max_signatures", "want 1 to 50, got %d", t.MaxSignatures)
	}
	return nil
}

// newDKIM builds the dkim check from its table.
func newDKIM(t *DKIMConfig, d Deps) Check {
	return &DKIM{DNS: NetResolver{R: d.DNS}, Max: t.MaxSignatures}
}

package checks

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Chain runs checks. The set is built explicitly from the config in one
// ordered list; the order is the order of the log fields and of replies when
// several checks refuse at the same stage.
type Chain struct {
	checks  []Check
	except  map[string]*Exceptions
	timeout time.Duration
	now     func() time.Time
	// plan holds, per stage and for the checks that run after the others
	// (Follower, Recorder) apart, what runs: built when the chain changes,
	// so that a stage costs no lookups.
	plan [numStages][2][]job
	// amenders complete an SPF result before the policy sees it.
	amenders []SPFAmender
}

// job is one check's function at one stage.
type job struct {
	name   string
	fn     func(context.Context, *Envelope) Result
	except *Exceptions
	local  bool // runs inline: the check never waits on the network
	// skippedBefore: at the end of the message, a check that also runs at
	// MAIL FROM met its exceptions there (nothing they read has changed
	// since), and its skip was reported then: not again.
	skippedBefore bool
}

// Local is implemented by a check that, as configured, never waits on the
// network (nor on anything else that may block for long): the chain runs
// it inline in the calling goroutine, with no timer of its own. A check
// that does not implement it, or says false, is taken to wait on the
// network.
type Local interface {
	Local() bool
}

// NewChain returns a Chain that gives each check at most timeout.
// now is the clock used to time checks.
func NewChain(timeout time.Duration, now func() time.Time, cs ...Check) *Chain {
	c := &Chain{checks: cs, timeout: timeout, now: now, except: map[string]*Exceptions{}}
	c.replan()
	return c
}

// Add appends a check to the chain.
func (c *Chain) Add(ch Check) *Chain {
	c.checks = append(c.checks, ch)
	c.replan()
	return c
}

// Except gives the check named name its exceptions.
func (c *Chain) Except(name string, x *Exceptions) *Chain {
	c.except[name] = x
	c.replan()
	return c
}

func (c *Chain) replan() {
	c.amenders = nil
	for _, ch := range c.checks {
		if a, ok := ch.(SPFAmender); ok {
			c.amenders = append(c.amenders, a)
		}
	}
	for s := range c.plan {
		for late := range c.plan[s] {
			var js []job
			for _, ch := range c.checks {
				isLate := runsAfter(ch)
				fn := runFunc(ch, Stage(s))
				if fn == nil || isLate != (late == 1) {
					continue
				}
				l, ok := ch.(Local)
				js = append(js, job{name: ch.Name(), fn: fn, except: c.except[ch.Name()], local: ok && l.Local(),
					skippedBefore: Stage(s) == StageData && runFunc(ch, StageMail) != nil})
			}
			c.plan[s][late] = js
		}
	}
}

// Checks returns the checks in order.
func (c *Chain) Checks() []Check { return c.checks }

// Has reports whether some check runs at stage s; the milter asks the MTA
// only for the stages that some check (or the log record) needs.
func (c *Chain) Has(s Stage) bool {
	for _, ch := range c.checks {
		if runFunc(ch, s) != nil {
			return true
		}
	}
	return false
}

func runFunc(ch Check, s Stage) func(context.Context, *Envelope) Result {
	switch s {
	case StageConnect:
		if x, ok := ch.(ConnectChecker); ok {
			return x.CheckConnect
		}
	case StageHelo:
		if x, ok := ch.(HeloChecker); ok {
			return x.CheckHelo
		}
	case StageMail:
		if x, ok := ch.(MailChecker); ok {
			return x.CheckMail
		}
	case StageRcpt:
		if x, ok := ch.(RcptChecker); ok {
			return x.CheckRcpt
		}
	case StageData:
		if x, ok := ch.(DataChecker); ok {
			return x.CheckData
		}
	}
	return nil
}

// Run runs the checks of stage s and returns their results in chain
// order, leaving out the zero Results of checks that had nothing to say.
// Checks that wait on the network run concurrently, under one deadline for
// the stage (the chain's timeout: each gets at most that long); Local
// checks run inline while those wait. Every goroutine it starts has ended
// when it returns. A check that panics gives temperror rather than taking
// the process down.
func (c *Chain) Run(ctx context.Context, s Stage, env *Envelope) []Result {
	return c.run(ctx, s, env, false)
}

// RunAfter runs the stage's Follower and Recorder checks, once the
// session has handed the others' results on (Envelope.Take) and only when
// they let the mail through.
func (c *Chain) RunAfter(ctx context.Context, s Stage, env *Envelope) []Result {
	return c.run(ctx, s, env, true)
}

// Follower marks a check that judges from what other checks of its stage
// found (dmarc reads the dkim check's outcome at the end of the message):
// it runs after them.
type Follower interface{ Follows() }

// Recorder marks a check that records state (the greylist records a
// triplet): it runs after the others of its stage, and only when they let
// the mail through, so that refused mail leaves no state.
type Recorder interface{ Records() }

// runsAfter reports whether ch runs in the second round of its stage.
func runsAfter(ch Check) bool {
	_, f := ch.(Follower)
	_, r := ch.(Recorder)
	return f || r
}

// Waits reports whether a check of stage s (its second round, after
// Follower and Recorder checks, when after is set) may wait on the
// network. When none does, the stage ends in the time its local checks
// take, and needs neither a deadline nor a progress timer.
func (c *Chain) Waits(s Stage, after bool) bool {
	if s < 0 || int(s) >= numStages {
		return false
	}
	l := 0
	if after {
		l = 1
	}
	for i := range c.plan[s][l] {
		if !c.plan[s][l][i].local {
			return true
		}
	}
	return false
}

func (c *Chain) run(ctx context.Context, s Stage, env *Envelope, late bool) []Result {
	if s < 0 || int(s) >= numStages {
		return nil
	}
	l := 0
	if late {
		l = 1
	}
	jobs := c.plan[s][l]
	if len(jobs) == 0 {
		return nil
	}
	results := make([]Result, len(jobs))
	// The network checks: all but the first in goroutines, started before
	// the local checks run so their lookups overlap; the first in this
	// goroutine once the local ones are done.
	first := -1
	var wg sync.WaitGroup
	nctx := ctx
	for i := range jobs {
		if jobs[i].local {
			continue
		}
		if first < 0 {
			first = i
			var cancel context.CancelFunc
			nctx, cancel = context.WithTimeout(ctx, c.timeout)
			defer cancel()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = c.runOne(nctx, &jobs[i], env)
		}()
	}
	for i := range jobs {
		if jobs[i].local {
			results[i] = c.runOne(ctx, &jobs[i], env)
		}
	}
	if first >= 0 {
		results[first] = c.runOne(nctx, &jobs[first], env)
	}
	wg.Wait()
	// A check with nothing to say at this stage returns a zero Result.
	kept := results[:0]
	for _, r := range results {
		if r.Status != "" {
			kept = append(kept, r)
		}
	}
	return kept
}

func (c *Chain) runOne(ctx context.Context, j *job, env *Envelope) (r Result) {
	if j.except != nil {
		if why := j.except.Match(env); why != "" {
			if j.skippedBefore {
				return Result{}
			}
			return Result{Check: j.name, Status: Skipped, Reason: ReasonException, Text: why}
		}
	}
	start := c.now()
	defer func() {
		if v := recover(); v != nil {
			r = Result{Status: TempError, Reason: ReasonInternalError, Text: fmt.Sprintf("check panicked: %v", v),
				Reply: Reply{Code: 451, Enhanced: "4.3.0", Text: "Temporary internal error, try again later"}}
		}
		r.Check = j.name
		r.Duration = c.now().Sub(start)
	}()
	r = j.fn(ctx, env)
	if r.SPF != nil && r.SPF.Status == Fail {
		for _, a := range c.amenders {
			a.AmendSPF(ctx, &r)
		}
	}
	return r
}

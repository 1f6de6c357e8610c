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
}

// NewChain returns a Chain that gives each check at most timeout.
// now is the clock used to time checks.
func NewChain(timeout time.Duration, now func() time.Time, cs ...Check) *Chain {
	return &Chain{checks: cs, timeout: timeout, now: now, except: map[string]*Exceptions{}}
}

// Add appends a check to the chain.
func (c *Chain) Add(ch Check) *Chain {
	c.checks = append(c.checks, ch)
	return c
}

// Except gives the check named name its exceptions.
func (c *Chain) Except(name string, x *Exceptions) *Chain {
	c.except[name] = x
	return c
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

// Run runs the checks of stage s concurrently and returns their results in
// chain order, leaving out the zero Results of checks that had nothing to
// say. Every goroutine it starts has ended when it returns. A check
// that panics gives temperror rather than taking the process down.
func (c *Chain) Run(ctx context.Context, s Stage, env *Envelope) []Result {
	return c.run(ctx, s, env, false)
}

// RunLate runs the stage's Late checks: those that record state (the
// greylist) and so must run only when the others did not refuse.
func (c *Chain) RunLate(ctx context.Context, s Stage, env *Envelope) []Result {
	return c.run(ctx, s, env, true)
}

// Late marks a check that runs after the others of its stage, and only
// when they let the mail through.
type Late interface{ Late() }

func (c *Chain) run(ctx context.Context, s Stage, env *Envelope, late bool) []Result {
	type job struct {
		name string
		fn   func(context.Context, *Envelope) Result
	}
	var jobs []job
	for _, ch := range c.checks {
		_, isLate := ch.(Late)
		if fn := runFunc(ch, s); fn != nil && isLate == late {
			jobs = append(jobs, job{ch.Name(), fn})
		}
	}
	results := make([]Result, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = c.runOne(ctx, j.name, j.fn, env)
		}()
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

func (c *Chain) runOne(ctx context.Context, name string, fn func(context.Context, *Envelope) Result, env *Envelope) (r Result) {
	if x := c.except[name]; x != nil {
		if why := x.Match(env); why != "" {
			return Result{Check: name, Status: Skipped, Reason: "exception", Text: why}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := c.now()
	defer func() {
		if v := recover(); v != nil {
			r = Result{Status: TempError, Reason: "internal-error", Text: fmt.Sprintf("check panicked: %v", v),
				Reply: Reply{Code: 451, Enhanced: "4.3.0", Text: "Temporary internal error, try again later"}}
		}
		r.Check = name
		r.Duration = c.now().Sub(start)
	}()
	return fn(ctx, env)
}

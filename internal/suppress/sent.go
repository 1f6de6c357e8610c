package suppress

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Sent remembers the messages we sent ([bounces] verify_sent): each
// accepted submission's Message-ID with its recipients, for a window. A
// bounce counts only when it is about one of them, sent to the recipient
// it names: a forged report about a live address names a message we never
// sent it.
type Sent interface {
	// RecordSent remembers that the message id was sent to rcpts at now,
	// until now+ttl.
	RecordSent(ctx context.Context, id string, rcpts []string, now time.Time, ttl time.Duration) error
	// WasSent reports whether the message id was sent to rcpt, as
	// remembered at now.
	WasSent(ctx context.Context, id, rcpt string, now time.Time) (bool, error)
}

// MessageID returns a Message-ID as the sent messages are keyed: without
// surrounding spaces and angle brackets; its case is kept (the local part
// is case-sensitive, and the same message carries the same text). ""
// when nothing is left.
func MessageID(id string) string {
	id = strings.TrimSpace(id)
	if strings.HasPrefix(id, "<") && strings.HasSuffix(id, ">") {
		id = strings.TrimSpace(id[1 : len(id)-1])
	}
	return id
}

// SentRecipient returns a recipient as the sent messages list it: without
// angle brackets and spaces, lowercased.
func SentRecipient(rcpt string) string {
	return strings.ToLower(Normalize(rcpt))
}

// DefaultSentMax bounds a SentMemory whose Max is 0.
const DefaultSentMax = 100000

// SentMemory is the Sent of one process, bounded: past Max messages the
// oldest are dropped (an old bounce is then not counted).
type SentMemory struct {
	Max int // messages kept; 0 means DefaultSentMax

	mu    sync.Mutex
	msgs  map[string]*sentMsg
	order []sentPlace // oldest first; an id sent again is listed again
	seq   uint64
}

// sentPlace is a message's place in SentMemory.order: current while its
// seq is the message's.
type sentPlace struct {
	id  string
	seq uint64
}

type sentMsg struct {
	rcpts   map[string]bool
	expires time.Time
	seq     uint64 // its last place in order
}

// NewSentMemory returns an empty SentMemory keeping max messages (0 for
// DefaultSentMax).
func NewSentMemory(max int) *SentMemory {
	return &SentMemory{Max: max, msgs: map[string]*sentMsg{}}
}

// RecordSent implements Sent.
func (m *SentMemory) RecordSent(_ context.Context, id string, rcpts []string, now time.Time, ttl time.Duration) error {
	id = MessageID(id)
	if id == "" {
		return fmt.Errorf("suppress: record sent message: empty Message-ID")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.msgs == nil {
		m.msgs = map[string]*sentMsg{}
	}
	sm := m.msgs[id]
	if sm == nil || !now.Before(sm.expires) {
		sm = &sentMsg{rcpts: map[string]bool{}}
		m.msgs[id] = sm
	}
	for _, r := range rcpts {
		if r = SentRecipient(r); r != "" {
			sm.rcpts[r] = true
		}
	}
	m.seq++
	sm.expires, sm.seq = now.Add(ttl), m.seq
	m.order = append(m.order, sentPlace{id, m.seq})
	m.prune(now)
	return nil
}

// prune drops the expired messages at the front of order, and the oldest
// ones past Max. A place left behind by a message sent again is skipped.
func (m *SentMemory) prune(now time.Time) {
	limit := m.Max
	if limit <= 0 {
		limit = DefaultSentMax
	}
	i := 0
	for ; i < len(m.order); i++ {
		p := m.order[i]
		sm := m.msgs[p.id]
		if sm == nil || sm.seq != p.seq {
			continue // a stale place
		}
		if now.Before(sm.expires) && len(m.msgs) <= limit {
			break
		}
		delete(m.msgs, p.id)
	}
	m.order = m.order[i:]
	if len(m.order) > 2*limit { // many stale places: compact
		kept := make([]sentPlace, 0, len(m.msgs))
		for _, p := range m.order {
			if sm := m.msgs[p.id]; sm != nil && sm.seq == p.seq {
				kept = append(kept, p)
			}
		}
		m.order = kept
	}
}

// WasSent implements Sent.
func (m *SentMemory) WasSent(_ context.Context, id, rcpt string, now time.Time) (bool, error) {
	id = MessageID(id)
	m.mu.Lock()
	defer m.mu.Unlock()
	sm := m.msgs[id]
	if sm == nil || !now.Before(sm.expires) {
		return false, nil
	}
	return sm.rcpts[SentRecipient(rcpt)], nil
}

// Len returns the number of messages kept (expired ones not yet dropped
// included).
func (m *SentMemory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.msgs)
}

package callout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/redis/go-redis/v9"
)

// Shared is a cache that several MX hosts share, so that a fleet probes an
// address once. Errors are ignored: the local cache and a new probe stand
// in for it.
type Shared struct {
	Client redis.UniversalClient
	Prefix string
}

func (s *Shared) key(k string) string {
	sum := sha256.Sum256([]byte(k))
	return s.Prefix + "callout:" + hex.EncodeToString(sum[:16])
}

func (s *Shared) get(ctx context.Context, k string) (Outcome, bool) {
	if s == nil {
		return Outcome{}, false
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	b, err := s.Client.Get(ctx, s.key(k)).Bytes()
	var o Outcome
	if err != nil || json.Unmarshal(b, &o) != nil {
		return Outcome{}, false
	}
	return o, true
}

func (s *Shared) set(ctx context.Context, k string, o Outcome, ttl time.Duration) {
	if s == nil {
		return
	}
	b, _ := json.Marshal(o)
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	s.Client.Set(ctx, s.key(k), b, ttl)
}

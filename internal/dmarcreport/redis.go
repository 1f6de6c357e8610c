package dmarcreport

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mailsift/mailsift/internal/redisconn"
)

// RedisConfig is where the store's Redis is; the greylist's
// [greylist.redis] settings are used for it.
type RedisConfig = redisconn.Config

// Redis is a Store in Redis, shared by the MX hosts of a fleet: two
// sorted sets, records by time and received rows by their report's end,
// each member a JSON document.
type Redis struct{ redisconn.Conn }

// NewRedis returns a Redis store; it connects on first use.
func NewRedis(cfg RedisConfig) *Redis { return &Redis{redisconn.NewConn(cfg)} }

// member makes a set member unique: two identical records are two messages.
type member[T any] struct {
	ID string `json:"id"`
	V  T      `json:"v"`
}

func score(t time.Time) float64 { return float64(t.Unix()) }

// Add implements Store.
func (s *Redis) Add(ctx context.Context, r Record) error {
	b, err := json.Marshal(member[Record]{redisconn.Nonce(), r})
	if err != nil {
		return err
	}
	if err := s.Client().ZAdd(ctx, s.Key("records"), redis.Z{Score: score(r.Time), Member: b}).Err(); err != nil {
		return fmt.Errorf("dmarc store: redis: %w", err)
	}
	return nil
}

// Records implements Store. Times are kept to the second.
func (s *Redis) Records(ctx context.Context, begin, end time.Time) ([]Record, error) {
	return zrange[Record](ctx, s, "records", strconv.FormatInt(begin.Unix(), 10), "("+strconv.FormatInt(end.Unix(), 10))
}

// Prune implements Store.
func (s *Redis) Prune(ctx context.Context, before time.Time) error {
	return s.zrem(ctx, "records", before)
}

// AddRows implements Store.
func (s *Redis) AddRows(ctx context.Context, rows []Row) error {
	if len(rows) == 0 {
		return nil
	}
	zs := make([]redis.Z, len(rows))
	for i, r := range rows {
		b, err := json.Marshal(member[Row]{redisconn.Nonce(), r})
		if err != nil {
			return err
		}
		zs[i] = redis.Z{Score: score(r.End), Member: b}
	}
	if err := s.Client().ZAdd(ctx, s.Key("rows"), zs...).Err(); err != nil {
		return fmt.Errorf("dmarc store: redis: %w", err)
	}
	return nil
}

// Rows implements Store.
func (s *Redis) Rows(ctx context.Context, since time.Time) ([]Row, error) {
	return zrange[Row](ctx, s, "rows", strconv.FormatInt(since.Unix(), 10), "+inf")
}

// PruneRows implements Store.
func (s *Redis) PruneRows(ctx context.Context, before time.Time) error {
	return s.zrem(ctx, "rows", before)
}

func (s *Redis) zrem(ctx context.Context, key string, before time.Time) error {
	if err := s.Client().ZRemRangeByScore(ctx, s.Key(key), "-inf", "("+strconv.FormatInt(before.Unix(), 10)).Err(); err != nil {
		return fmt.Errorf("dmarc store: redis: %w", err)
	}
	return nil
}

func zrange[T any](ctx context.Context, s *Redis, key, min, max string) ([]T, error) {
	vals, err := s.Client().ZRangeByScore(ctx, s.Key(key), &redis.ZRangeBy{Min: min, Max: max}).Result()
	if err != nil {
		return nil, fmt.Errorf("dmarc store: redis: %w", err)
	}
	out := make([]T, 0, len(vals))
	for _, v := range vals {
		var m member[T]
		if err := json.Unmarshal([]byte(v), &m); err != nil {
			return nil, fmt.Errorf("dmarc store: redis: %s: %w", s.Key(key), err)
		}
		out = append(out, m.V)
	}
	return out, nil
}

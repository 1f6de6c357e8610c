package settings

import (
	"fmt"
	"time"

	"github.com/mailsift/mailsift/internal/config"
)

// LimitsConfig is [limits]: what one MTA may hold of mailsift.
type LimitsConfig struct {
	// MaxSessions bounds the MTA connections served at once; a connection
	// beyond it is closed at once (the MTA applies its milter default
	// action) and counted in mailsift_sessions_refused_total.
	MaxSessions int `toml:"max_sessions"`
	// IdleTimeout closes an MTA connection that sends nothing for this
	// long.
	IdleTimeout config.Duration `toml:"idle_timeout"`
	// MaxHeaderBytes bounds a message's header block; a message with more
	// is refused at its end with 552 5.3.4.
	MaxHeaderBytes int `toml:"max_header_bytes"`
}

// DefaultLimits are the [limits] defaults.
func DefaultLimits() LimitsConfig {
	return LimitsConfig{MaxSessions: 1000, IdleTimeout: config.Duration(2 * time.Hour), MaxHeaderBytes: 1 << 20}
}

func (l *LimitsConfig) validate() error {
	if l.MaxSessions < 1 {
		return &config.KeyErr{Key: "limits.max_sessions", Msg: fmt.Sprintf("want 1 or more, got %d", l.MaxSessions)}
	}
	if l.IdleTimeout <= 0 {
		return &config.KeyErr{Key: "limits.idle_timeout", Msg: "want a positive duration"}
	}
	if l.MaxHeaderBytes < 1024 {
		return &config.KeyErr{Key: "limits.max_header_bytes", Msg: fmt.Sprintf("want 1024 or more bytes, got %d", l.MaxHeaderBytes)}
	}
	return nil
}

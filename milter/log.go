package milter

import (
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewLogger returns mailsift's JSON logger writing to w at level. The keys
// of the envelope follow the Elastic Common Schema (@timestamp, log.level,
// message), so a SIEM can ingest the lines as they are.
func NewLogger(w zapcore.WriteSyncer, level zapcore.LevelEnabler) *zap.Logger {
	enc := zapcore.NewJSONEncoder(zapcore.EncoderConfig{
		TimeKey:        "@timestamp",
		LevelKey:       "log.level",
		NameKey:        "log.logger",
		MessageKey:     "message",
		StacktraceKey:  "error.stack_trace",
		LineEnding:     zapcore.DefaultLineEnding,
		EncodeLevel:    zapcore.LowercaseLevelEncoder,
		EncodeTime:     zapcore.RFC3339NanoTimeEncoder,
		EncodeDuration: zapcore.NanosDurationEncoder,
	})
	return zap.New(zapcore.NewCore(enc, w, level))
}

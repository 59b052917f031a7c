package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// gormLogger routes gorm's logs to hclog: slow queries as warnings, failed
// queries at debug (the caller gets and wraps the error; logging it here
// too would report every failure twice), and the SQL of every query at
// trace.
type gormLogger struct {
	log  hclog.Logger
	slow time.Duration
}

func newGormLogger(log hclog.Logger, slow time.Duration) logger.Interface {
	return &gormLogger{log: log.Named("sql"), slow: slow}
}

func (g *gormLogger) LogMode(logger.LogLevel) logger.Interface { return g }

func (g *gormLogger) Info(_ context.Context, msg string, args ...any) {
	g.log.Info(fmt.Sprintf(msg, args...))
}

func (g *gormLogger) Warn(_ context.Context, msg string, args ...any) {
	g.log.Warn(fmt.Sprintf(msg, args...))
}

func (g *gormLogger) Error(_ context.Context, msg string, args ...any) {
	g.log.Error(fmt.Sprintf(msg, args...))
}

func (g *gormLogger) Trace(_ context.Context, begin time.Time, fc func() (string, int64), err error) {
	elapsed := time.Since(begin)
	switch {
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound) && g.log.IsDebug():
		sql, rows := fc()
		g.log.Debug("query failed", "error", err, "elapsed", elapsed, "rows", rows, "sql", clip(sql))
	case elapsed > g.slow && g.log.IsWarn():
		sql, rows := fc()
		g.log.Warn("slow query", "elapsed", elapsed, "threshold", g.slow, "rows", rows, "sql", clip(sql))
	case g.log.IsTrace():
		sql, rows := fc()
		g.log.Trace("query", "elapsed", elapsed, "rows", rows, "sql", clip(sql))
	}
}

// clip keeps logged SQL short: batched upserts carry whole pages of JSON.
func clip(s string) string {
	const max = 500
	if len(s) <= max {
		return s
	}
	return s[:max] + fmt.Sprintf("... (%d bytes)", len(s))
}

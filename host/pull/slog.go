package pull

import (
	"context"
	"errors"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// slogHandler hands River's slog records to hclog, one level down (River's
// info is our debug): the hub logs pull outcomes itself.
type slogHandler struct {
	log   hclog.Logger
	attrs []any
	group string
}

func newSlog(log hclog.Logger) *slog.Logger { return slog.New(&slogHandler{log: log}) }

func (h *slogHandler) level(l slog.Level) hclog.Level {
	switch {
	case l >= slog.LevelError:
		return hclog.Error
	case l >= slog.LevelWarn:
		return hclog.Warn
	case l >= slog.LevelInfo:
		return hclog.Debug
	default:
		return hclog.Trace
	}
}

func (h *slogHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.log.GetLevel() <= h.level(l)
}

func (h *slogHandler) Handle(_ context.Context, r slog.Record) error {
	args := append([]any(nil), h.attrs...)
	level := h.level(r.Level)
	r.Attrs(func(a slog.Attr) bool {
		v := a.Value.Resolve().Any()
		if err, ok := v.(error); ok && errors.Is(err, context.Canceled) {
			// River's services report their context ending at shutdown as
			// errors; that is no error of ours.
			level = min(level, hclog.Debug)
		}
		args = append(args, h.key(a.Key), v)
		return true
	})
	if h.log.GetLevel() <= level {
		h.log.Log(level, r.Message, args...)
	}
	return nil
}

func (h *slogHandler) key(k string) string {
	if h.group != "" {
		return h.group + "." + k
	}
	return k
}

func (h *slogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append([]any(nil), h.attrs...)
	for _, a := range attrs {
		n.attrs = append(n.attrs, h.key(a.Key), a.Value.Resolve().Any())
	}
	return &n
}

func (h *slogHandler) WithGroup(name string) slog.Handler {
	n := *h
	n.group = h.key(name)
	return &n
}

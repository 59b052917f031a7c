package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/store"
)

type adminEntity struct {
	Name             string     `json:"name"`
	LastPullStarted  *time.Time `json:"last_pull_started"`
	LastPullFinished *time.Time `json:"last_pull_finished"`
	LastSuccess      *time.Time `json:"last_success"`
	LagSeconds       *float64   `json:"lag_seconds"`
	Records          int64      `json:"records"`
	LastError        string     `json:"last_error,omitempty"`
	CursorPresent    bool       `json:"cursor_present"`
	FullRunning      bool       `json:"full_running"`
}

type adminSource struct {
	Name     string        `json:"name"`
	Plugin   PluginState   `json:"plugin"`
	Seq      int64         `json:"seq"`
	Entities []adminEntity `json:"entities"`
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// adminSources is GET /v1/admin/sources.
func (s *Server) adminSources(c *gin.Context) {
	ctx := c.Request.Context()
	now := s.now()
	out := struct {
		Sources []adminSource `json:"sources"`
	}{Sources: []adminSource{}}
	for i := range s.cfg.Sources {
		src := &s.cfg.Sources[i]
		seq, err := s.st.SourceSeq(ctx, src.Name)
		if err != nil {
			s.abortInternal(c, err)
			return
		}
		states, err := s.st.EntityStates(ctx, src.Name)
		if err != nil {
			s.abortInternal(c, err)
			return
		}
		byName := make(map[string]store.EntityState, len(states))
		for _, st := range states {
			byName[st.Entity] = st
		}
		as := adminSource{Name: src.Name, Plugin: s.sources.State(src.Name), Seq: seq, Entities: []adminEntity{}}
		for _, e := range src.Entities {
			st := byName[e.Name]
			n, err := s.st.CountRecords(ctx, src.Name, e.Name)
			if err != nil {
				s.abortInternal(c, err)
				return
			}
			ae := adminEntity{Name: e.Name, LastPullStarted: utcPtr(st.LastPullStarted),
				LastPullFinished: utcPtr(st.LastPullFinished), LastSuccess: utcPtr(st.LastSuccess),
				Records: n, LastError: st.LastError, CursorPresent: st.Cursor != "",
				FullRunning: st.FullRunning}
			if st.LastSuccess != nil {
				lag := max(now.Sub(*st.LastSuccess).Seconds(), 0)
				ae.LagSeconds = &lag
			}
			as.Entities = append(as.Entities, ae)
		}
		out.Sources = append(out.Sources, as)
	}
	c.JSON(http.StatusOK, out)
}

// adminSource resolves the {source} of an admin route (404 when unknown).
func (s *Server) adminSource(c *gin.Context) (*config.Source, bool) {
	name := c.Param("source")
	src, ok := s.cfg.Source(name)
	if !ok {
		abortError(c, http.StatusNotFound, codeNotFound, fmt.Sprintf("source %q not found", name))
		return nil, false
	}
	return src, true
}

// adminEntity resolves {source} and {entity} (404 when unknown).
func (s *Server) adminEntity(c *gin.Context) (*config.Source, *config.Entity, bool) {
	src, ok := s.adminSource(c)
	if !ok {
		return nil, nil, false
	}
	name := c.Param("entity")
	e, ok := src.Entity(name)
	if !ok {
		abortError(c, http.StatusNotFound, codeNotFound, fmt.Sprintf("entity %q of source %q not found", name, src.Name))
		return nil, nil, false
	}
	return src, e, true
}

type pullRequest struct {
	Full     bool     `json:"full"`
	Entities []string `json:"entities"`
}

// adminPull is POST /v1/admin/sources/{source}/pull.
func (s *Server) adminPull(c *gin.Context) {
	src, ok := s.adminSource(c)
	if !ok {
		return
	}
	var req pullRequest
	if !s.decodeJSON(c, &req, true) {
		return
	}
	for _, name := range req.Entities {
		if _, ok := src.Entity(name); !ok {
			abortError(c, http.StatusNotFound, codeNotFound, fmt.Sprintf("entity %q of source %q not found", name, src.Name))
			return
		}
	}
	if s.puller == nil {
		abortError(c, http.StatusServiceUnavailable, codeUnavailable, "this hub does not pull")
		return
	}
	if err := s.puller.Trigger(c.Request.Context(), src.Name, req.Entities, req.Full); err != nil {
		s.log.Warn("admin pull not queued", "source", src.Name, "error", err)
		abortError(c, http.StatusServiceUnavailable, codeUnavailable, "pull not queued: "+err.Error())
		return
	}
	entities := req.Entities
	if len(entities) == 0 {
		entities = make([]string, 0, len(src.Entities))
		for _, e := range src.Entities {
			entities = append(entities, e.Name)
		}
	}
	s.log.Info("admin queued a pull", "admin", callerOf(c).user.Name, "source", src.Name, "entities", entities, "full", req.Full)
	c.JSON(http.StatusAccepted, gin.H{"source": src.Name, "entities": entities, "full": req.Full})
}

type cursorResponse struct {
	Source string  `json:"source"`
	Entity string  `json:"entity"`
	Cursor *string `json:"cursor"`
}

func newCursorResponse(source, entity, cursor string) cursorResponse {
	r := cursorResponse{Source: source, Entity: entity}
	if cursor != "" {
		r.Cursor = &cursor
	}
	return r
}

// adminGetCursor is GET .../entities/{entity}/cursor.
func (s *Server) adminGetCursor(c *gin.Context) {
	src, e, ok := s.adminEntity(c)
	if !ok {
		return
	}
	st, err := s.st.EntityState(c.Request.Context(), src.Name, e.Name)
	if err != nil {
		s.abortInternal(c, err)
		return
	}
	c.JSON(http.StatusOK, newCursorResponse(src.Name, e.Name, st.Cursor))
}

type setCursorRequest struct {
	Cursor *string `json:"cursor"`
}

// adminSetCursor is PUT .../entities/{entity}/cursor.
func (s *Server) adminSetCursor(c *gin.Context) {
	src, e, ok := s.adminEntity(c)
	if !ok {
		return
	}
	var req setCursorRequest
	if !s.decodeJSON(c, &req, false) {
		return
	}
	if req.Cursor == nil || *req.Cursor == "" {
		abortError(c, http.StatusBadRequest, codeInvalidBody,
			"cursor is required and must not be empty (DELETE the cursor to make the next pull full)")
		return
	}
	if err := s.st.SetCursor(c.Request.Context(), src.Name, e.Name, *req.Cursor); err != nil {
		s.abortInternal(c, err)
		return
	}
	s.log.Info("admin set a cursor", "admin", callerOf(c).user.Name, "source", src.Name, "entity", e.Name)
	c.JSON(http.StatusOK, newCursorResponse(src.Name, e.Name, *req.Cursor))
}

// adminResetCursor is DELETE .../entities/{entity}/cursor.
func (s *Server) adminResetCursor(c *gin.Context) {
	src, e, ok := s.adminEntity(c)
	if !ok {
		return
	}
	if err := s.st.ResetCursor(c.Request.Context(), src.Name, e.Name); err != nil {
		s.abortInternal(c, err)
		return
	}
	s.log.Info("admin reset a cursor", "admin", callerOf(c).user.Name, "source", src.Name, "entity", e.Name)
	c.Status(http.StatusNoContent)
}

// adminRestart is POST /v1/admin/sources/{source}/restart.
func (s *Server) adminRestart(c *gin.Context) {
	src, ok := s.adminSource(c)
	if !ok {
		return
	}
	s.log.Info("admin restarts a plugin", "admin", callerOf(c).user.Name, "source", src.Name)
	if err := s.sources.Restart(c.Request.Context(), src.Name); err != nil {
		s.log.Warn("plugin restart failed", "source", src.Name, "error", err)
		abortError(c, http.StatusBadGateway, codeRestartFailed, fmt.Sprintf("restart of source %q failed: %v", src.Name, err))
		return
	}
	c.JSON(http.StatusOK, s.sources.State(src.Name))
}

// live is GET /health/live: the process serves HTTP.
func (s *Server) live(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// ready is GET /health/ready: the database answers and no plugin is
// FAILED.
func (s *Server) ready(c *gin.Context) {
	var reasons []string
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	// The read pool: on SQLite the write pool's one connection may be busy
	// with a long pull transaction, which is no reason to be unready.
	if db, err := s.st.ReadDB().DB(); err != nil {
		reasons = append(reasons, "database: "+err.Error())
	} else if err := db.PingContext(ctx); err != nil {
		reasons = append(reasons, "database: "+err.Error())
	}
	for _, name := range s.sources.Names() {
		st := s.sources.State(name)
		if strings.EqualFold(st.State, PluginFailed) {
			r := fmt.Sprintf("source %q: plugin failed", name)
			if st.LastError != "" {
				r += ": " + st.LastError
			}
			reasons = append(reasons, r)
		}
	}
	if len(reasons) > 0 {
		c.AbortWithStatusJSON(http.StatusServiceUnavailable, gin.H{
			"error":   errorDetail{Code: codeNotReady, Message: strings.Join(reasons, "; ")},
			"reasons": reasons,
		})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

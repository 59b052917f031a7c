package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/synchub/synchub/host/push"
)

// listSyncErrors is GET /v1/sources/{source}/sync-errors: the calling
// device's mutations that were not applied.
func (s *Server) listSyncErrors(c *gin.Context) {
	v, ok := s.sourceView(c)
	if !ok || !s.requirePusher(c) {
		return
	}
	errs, err := s.pusher.SyncErrors(c.Request.Context(), pushCaller(c, v))
	if err != nil {
		s.abortInternal(c, err)
		return
	}
	if errs == nil {
		errs = []push.SyncError{}
	}
	c.JSON(http.StatusOK, gin.H{"errors": errs})
}

type resolveRequest struct {
	Resolution string          `json:"resolution"`
	Fields     json.RawMessage `json:"fields"`
}

// resolveSyncError is POST /v1/sources/{source}/sync-errors/{id}/resolve.
// Another device's (or user's) sync error is 404, like one that does not
// exist.
func (s *Server) resolveSyncError(c *gin.Context) {
	v, ok := s.sourceView(c)
	if !ok {
		return
	}
	var req resolveRequest
	if !s.decodeJSON(c, &req, false) {
		return
	}
	switch req.Resolution {
	case push.ResolveKeepMine, push.ResolveTakeServer:
		if len(req.Fields) > 0 && string(req.Fields) != "null" {
			abortError(c, http.StatusBadRequest, codeInvalidBody, "fields go only with the resolution merged")
			return
		}
	case push.ResolveMerged:
		if len(req.Fields) == 0 || string(req.Fields) == "null" {
			abortError(c, http.StatusBadRequest, codeInvalidBody, "the resolution merged needs fields: the record's fields to send")
			return
		}
	default:
		abortError(c, http.StatusBadRequest, codeInvalidBody,
			fmt.Sprintf("resolution must be keep_mine, take_server or merged, not %q", req.Resolution))
		return
	}
	if !s.requirePusher(c) {
		return
	}
	id := c.Param("id")
	err := s.pusher.Resolve(c.Request.Context(), push.ResolveRequest{Caller: pushCaller(c, v), ID: id,
		Resolution: req.Resolution, Fields: req.Fields})
	switch {
	case errors.Is(err, push.ErrNotFound):
		abortError(c, http.StatusNotFound, codeNotFound, fmt.Sprintf("sync error %q not found", id))
		return
	case errors.Is(err, push.ErrNotOpen):
		abortError(c, http.StatusConflict, codeNotOpen, err.Error())
		return
	case errors.Is(err, push.ErrInvalid):
		abortError(c, http.StatusBadRequest, codeInvalidBody, err.Error())
		return
	case err != nil:
		s.abortInternal(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": id, "resolution": req.Resolution})
}

// adminDeadLetters is GET /v1/admin/sources/{source}/dead-letters.
func (s *Server) adminDeadLetters(c *gin.Context) {
	src, ok := s.adminSource(c)
	if !ok || !s.requirePusher(c) {
		return
	}
	limit, ok := queryLimit(c, 1000, 10000)
	if !ok {
		return
	}
	dead, err := s.pusher.DeadLetters(c.Request.Context(), src.Name, limit)
	if err != nil {
		s.abortInternal(c, err)
		return
	}
	if dead == nil {
		dead = []push.DeadLetter{}
	}
	c.JSON(http.StatusOK, gin.H{"dead_letters": dead})
}

// adminRetryDeadLetter is POST .../dead-letters/{id}/retry.
func (s *Server) adminRetryDeadLetter(c *gin.Context) {
	src, ok := s.adminSource(c)
	if !ok || !s.requirePusher(c) {
		return
	}
	id := c.Param("id")
	if !s.deadLetterResult(c, id, s.pusher.RetryDeadLetter(c.Request.Context(), src.Name, id)) {
		return
	}
	s.log.Info("admin retried a dead letter", "admin", callerOf(c).user.Name, "source", src.Name, "id", id)
	c.JSON(http.StatusAccepted, gin.H{"id": id, "status": "queued"})
}

// adminDiscardDeadLetter is DELETE .../dead-letters/{id}.
func (s *Server) adminDiscardDeadLetter(c *gin.Context) {
	src, ok := s.adminSource(c)
	if !ok || !s.requirePusher(c) {
		return
	}
	id := c.Param("id")
	if !s.deadLetterResult(c, id, s.pusher.DiscardDeadLetter(c.Request.Context(), src.Name, id)) {
		return
	}
	s.log.Info("admin discarded a dead letter", "admin", callerOf(c).user.Name, "source", src.Name, "id", id)
	c.Status(http.StatusNoContent)
}

func (s *Server) deadLetterResult(c *gin.Context, id string, err error) bool {
	switch {
	case errors.Is(err, push.ErrNotFound):
		abortError(c, http.StatusNotFound, codeNotFound, fmt.Sprintf("dead letter %q not found", id))
		return false
	case err != nil:
		s.abortInternal(c, err)
		return false
	}
	return true
}

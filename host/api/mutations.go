package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/synchub/synchub/host/push"
)

// Pusher is what the API needs of the push stage (host/push.Pusher).
type Pusher interface {
	// Accept validates and durably stores an upload of mutations.
	Accept(ctx context.Context, req push.AcceptRequest) (push.AcceptResult, error)
	// Applied lists the device's mutations resolved at a seq in
	// (after, through]; reached is the seq the answer covers.
	Applied(ctx context.Context, source string, deviceID, after, through int64, limit int) (applied []push.Applied, reached int64, err error)
	SyncErrors(ctx context.Context, c push.Caller) ([]push.SyncError, error)
	Resolve(ctx context.Context, req push.ResolveRequest) error
	DeadLetters(ctx context.Context, source string, limit int) ([]push.DeadLetter, error)
	RetryDeadLetter(ctx context.Context, source, id string) error
	DiscardDeadLetter(ctx context.Context, source, id string) error
}

// Error codes of the push routes.
const (
	codeBatchTooLarge = "batch_too_large"
	codeNotOpen       = "not_open"
)

// maxAppliedPerPage bounds the applied list of one changes response; more
// follow on the next page (has_more).
const maxAppliedPerPage = 1000

type mutationsRequest struct {
	Mutations *[]push.Mutation `json:"mutations"`
}

// caller of the push stage: the authenticated device and its subscription.
func pushCaller(c *gin.Context, v view) push.Caller {
	who := callerOf(c)
	return push.Caller{Source: v.src.Name, UserID: who.user.ID, DeviceID: who.device.ID, Partitions: v.partitions, Identity: v.identity}
}

// requirePusher answers 503 when the hub runs no push stage.
func (s *Server) requirePusher(c *gin.Context) bool {
	if s.pusher == nil {
		abortError(c, http.StatusServiceUnavailable, codeUnavailable, "this hub does not push changes to back ends")
		return false
	}
	return true
}

// postMutations is POST /v1/sources/{source}/mutations.
func (s *Server) postMutations(c *gin.Context) {
	v, ok := s.sourceView(c)
	if !ok {
		return
	}
	var req mutationsRequest
	if !s.decodeJSON(c, &req, false) {
		return
	}
	if req.Mutations == nil {
		abortError(c, http.StatusBadRequest, codeInvalidBody, `"mutations" is required: {"mutations": [...]}`)
		return
	}
	if !s.requirePusher(c) {
		return
	}
	res, err := s.pusher.Accept(c.Request.Context(), push.AcceptRequest{Caller: pushCaller(c, v), Mutations: *req.Mutations})
	switch {
	case errors.Is(err, push.ErrBatchTooLarge):
		abortError(c, http.StatusRequestEntityTooLarge, codeBatchTooLarge, err.Error())
		return
	case errors.Is(err, push.ErrUnknownSource):
		abortError(c, http.StatusNotFound, codeNotFound, fmt.Sprintf("source %q not found", v.src.Name))
		return
	case err != nil:
		s.abortInternal(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

// appliedFor returns the device's applied mutations for a changes
// response that covers every seq up to through, and the applied-through
// seq its checkpoint records. A truncated list means more to come.
func (s *Server) appliedFor(ctx context.Context, source string, deviceID, after, through int64) ([]push.Applied, int64, bool, error) {
	if s.pusher == nil || through <= after {
		return []push.Applied{}, max(after, 0), false, nil
	}
	applied, reached, err := s.pusher.Applied(ctx, source, deviceID, after, through, maxAppliedPerPage)
	if err != nil {
		return nil, 0, false, err
	}
	if applied == nil {
		applied = []push.Applied{}
	}
	return applied, reached, reached < through, nil
}

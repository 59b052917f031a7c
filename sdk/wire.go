package sdk

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/tidwall/gjson"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/synchub/synchub/sdk/proto"
)

// Message limits of the plugin protocol. Both sides raise gRPC's receive
// limit to MaxMessageBytes; the SDK splits pages into chunks of about
// ChunkBytes so no message comes near it.
const (
	MaxMessageBytes = 64 << 20
	ChunkBytes      = 1 << 20
)

func timeToNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func nanoToTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func recordToPB(r *Record) (*pb.Record, error) {
	fields, err := r.FieldsJSON()
	if err != nil {
		return nil, err
	}
	return &pb.Record{Id: r.ID, Version: r.Version, ModifiedAtUnixNano: timeToNano(r.ModifiedAt), FieldsJson: fields}, nil
}

// recordFromPB converts a record off the wire; with raw set, Fields stays
// nil and the JSON is only checked to be an object.
func recordFromPB(p *pb.Record, raw bool) (Record, error) {
	r := Record{ID: p.Id, Version: p.Version, ModifiedAt: nanoToTime(p.ModifiedAtUnixNano), Raw: p.FieldsJson}
	if raw {
		if len(p.FieldsJson) == 0 {
			return r, nil
		}
		return r, checkRawFields(p.Id, p.FieldsJson)
	}
	if len(p.FieldsJson) > 0 {
		var err error
		if r.Fields, err = decodeFieldsJSON(p.FieldsJson); err != nil {
			return r, &Error{Code: CodeBadResponse, Summary: "record " + p.Id + " has malformed fields JSON", Detail: err.Error()}
		}
	}
	return r, nil
}

// checkRawFields checks that a record's fields JSON is an object. gjson's
// validator: the same grammar as json.Valid, in less than half the time,
// which counts on the pull path.
func checkRawFields(id string, raw []byte) error {
	if !isJSONObject(raw) {
		return &Error{Code: CodeBadResponse, Summary: "record " + id + " has malformed fields JSON", Detail: "not a JSON object"}
	}
	return nil
}

// isJSONObject reports whether raw is one JSON object, with nothing after
// it but white space.
func isJSONObject(raw []byte) bool {
	t := bytes.TrimLeft(raw, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && gjson.ValidBytes(t)
}

// checkRecordRaw checks a record a connector in the host's process wrote
// as JSON (Raw, no Fields) as the gRPC client checks what a plugin sends:
// the host stores the JSON as it is.
func checkRecordRaw(r *Record) error {
	if r.Fields != nil || len(r.Raw) == 0 {
		return nil
	}
	return checkRawFields(r.ID, r.Raw)
}

func fileToPB(f File) *pb.File {
	return &pb.File{Id: f.ID, Name: f.Name, Size: f.Size, MimeType: f.MimeType, ModifiedAtUnixNano: timeToNano(f.ModifiedAt),
		Hash: f.Hash, Version: f.Version, Path: f.Path, Record: &pb.RecordRef{Entity: f.Record.Entity, Id: f.Record.ID, Name: f.Record.Name}}
}

func fileFromPB(p *pb.File) File {
	if p == nil {
		return File{}
	}
	f := File{ID: p.Id, Name: p.Name, Size: p.Size, MimeType: p.MimeType, ModifiedAt: nanoToTime(p.ModifiedAtUnixNano),
		Hash: p.Hash, Version: p.Version, Path: p.Path}
	if p.Record != nil {
		f.Record = RecordRef{Entity: p.Record.Entity, ID: p.Record.Id, Name: p.Record.Name}
	}
	return f
}

func identityToPB(id Identity) *pb.Identity {
	return &pb.Identity{Id: id.ID, Name: id.Name, Attributes: id.Attributes}
}

func identityFromPB(p *pb.Identity) Identity {
	if p == nil {
		return Identity{}
	}
	return Identity{ID: p.Id, Name: p.Name, Attributes: p.Attributes}
}

// toStatus carries err across the boundary as a gRPC status with a Diagnostic.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return status.Error(codes.Canceled, err.Error())
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Code: CodeInternal, Summary: err.Error()}
	}
	detail := e.Detail
	if detail == "" && e.Err != nil {
		detail = e.Err.Error()
	}
	st := status.New(grpcCode(e.Code), e.Error())
	st2, derr := st.WithDetails(&pb.Diagnostic{Code: string(e.Code), Summary: e.Summary, Detail: detail,
		Entity: e.Entity, Field: e.Field, RetryAfterMs: e.RetryAfter.Milliseconds()})
	if derr != nil {
		return st.Err()
	}
	return st2.Err()
}

// fromStatus turns a gRPC error back into an *Error (or a context error).
func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	for _, d := range st.Details() {
		if diag, ok := d.(*pb.Diagnostic); ok {
			return &Error{Code: ErrorCode(diag.Code), Summary: diag.Summary, Detail: diag.Detail, Entity: diag.Entity,
				Field: diag.Field, RetryAfter: time.Duration(diag.RetryAfterMs) * time.Millisecond}
		}
	}
	switch st.Code() {
	case codes.Canceled:
		return context.Canceled
	case codes.DeadlineExceeded:
		return context.DeadlineExceeded
	case codes.Unavailable:
		return &Error{Code: CodeUnavailable, Summary: "plugin unavailable", Detail: st.Message()}
	case codes.ResourceExhausted:
		return &Error{Code: CodeBadResponse, Summary: "plugin message too large", Detail: st.Message()}
	case codes.Unimplemented:
		// A plugin built before the call existed.
		return &Error{Code: CodeUnsupported, Summary: "not supported by this plugin", Detail: st.Message()}
	}
	return &Error{Code: CodeInternal, Summary: "plugin call failed", Detail: st.Message()}
}

func grpcCode(c ErrorCode) codes.Code {
	switch c {
	case CodeInvalidConfig, CodeUnknownEntity, CodeUnknownField, CodeInvalidRequest:
		return codes.InvalidArgument
	case CodeAuth:
		return codes.Unauthenticated
	case CodeNotFound:
		return codes.NotFound
	case CodeCursorExpired:
		return codes.FailedPrecondition
	case CodeThrottled:
		return codes.ResourceExhausted
	case CodeUnavailable:
		return codes.Unavailable
	case CodeUnsupported:
		return codes.Unimplemented
	}
	return codes.Internal
}

package sdk

import "fmt"

// MaxRecordBytes is the largest record (fields as JSON) that may cross the
// plugin boundary.
const MaxRecordBytes = 16 << 20

// checkPage refuses a page a well-behaved connector never sends, naming what
// is wrong, so a bug shows up as a clear error instead of bad data.
func checkPage(req FetchRequest, pg Page) error {
	if req.PageSize > 0 && len(pg.Records) > req.PageSize {
		return &Error{Code: CodeBadResponse, Entity: req.Entity,
			Summary: fmt.Sprintf("connector sent a page of %d records, over the page size %d", len(pg.Records), req.PageSize)}
	}
	for i := range pg.Records {
		if pg.Records[i].ID == "" {
			return &Error{Code: CodeBadResponse, Entity: req.Entity,
				Summary: fmt.Sprintf("connector sent a record without an id (record %d of the page)", i)}
		}
	}
	return nil
}

// checkSchema refuses a schema that misses a requested entity or lacks a key.
func checkSchema(req SchemaRequest, s Schema) error {
	for _, name := range req.Entities {
		e, ok := s.Entity(name)
		if !ok {
			return &Error{Code: CodeUnknownEntity, Entity: name, Summary: "connector's schema has no such entity"}
		}
		if e.Key == "" {
			return &Error{Code: CodeBadResponse, Entity: name, Summary: "connector's schema gives the entity no key field"}
		}
	}
	return nil
}

// checkResults makes sure every op got exactly one known result.
func checkResults(req UploadRequest, r UploadResponse) error {
	want := make(map[string]bool, len(req.Ops))
	for _, op := range req.Ops {
		want[op.MutationID] = true
	}
	for _, res := range r.Results {
		if !want[res.MutationID] {
			return &Error{Code: CodeBadResponse, Summary: fmt.Sprintf("connector answered for mutation %q, which was not sent or was answered twice", res.MutationID)}
		}
		switch res.Status {
		case StatusApplied, StatusConflict, StatusNotFound, StatusRejected, StatusRetry:
		default:
			return &Error{Code: CodeBadResponse, Summary: fmt.Sprintf("connector answered mutation %q with unknown status %q", res.MutationID, res.Status)}
		}
		delete(want, res.MutationID)
	}
	for id := range want {
		return &Error{Code: CodeBadResponse, Summary: fmt.Sprintf("connector gave no result for mutation %q", id)}
	}
	return nil
}

// checkLogin refuses an empty login before a connector sees it: a back end
// might match it to a user without a sign-in name.
func checkLogin(req ResolveUserRequest) error {
	if req.Login == "" {
		return &Error{Code: CodeInvalidRequest, Summary: "ResolveUser needs a login"}
	}
	return nil
}

// checkIdentity refuses a resolved identity without an id: the hub would
// store a user who matches no owner partition as if resolved.
func checkIdentity(req ResolveUserRequest, id Identity) error {
	if id.ID == "" {
		return &Error{Code: CodeBadResponse, Summary: fmt.Sprintf("connector resolved login %q to a user without an id", req.Login)}
	}
	return nil
}

package client

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Status is the device's state at a glance.
type Status struct {
	// Account is nil when no credentials are saved.
	Account  *Account
	DeviceID string
	LastSync time.Time
	// Pending counts change-log entries not yet applied by the hub, by
	// state (pending, sending, sent, error).
	Pending        int
	PendingByState map[string]int
	Errors         int
	Sources        []SourceStatus
	Files          FileStatus
	// Uploads counts files waiting to be uploaded.
	Uploads int
}

// SourceStatus is one source's state.
type SourceStatus struct {
	Name     string
	LastSync *time.Time
	// Synced is false until a first download finished a page.
	Synced   bool
	Entities []EntityStatus
}

// EntityStatus counts an entity's local records and pending changes.
type EntityStatus struct {
	Name    string
	Records int
	Pending int
}

// FileStatus counts files by download state.
type FileStatus struct {
	Total, Done, Queued, Partial, Failed int
}

// Status reports pending changes, the last sync and per-entity counts.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	var err error
	if st.DeviceID, err = c.DeviceID(ctx); err != nil {
		return st, err
	}
	if a, err := c.Account(ctx); err == nil {
		st.Account = &a
	} else if !errors.Is(err, ErrNotLoggedIn) {
		return st, err
	}
	if st.LastSync, err = c.LastSync(ctx); err != nil {
		return st, err
	}
	type cnt struct {
		Key string
		N   int
	}
	var byState []cnt
	if err := c.db.WithContext(ctx).Raw(`SELECT state AS key, count(*) AS n FROM change_log GROUP BY state`).Scan(&byState).Error; err != nil {
		return st, fmt.Errorf("status: %w", err)
	}
	st.PendingByState = map[string]int{}
	for _, b := range byState {
		st.PendingByState[b.Key] = b.N
		st.Pending += b.N
	}
	errs, err := c.Errors(ctx, "")
	if err != nil {
		return st, err
	}
	st.Errors = len(errs)
	var srcs []sourceRow
	if err := c.db.WithContext(ctx).Order("position, name").Find(&srcs).Error; err != nil {
		return st, fmt.Errorf("status: %w", err)
	}
	for _, s := range srcs {
		ss := SourceStatus{Name: s.Name, LastSync: s.LastSyncAt, Synced: s.Checkpoint != ""}
		schema, err := c.loadSchema(ctx, c.db.WithContext(ctx), s.Name)
		if err != nil {
			return st, err
		}
		var recs, pend []cnt
		if err := c.db.WithContext(ctx).Raw(`SELECT entity AS key, count(*) AS n FROM records WHERE source = ? GROUP BY entity`, s.Name).Scan(&recs).Error; err != nil {
			return st, fmt.Errorf("status: %w", err)
		}
		if err := c.db.WithContext(ctx).Raw(`SELECT entity AS key, count(*) AS n FROM change_log WHERE source = ? GROUP BY entity`, s.Name).Scan(&pend).Error; err != nil {
			return st, fmt.Errorf("status: %w", err)
		}
		rm, pm := map[string]int{}, map[string]int{}
		for _, r := range recs {
			rm[r.Key] = r.N
		}
		for _, p := range pend {
			pm[p.Key] = p.N
		}
		for _, e := range schema {
			ss.Entities = append(ss.Entities, EntityStatus{Name: e.Name, Records: rm[e.Name], Pending: pm[e.Name]})
		}
		st.Sources = append(st.Sources, ss)
	}
	var files []cnt
	if err := c.db.WithContext(ctx).Raw(`SELECT state AS key, count(*) AS n FROM files GROUP BY state`).Scan(&files).Error; err != nil {
		return st, fmt.Errorf("status: %w", err)
	}
	for _, f := range files {
		st.Files.Total += f.N
		switch f.Key {
		case fileDone:
			st.Files.Done = f.N
		case fileQueued:
			st.Files.Queued = f.N
		case filePartial:
			st.Files.Partial = f.N
		case fileFailed:
			st.Files.Failed = f.N
		}
	}
	var ups int64
	if err := c.db.WithContext(ctx).Model(&uploadRow{}).Count(&ups).Error; err != nil {
		return st, fmt.Errorf("status: %w", err)
	}
	st.Uploads = int(ups)
	return st, nil
}

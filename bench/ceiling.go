package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3" // database/sql driver "sqlite3", the one the store uses
)

// sampleRow is one record as the insert ceiling writes it.
type sampleRow struct {
	version string
	fields  []byte
	hash    string
}

// fetchCeiling is ceiling (a): the emulator pages of a full pull, asked
// for exactly as the connector asks (the recorded first request, then the
// next links, with the same headers) and JSON-decoded by a plain loop in
// this process. No hub, no plugin. It returns the rows read and the
// first page's rows as samples for the insert ceiling.
func fetchCeiling(ctx context.Context, c *crm) (int, time.Duration, []sampleRow, error) {
	uri, hdr, ok := c.firstPage()
	if !ok {
		return 0, 0, nil, fmt.Errorf("no full-pull request recorded yet")
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer hc.CloseIdleConnections()
	start := time.Now()
	tok, err := c.token(ctx, hc)
	if err != nil {
		return 0, 0, nil, err
	}
	next := c.base + uri
	rows := 0
	var samples []sampleRow
	for next != "" {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		if err != nil {
			return rows, 0, nil, err
		}
		req.Header = hdr.Clone()
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := hc.Do(req)
		if err != nil {
			return rows, 0, nil, err
		}
		var page struct {
			Value    []map[string]any `json:"value"`
			NextLink string           `json:"@odata.nextLink"`
		}
		err = decodeJSON(resp, &page)
		resp.Body.Close()
		if err != nil {
			return rows, 0, nil, fmt.Errorf("page after %d rows: %w", rows, err)
		}
		if samples == nil {
			samples = samplesOf(page.Value)
		}
		rows += len(page.Value)
		next = page.NextLink
	}
	return rows, time.Since(start), samples, nil
}

// samplesOf turns Web API rows into mirror-like rows: the fields without
// the key and OData annotations, the ETag as version.
func samplesOf(rows []map[string]any) []sampleRow {
	out := make([]sampleRow, 0, len(rows))
	for _, r := range rows {
		f := map[string]any{}
		for k, v := range r {
			if strings.HasPrefix(k, "@") || strings.Contains(k, "@") || k == "accountid" {
				continue
			}
			f[k] = v
		}
		b, _ := json.Marshal(f)
		h := sha256.Sum256(b)
		v, _ := r["@odata.etag"].(string)
		out = append(out, sampleRow{version: v, fields: b, hash: hex.EncodeToString(h[:])})
	}
	return out
}

// ceilingRowsPerStmt is the rows of one INSERT of the insert ceiling
// (10 columns: 1,000 bind parameters).
const ceilingRowsPerStmt = 100

// values returns a VALUES list of rows rows of cols placeholders each:
// PostgreSQL's ($1, $2, …) with dollar, else SQLite's (?, ?, …).
func values(rows, cols int, dollar bool) string {
	var b strings.Builder
	p := 1
	for r := range rows {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c := range cols {
			if c > 0 {
				b.WriteByte(',')
			}
			if dollar {
				fmt.Fprintf(&b, "$%d", p)
			} else {
				b.WriteByte('?')
			}
			p++
		}
		b.WriteByte(')')
	}
	return b.String()
}

// insertCeiling is ceiling (b): n rows shaped like the hub's records
// (same columns, same primary key, the sample rows' fields) written into
// a fresh table of the same database by a plain loop: one transaction per
// page of pageSize rows, multi-row INSERTs through one prepared statement.
// The SQLite connection has the store's settings (WAL, synchronous=NORMAL,
// one writer).
func insertCeiling(ctx context.Context, f freshDB, samples []sampleRow, n, pageSize int) (time.Duration, error) {
	if len(samples) == 0 {
		return 0, fmt.Errorf("no sample rows")
	}
	var (
		db  *sql.DB
		err error
	)
	blob, ts, bigint := "BLOB", "TIMESTAMP", "INTEGER"
	switch f.Kind {
	case dbSQLite:
		db, err = sql.Open("sqlite3", f.Path+"?_busy_timeout=10000&_foreign_keys=on&_synchronous=NORMAL&_journal_mode=WAL&_txlock=immediate")
		if err == nil {
			db.SetMaxOpenConns(1)
		}
	case dbPostgres:
		db, err = sql.Open("pgx", f.DSN)
		blob, ts, bigint = "BYTEA", "TIMESTAMPTZ", "BIGINT"
	}
	if err != nil {
		return 0, err
	}
	defer db.Close()
	ddl := fmt.Sprintf(`CREATE TABLE ceiling_records (
  source TEXT NOT NULL, entity TEXT NOT NULL, id TEXT NOT NULL, version TEXT NOT NULL,
  modified_at %s, fields %s NOT NULL, hash TEXT NOT NULL, partition TEXT NOT NULL,
  seq %s NOT NULL, pass %s NOT NULL, PRIMARY KEY (source, entity, id))`, ts, blob, bigint, bigint)
	if _, err := db.ExecContext(ctx, ddl); err != nil {
		return 0, fmt.Errorf("create ceiling table: %w", err)
	}
	stmtFor := func(rows int) string {
		return "INSERT INTO ceiling_records (source, entity, id, version, modified_at, fields, hash, partition, seq, pass) VALUES " +
			values(rows, 10, f.Kind == dbPostgres)
	}
	full, err := db.PrepareContext(ctx, stmtFor(ceilingRowsPerStmt))
	if err != nil {
		return 0, err
	}
	defer full.Close()
	now := time.Now().UTC()
	args := make([]any, 0, 10*ceilingRowsPerStmt)
	start := time.Now()
	for done := 0; done < n; {
		page := min(pageSize, n-done)
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, err
		}
		for off := 0; off < page; off += ceilingRowsPerStmt {
			rows := min(ceilingRowsPerStmt, page-off)
			args = args[:0]
			for r := range rows {
				i := done + off + r
				s := samples[i%len(samples)]
				args = append(args, "crm", "account", fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i), s.version, now,
					s.fields, s.hash, "account/*", int64(i+1), int64(1))
			}
			st := tx.StmtContext(ctx, full)
			if rows != ceilingRowsPerStmt {
				st, err = tx.PrepareContext(ctx, stmtFor(rows))
				if err != nil {
					tx.Rollback()
					return 0, err
				}
			}
			_, err := st.ExecContext(ctx, args...)
			if err != nil {
				tx.Rollback()
				return 0, fmt.Errorf("insert: %w", err)
			}
		}
		if err := tx.Commit(); err != nil {
			return 0, err
		}
		done += page
	}
	return time.Since(start), nil
}

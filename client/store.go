package client

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// openStore opens the SQLite file at path (creating it and its directory),
// checks an existing file's integrity and schema version, and migrates it.
// A damaged or foreign file gives a *CorruptError.
func openStore(ctx context.Context, path string, log hclog.Logger) (*gorm.DB, error) {
	if path == "" {
		return nil, errors.New("open local store: no path")
	}
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("open local store: path %q must not contain '?'", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open local store: create directory: %w", err)
	}
	existed := false
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		existed = true
	}
	db, err := rawOpen(path, log)
	if err != nil {
		if existed && isCorruptErr(err) {
			return nil, &CorruptError{Path: path, Detail: rootCause(err).Error()}
		}
		return nil, err
	}
	if existed {
		if err := checkStore(ctx, db, path); err != nil {
			closeDB(db)
			return nil, err
		}
	}
	if err := migrate(ctx, db); err != nil {
		closeDB(db)
		if isCorruptErr(err) {
			return nil, &CorruptError{Path: path, Detail: rootCause(err).Error()}
		}
		return nil, fmt.Errorf("open local store %s: %w", path, err)
	}
	return db, nil
}

// rawOpen opens the file with the store's settings and no checks: WAL,
// synchronous NORMAL (durable across an app crash; a power cut may lose the
// last transactions, never corrupt), immediate write transactions and one
// connection, so writers queue instead of failing busy.
func rawOpen(path string, log hclog.Logger) (*gorm.DB, error) {
	dsn := path + "?_busy_timeout=10000&_foreign_keys=on&_synchronous=NORMAL&_journal_mode=WAL&_txlock=immediate"
	db, err := gorm.Open(sqliteDialector(dsn), &gorm.Config{
		SkipDefaultTransaction: true,
		Logger:                 gormLog{log: log.Named("sql")},
		NowFunc:                func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		return nil, fmt.Errorf("open local store %s: %w", path, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open local store %s: %w", path, err)
	}
	sqlDB.SetMaxOpenConns(1)
	sqlDB.SetMaxIdleConns(1)
	sqlDB.SetConnMaxLifetime(0)
	sqlDB.SetConnMaxIdleTime(0)
	if err := sqlDB.Ping(); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("open local store %s: %w", path, err)
	}
	return db, nil
}

func closeDB(db *gorm.DB) {
	if sqlDB, err := db.DB(); err == nil {
		_ = sqlDB.Close()
	}
}

// checkStore runs SQLite's quick_check and the schema version check on an
// existing file.
func checkStore(ctx context.Context, db *gorm.DB, path string) error {
	rows, err := db.WithContext(ctx).Raw("PRAGMA quick_check").Rows()
	if err != nil {
		return &CorruptError{Path: path, Detail: err.Error()}
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			_ = rows.Close()
			return &CorruptError{Path: path, Detail: err.Error()}
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		_ = rows.Close()
		return &CorruptError{Path: path, Detail: err.Error()}
	}
	_ = rows.Close()
	if len(problems) > 0 {
		detail := problems[0]
		if len(problems) > 1 {
			detail += fmt.Sprintf(" (and %d more problems)", len(problems)-1)
		}
		return &CorruptError{Path: path, Detail: "integrity check failed: " + detail}
	}
	var tables []string
	if err := db.WithContext(ctx).Raw(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).
		Scan(&tables).Error; err != nil {
		return &CorruptError{Path: path, Detail: err.Error()}
	}
	if len(tables) == 0 {
		return nil // an empty database: a fresh store
	}
	hasMeta := false
	for _, t := range tables {
		if t == "meta" {
			hasMeta = true
		}
	}
	if !hasMeta {
		return &CorruptError{Path: path, Detail: "not a synchub-device store (no meta table)"}
	}
	var v string
	err = db.WithContext(ctx).Raw(`SELECT value FROM meta WHERE key = 'schema_version'`).Row().Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return &CorruptError{Path: path, Detail: "no schema version"}
	}
	if err != nil {
		return &CorruptError{Path: path, Detail: err.Error()}
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return &CorruptError{Path: path, Detail: fmt.Sprintf("bad schema version %q", v)}
	}
	if n > schemaVersion {
		return &CorruptError{Path: path, Detail: fmt.Sprintf("written by a newer synchub-device (store version %d, this one knows up to %d)", n, schemaVersion)}
	}
	return nil
}

func migrate(ctx context.Context, db *gorm.DB) error {
	if err := db.WithContext(ctx).AutoMigrate(allModels...); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return db.WithContext(ctx).Exec(`INSERT INTO meta (key, value) VALUES ('schema_version', ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, strconv.Itoa(schemaVersion)).Error
}

// isCorruptErr reports SQLite's "this is not a usable database" errors.
func isCorruptErr(err error) bool {
	s := err.Error()
	return strings.Contains(s, "file is not a database") ||
		strings.Contains(s, "database disk image is malformed") ||
		strings.Contains(s, "file is encrypted")
}

// gormLog routes gorm's own logs to hclog: failed queries at debug (the
// caller wraps and returns the error), SQL at trace.
type gormLog struct{ log hclog.Logger }

func (g gormLog) LogMode(logger.LogLevel) logger.Interface { return g }
func (g gormLog) Info(_ context.Context, msg string, args ...any) {
	g.log.Info(fmt.Sprintf(msg, args...))
}
func (g gormLog) Warn(_ context.Context, msg string, args ...any) {
	g.log.Warn(fmt.Sprintf(msg, args...))
}
func (g gormLog) Error(_ context.Context, msg string, args ...any) {
	g.log.Debug(fmt.Sprintf(msg, args...))
}
func (g gormLog) Trace(_ context.Context, begin time.Time, fc func() (string, int64), err error) {
	switch {
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound) && g.log.IsDebug():
		q, _ := fc()
		g.log.Debug("query failed", "error", err, "sql", clipText(q, 300))
	case g.log.IsTrace():
		q, rows := fc()
		g.log.Trace("query", "elapsed", time.Since(begin), "rows", rows, "sql", clipText(q, 300))
	}
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// meta reads a meta value ("" when absent).
func (c *Client) meta(ctx context.Context, key string) (string, error) {
	var rows []metaRow
	if err := c.db.WithContext(ctx).Where("key = ?", key).Limit(1).Find(&rows).Error; err != nil {
		return "", fmt.Errorf("read %s: %w", key, err)
	}
	if len(rows) == 0 {
		return "", nil
	}
	return rows[0].Value, nil
}

func setMeta(tx *gorm.DB, key, value string) error {
	return tx.Exec(`INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value).Error
}

func sqliteDialector(dsn string) gorm.Dialector { return sqlite.Open(dsn) }

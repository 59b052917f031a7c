package store

import (
	"database/sql"
	"time"
)

// checkpointEvery is how often the checkpointer copies the WAL back into
// the database file.
const checkpointEvery = 250 * time.Millisecond

// startCheckpointer copies SQLite's write-ahead log back into the database
// on its own connection, so that the writer's commits never do it (the
// writer's automatic checkpoint is off). PASSIVE checkpoints do not wait
// for the writer or the readers.
func (s *Store) startCheckpointer(dsn string) error {
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(1)
	if err := db.Ping(); err != nil {
		db.Close()
		return err
	}
	s.ckDB, s.ckStop, s.ckDone = db, make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.ckDone)
		t := time.NewTicker(checkpointEvery)
		defer t.Stop()
		failing := "" // the last failure, logged once until it changes
		for {
			select {
			case <-s.ckStop:
				return
			case <-t.C:
				_, err := db.Exec("PRAGMA wal_checkpoint(PASSIVE)")
				switch {
				case err != nil && err.Error() != failing:
					failing = err.Error()
					s.log.Warn("sqlite checkpoint failed; the write-ahead log grows until it works again", "error", err)
				case err == nil && failing != "":
					failing = ""
					s.log.Info("sqlite checkpoints work again")
				}
			}
		}
	}()
	return nil
}

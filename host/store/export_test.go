package store

// Test hooks into the store's internals.

// MutationColumns is the column list the push stage's plain reads use.
var MutationColumns = mutationColumns

// ScanAllMutations reads source's mutations, every column, through the
// push stage's plain reader.
func (t *PushTx) ScanAllMutations(source string) ([]PushMutation, error) {
	q := newMutationQuery(nil)
	return q.find(t.tx, q.start(t.tx).sql("source = ").arg(source).sql(" ORDER BY id"), nil)
}

// WriterCacheKiB is the SQLite writer's page cache size.
const WriterCacheKiB = writerCacheKiB

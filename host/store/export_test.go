package store

// Test hooks into the store's internals.

// MutationColumns is the column list the push stage's plain reads use.
var MutationColumns = mutationColumns

// ScanAllMutations reads source's mutations, every column, through the
// push stage's plain reader.
func (t *PushTx) ScanAllMutations(source string) ([]PushMutation, error) {
	return newMutationQuery(nil).find(t.tx, nil, "source = ? ORDER BY id", source)
}

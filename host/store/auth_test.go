package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
)

func authCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// login stores a token pair the way the API's login does.
func login(t *testing.T, s *store.Store, user, device int64, family string, now time.Time) (access, refresh store.Token) {
	t.Helper()
	access = store.Token{Hash: family + "-a0", Kind: store.TokenAccess, UserID: user, DeviceID: device, Family: family, ExpiresAt: now.Add(time.Hour)}
	refresh = store.Token{Hash: family + "-r0", Kind: store.TokenRefresh, UserID: user, DeviceID: device, Family: family, ExpiresAt: now.Add(24 * time.Hour)}
	require.NoError(t, s.CreateTokens(authCtx(t), access, refresh))
	return access, refresh
}

func TestUsers(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := authCtx(t)
		t.Run("upsert_creates_then_updates_by_name", func(t *testing.T) {
			u, err := s.UpsertUser(ctx, "alice", "h1", "user")
			require.NoError(t, err)
			u2, err := s.UpsertUser(ctx, "alice", "h2", "admin")
			require.NoError(t, err)
			assert.Equal(t, u.ID, u2.ID)
			assert.Equal(t, "h2", u2.PasswordHash)
			assert.Equal(t, "admin", u2.Role)
			byID, err := s.UserByID(ctx, u.ID)
			require.NoError(t, err)
			assert.Equal(t, "alice", byID.Name)
		})
		t.Run("unknown_users_are_not_found", func(t *testing.T) {
			_, err := s.UserByName(ctx, "nobody")
			assert.ErrorIs(t, err, store.ErrNotFound)
			_, err = s.UserByID(ctx, 9999)
			assert.ErrorIs(t, err, store.ErrNotFound)
		})
		t.Run("identities_are_replaced_as_a_whole", func(t *testing.T) {
			u, err := s.UpsertUser(ctx, "bob", "h", "user")
			require.NoError(t, err)
			require.NoError(t, s.SetIdentities(ctx, u.ID, []store.UserIdentity{
				{Source: "crm", BackendID: "B1", Attributes: []byte(`{"team":"t1"}`)},
				{Source: "erp", BackendID: "E1"},
			}))
			require.NoError(t, s.SetIdentities(ctx, u.ID, []store.UserIdentity{{Source: "crm", BackendID: "B2"}}))
			ids, err := s.Identities(ctx, u.ID)
			require.NoError(t, err)
			require.Len(t, ids, 1)
			assert.Equal(t, "B2", ids[0].BackendID)
			_, ok, err := s.Identity(ctx, u.ID, "erp")
			require.NoError(t, err)
			assert.False(t, ok)
		})
		t.Run("users_missing_from_the_list_are_disabled_and_lose_their_tokens", func(t *testing.T) {
			u, err := s.UpsertUser(ctx, "carol", "h", "user")
			require.NoError(t, err)
			now := time.Now()
			d, err := s.EnsureDevice(ctx, u.ID, "phone", now)
			require.NoError(t, err)
			access, _ := login(t, s, u.ID, d.ID, "carolfam", now)
			disabled, err := s.DisableUsersExcept(ctx, []string{"alice", "bob"}, now)
			require.NoError(t, err)
			assert.Equal(t, []string{"carol"}, disabled)
			got, err := s.UserByName(ctx, "carol")
			require.NoError(t, err)
			assert.Empty(t, got.PasswordHash)
			tok, err := s.TokenByHash(ctx, access.Hash)
			require.NoError(t, err)
			assert.NotNil(t, tok.RevokedAt)
		})
	})
}

func TestDevices(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := authCtx(t)
		u, err := s.UpsertUser(ctx, "alice", "h", "user")
		require.NoError(t, err)
		t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		d1, err := s.EnsureDevice(ctx, u.ID, "phone", t0)
		require.NoError(t, err)
		d2, err := s.EnsureDevice(ctx, u.ID, "phone", t0.Add(time.Hour))
		require.NoError(t, err)
		assert.Equal(t, d1.ID, d2.ID, "the same device id of the same user is one device")
		assert.True(t, d2.LastSeenAt.Equal(t0.Add(time.Hour)))
		assert.True(t, d2.CreatedAt.Equal(t0))
		require.NoError(t, s.TouchDevice(ctx, d1.ID, t0.Add(2*time.Hour)))
		d3, err := s.DeviceByID(ctx, d1.ID)
		require.NoError(t, err)
		assert.True(t, d3.LastSeenAt.Equal(t0.Add(2*time.Hour)))
	})
}

func TestRotateRefresh(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := authCtx(t)
		u, err := s.UpsertUser(ctx, "alice", "h", "user")
		require.NoError(t, err)
		now := time.Now().UTC().Truncate(time.Millisecond)
		d, err := s.EnsureDevice(ctx, u.ID, "phone", now)
		require.NoError(t, err)
		pair := func(n string) (store.Token, store.Token) {
			return store.Token{Hash: n + "-a", Kind: store.TokenAccess, ExpiresAt: now.Add(time.Hour)},
				store.Token{Hash: n + "-r", Kind: store.TokenRefresh, ExpiresAt: now.Add(24 * time.Hour)}
		}

		t.Run("a_fresh_refresh_token_rotates_into_a_new_pair_of_the_same_family", func(t *testing.T) {
			a0, r0 := login(t, s, u.ID, d.ID, "fam1", now)
			a1, r1 := pair("fam1-1")
			old, err := s.RotateRefresh(ctx, r0.Hash, now, a1, r1)
			require.NoError(t, err)
			assert.Equal(t, d.ID, old.DeviceID)
			got, err := s.TokenByHash(ctx, r1.Hash)
			require.NoError(t, err)
			assert.Equal(t, "fam1", got.Family)
			assert.Equal(t, u.ID, got.UserID)
			prev, err := s.TokenByHash(ctx, a0.Hash)
			require.NoError(t, err)
			assert.NotNil(t, prev.RevokedAt, "the family's earlier access token is revoked")
		})
		t.Run("reusing_a_spent_refresh_token_revokes_the_whole_family", func(t *testing.T) {
			_, r0 := login(t, s, u.ID, d.ID, "fam2", now)
			a1, r1 := pair("fam2-1")
			_, err := s.RotateRefresh(ctx, r0.Hash, now, a1, r1)
			require.NoError(t, err)
			a2, r2 := pair("fam2-2")
			_, err = s.RotateRefresh(ctx, r0.Hash, now, a2, r2)
			require.ErrorIs(t, err, store.ErrTokenReused)
			for _, h := range []string{a1.Hash, r1.Hash} {
				tok, err := s.TokenByHash(ctx, h)
				require.NoError(t, err)
				assert.NotNil(t, tok.RevokedAt, h)
			}
			_, err = s.TokenByHash(ctx, r2.Hash)
			assert.ErrorIs(t, err, store.ErrNotFound, "no pair is issued on reuse")
			_, err = s.RotateRefresh(ctx, r1.Hash, now, a2, r2)
			assert.ErrorIs(t, err, store.ErrTokenInvalid, "the revoked successor no longer rotates")
		})
		t.Run("expired_unknown_and_access_tokens_are_invalid", func(t *testing.T) {
			a0, r0 := login(t, s, u.ID, d.ID, "fam3", now)
			a1, r1 := pair("fam3-1")
			_, err := s.RotateRefresh(ctx, r0.Hash, now.Add(25*time.Hour), a1, r1)
			assert.ErrorIs(t, err, store.ErrTokenInvalid)
			_, err = s.RotateRefresh(ctx, "nope", now, a1, r1)
			assert.ErrorIs(t, err, store.ErrTokenInvalid)
			_, err = s.RotateRefresh(ctx, a0.Hash, now, a1, r1)
			assert.ErrorIs(t, err, store.ErrTokenInvalid)
		})
		t.Run("concurrent_rotations_of_one_token_let_at_most_one_win", func(t *testing.T) {
			_, r0 := login(t, s, u.ID, d.ID, "fam4", now)
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					a, r := pair("fam4-" + string(rune('a'+i)))
					_, errs[i] = s.RotateRefresh(ctx, r0.Hash, now, a, r)
				}()
			}
			wg.Wait()
			wins := 0
			for _, err := range errs {
				switch {
				case err == nil:
					wins++
				case errors.Is(err, store.ErrTokenReused):
				default:
					t.Fatalf("unexpected error: %v", err)
				}
			}
			assert.LessOrEqual(t, wins, 1)
		})
		t.Run("logout_revokes_every_token_of_the_device_only", func(t *testing.T) {
			other, err := s.EnsureDevice(ctx, u.ID, "tablet", now)
			require.NoError(t, err)
			a0, r0 := login(t, s, u.ID, d.ID, "fam5", now)
			oa, _ := login(t, s, u.ID, other.ID, "fam6", now)
			n, err := s.RevokeDeviceTokens(ctx, d.ID, now)
			require.NoError(t, err)
			assert.Positive(t, n)
			for _, h := range []string{a0.Hash, r0.Hash} {
				tok, err := s.TokenByHash(ctx, h)
				require.NoError(t, err)
				assert.NotNil(t, tok.RevokedAt)
			}
			tok, err := s.TokenByHash(ctx, oa.Hash)
			require.NoError(t, err)
			assert.Nil(t, tok.RevokedAt)
		})
		t.Run("expired_tokens_are_deleted", func(t *testing.T) {
			a0, _ := login(t, s, u.ID, d.ID, "fam7", now.Add(-48*time.Hour))
			n, err := s.DeleteExpiredTokens(ctx, now)
			require.NoError(t, err)
			assert.Positive(t, n)
			_, err = s.TokenByHash(ctx, a0.Hash)
			assert.ErrorIs(t, err, store.ErrNotFound)
		})
	})
}

// TestBearerIsTheThreeRows: BearerByHash's one statement reads the token,
// its user and its device as TokenByHash, UserByID and DeviceByID read
// them, every column (the test sets each to a value other than its zero,
// so a column the join forgot shows), and finds nothing when any of the
// three is missing.
func TestBearerIsTheThreeRows(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		ctx := authCtx(t)
		now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
		u, err := s.UpsertUser(ctx, "carol", "hash", "admin")
		require.NoError(t, err)
		d, err := s.EnsureDevice(ctx, u.ID, "tablet-1", now)
		require.NoError(t, err)
		require.NoError(t, s.DB().Model(&store.Device{}).Where("id = ?", d.ID).Update("revoked_at", now.Add(time.Minute)).Error)
		used, revoked := now.Add(2*time.Minute), now.Add(3*time.Minute)
		tok := store.Token{Hash: "h-bearer", Kind: store.TokenAccess, UserID: u.ID, DeviceID: d.ID, Family: "f1",
			ExpiresAt: now.Add(time.Hour), UsedAt: &used, RevokedAt: &revoked, CreatedAt: now}
		require.NoError(t, s.CreateTokens(ctx, tok))

		b, err := s.BearerByHash(ctx, "h-bearer")
		require.NoError(t, err)
		wantTok, err := s.TokenByHash(ctx, "h-bearer")
		require.NoError(t, err)
		wantUser, err := s.UserByID(ctx, u.ID)
		require.NoError(t, err)
		wantDev, err := s.DeviceByID(ctx, d.ID)
		require.NoError(t, err)
		for _, pair := range []struct{ got, want any }{{b.Token, wantTok}, {b.User, wantUser}, {b.Device, wantDev}} {
			g, w := reflect.ValueOf(pair.got), reflect.ValueOf(pair.want)
			for i := range w.NumField() {
				name := w.Type().Field(i).Name
				assert.False(t, w.Field(i).IsZero(), "%T.%s is not set by the test", pair.want, name)
				assert.Equal(t, fmt.Sprint(w.Field(i).Interface()), fmt.Sprint(g.Field(i).Interface()), "%T.%s", pair.want, name)
			}
		}

		_, err = s.BearerByHash(ctx, "no-such-token")
		assert.ErrorIs(t, err, store.ErrNotFound)
		orphan := store.Token{Hash: "h-orphan", Kind: store.TokenAccess, UserID: u.ID, DeviceID: d.ID + 1000, Family: "f2",
			ExpiresAt: now.Add(time.Hour)}
		require.NoError(t, s.CreateTokens(ctx, orphan))
		_, err = s.BearerByHash(ctx, "h-orphan")
		assert.ErrorIs(t, err, store.ErrNotFound, "a token whose device is gone")
	})
}

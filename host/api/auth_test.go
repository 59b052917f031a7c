package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/store"
)

func TestLogin(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		t.Run("valid_credentials_give_an_opaque_token_pair", func(t *testing.T) {
			tok := e.login("alice", "phone-1")
			assert.Equal(t, "Bearer", tok.TokenType)
			assert.Equal(t, int64(3600), tok.ExpiresIn)
			assert.Len(t, tok.AccessToken, 43, "32 bytes, base64url without padding")
			assert.NotEqual(t, tok.AccessToken, tok.RefreshToken)
			// Stored only as a hash.
			_, err := e.st.TokenByHash(context.Background(), tok.AccessToken)
			assert.ErrorIs(t, err, store.ErrNotFound)
			row, err := e.st.TokenByHash(context.Background(), hashToken(tok.AccessToken))
			require.NoError(t, err)
			assert.Equal(t, store.TokenAccess, row.Kind)
			r := e.do("GET", "/v1/me", tok.AccessToken, nil)
			assert.Equal(t, http.StatusOK, r.Code)
		})
		for _, tc := range []struct {
			name, user, password string
		}{
			{"a_wrong_password_is_refused_without_saying_which_part_was_wrong", "alice", "nope"},
			{"an_unknown_user_is_refused_the_same_way", "mallory", testPassword},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.do("POST", "/v1/auth/token", "", map[string]string{"username": tc.user, "password": tc.password, "device_id": "d"})
				assert.Equal(t, http.StatusUnauthorized, r.Code)
				assert.Equal(t, errorDetail{Code: codeInvalidCredentials, Message: "invalid username or password"}, r.errorBody(t))
				assert.Contains(t, r.Header().Get("WWW-Authenticate"), "Bearer")
			})
		}
		for _, tc := range []struct {
			name string
			body any
			want string
		}{
			{"a_missing_device_id_is_a_bad_request", map[string]string{"username": "alice", "password": testPassword}, "device_id"},
			{"an_empty_password_is_a_bad_request", map[string]string{"username": "alice", "device_id": "d"}, "password"},
			{"a_control_character_in_the_device_id_is_a_bad_request", map[string]string{"username": "alice", "password": testPassword, "device_id": "a\nb"}, "device_id"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.do("POST", "/v1/auth/token", "", tc.body)
				assert.Equal(t, http.StatusBadRequest, r.Code)
				assert.Contains(t, r.errorBody(t).Message, tc.want)
			})
		}
		t.Run("repeated_attempts_for_one_user_and_address_are_rate_limited", func(t *testing.T) {
			body := map[string]string{"username": "bob", "password": "wrong", "device_id": "d"}
			for range loginBurst {
				assert.Equal(t, http.StatusUnauthorized, e.do("POST", "/v1/auth/token", "", body).Code)
			}
			r := e.do("POST", "/v1/auth/token", "", body)
			assert.Equal(t, http.StatusTooManyRequests, r.Code)
			assert.Equal(t, codeRateLimited, r.errorBody(t).Code)
			assert.Equal(t, "6", r.Header().Get("Retry-After"))
			// Another user from the same address is not affected.
			e.login("alice", "phone-rl")
			e.clock.Advance(loginEvery)
			body["password"] = testPassword
			assert.Equal(t, http.StatusOK, e.do("POST", "/v1/auth/token", "", body).Code)
		})
		t.Run("a_user_removed_from_the_config_can_no_longer_log_in_or_use_its_tokens", func(t *testing.T) {
			tok := e.login("carol", "carol-phone")
			e.cfg.Users = e.cfg.Users[:2] // alice and bob stay
			t.Cleanup(func() { e.cfg.Users = testConfig(t).Users; require.NoError(t, e.srv.SyncUsers(context.Background())) })
			require.NoError(t, e.srv.SyncUsers(context.Background()))
			r := e.do("POST", "/v1/auth/token", "", map[string]string{"username": "carol", "password": testPassword, "device_id": "d"})
			assert.Equal(t, http.StatusUnauthorized, r.Code)
			assert.Equal(t, http.StatusUnauthorized, e.do("GET", "/v1/me", tok.AccessToken, nil).Code)
			assert.Equal(t, http.StatusUnauthorized, e.do("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": tok.RefreshToken}).Code)
		})
	})
}

func TestRefreshAndLogout(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		refresh := func(tok string) response {
			return e.do("POST", "/v1/auth/refresh", "", map[string]string{"refresh_token": tok})
		}
		t.Run("a_refresh_token_rotates_on_every_use", func(t *testing.T) {
			first := e.login("alice", "phone")
			r := refresh(first.RefreshToken)
			require.Equal(t, http.StatusOK, r.Code, r.Body.String())
			var second tokenResponse
			r.json(t, &second)
			assert.NotEqual(t, first.RefreshToken, second.RefreshToken)
			assert.Equal(t, http.StatusOK, e.do("GET", "/v1/me", second.AccessToken, nil).Code)
			r = refresh(second.RefreshToken)
			assert.Equal(t, http.StatusOK, r.Code)
		})
		t.Run("reusing_a_spent_refresh_token_revokes_the_whole_login", func(t *testing.T) {
			first := e.login("alice", "phone-reuse")
			r := refresh(first.RefreshToken)
			require.Equal(t, http.StatusOK, r.Code)
			var second tokenResponse
			r.json(t, &second)

			r = refresh(first.RefreshToken) // a thief replays the spent token
			assert.Equal(t, http.StatusUnauthorized, r.Code)
			assert.Contains(t, r.Header().Get("WWW-Authenticate"), `error="invalid_token"`)
			assert.Contains(t, r.errorBody(t).Message, "already used")
			assert.Equal(t, http.StatusUnauthorized, e.do("GET", "/v1/me", second.AccessToken, nil).Code, "the successor's access token is revoked")
			assert.Equal(t, http.StatusUnauthorized, refresh(second.RefreshToken).Code, "the successor's refresh token is revoked")
		})
		t.Run("an_access_token_expires_after_its_ttl", func(t *testing.T) {
			tok := e.login("alice", "phone-exp")
			e.clock.Advance(59 * time.Minute)
			assert.Equal(t, http.StatusOK, e.do("GET", "/v1/me", tok.AccessToken, nil).Code)
			e.clock.Advance(time.Minute)
			r := e.do("GET", "/v1/me", tok.AccessToken, nil)
			assert.Equal(t, http.StatusUnauthorized, r.Code)
			assert.Contains(t, r.errorBody(t).Message, "expired")
			assert.Contains(t, r.Header().Get("WWW-Authenticate"), "Bearer")
			// The refresh token outlives it.
			assert.Equal(t, http.StatusOK, refresh(tok.RefreshToken).Code)
		})
		t.Run("a_refresh_token_expires_after_its_ttl", func(t *testing.T) {
			tok := e.login("alice", "phone-exp2")
			e.clock.Advance(24 * time.Hour)
			assert.Equal(t, http.StatusUnauthorized, refresh(tok.RefreshToken).Code)
		})
		t.Run("an_access_token_is_not_a_refresh_token", func(t *testing.T) {
			tok := e.login("alice", "phone-kind")
			assert.Equal(t, http.StatusUnauthorized, refresh(tok.AccessToken).Code)
			assert.Equal(t, http.StatusUnauthorized, e.do("GET", "/v1/me", tok.RefreshToken, nil).Code)
		})
		t.Run("logout_revokes_the_device_tokens_but_not_other_devices", func(t *testing.T) {
			phone := e.login("alice", "phone-out")
			tablet := e.login("alice", "tablet-out")
			assert.Equal(t, http.StatusNoContent, e.do("POST", "/v1/auth/logout", phone.AccessToken, nil).Code)
			assert.Equal(t, http.StatusUnauthorized, e.do("GET", "/v1/me", phone.AccessToken, nil).Code)
			assert.Equal(t, http.StatusUnauthorized, refresh(phone.RefreshToken).Code)
			assert.Equal(t, http.StatusOK, e.do("GET", "/v1/me", tablet.AccessToken, nil).Code)
		})
		for _, tc := range []struct{ name, header string }{
			{"a_missing_token_is_401_with_a_bearer_challenge", ""},
			{"a_made_up_token_is_401", "Bearer abc"},
			{"another_scheme_is_401", "Basic YWxpY2U6eA=="},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.do("GET", "/v1/me", "", nil, "Authorization", tc.header)
				assert.Equal(t, http.StatusUnauthorized, r.Code)
				assert.True(t, strings.HasPrefix(r.Header().Get("WWW-Authenticate"), "Bearer"))
				assert.Equal(t, codeUnauthorized, r.errorBody(t).Code)
			})
		}
	})
}

func TestSyncUsers(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		t.Run("a_plain_password_is_hashed_once_and_kept_while_unchanged", func(t *testing.T) {
			e.cfg.Users = append(e.cfg.Users, config.User{Name: "dave", Password: "pw", Role: "user",
				Identities: map[string]config.Identity{"crm": {ID: "D"}}})
			require.NoError(t, e.srv.SyncUsers(ctx))
			u1, err := e.st.UserByName(ctx, "dave")
			require.NoError(t, err)
			require.NoError(t, bcrypt.CompareHashAndPassword([]byte(u1.PasswordHash), []byte("pw")))
			require.NoError(t, e.srv.SyncUsers(ctx))
			u2, err := e.st.UserByName(ctx, "dave")
			require.NoError(t, err)
			assert.Equal(t, u1.PasswordHash, u2.PasswordHash)
			ids, err := e.st.Identities(ctx, u1.ID)
			require.NoError(t, err)
			require.Len(t, ids, 1)
			assert.Equal(t, "D", ids[0].BackendID)
		})
		t.Run("a_role_change_takes_effect_on_the_next_request", func(t *testing.T) {
			tok := e.token("bob")
			assert.Equal(t, http.StatusForbidden, e.do("GET", "/v1/admin/sources", tok, nil).Code)
			e.cfg.Users[1].Role = "admin"
			require.NoError(t, e.srv.SyncUsers(ctx))
			assert.Equal(t, http.StatusOK, e.do("GET", "/v1/admin/sources", tok, nil).Code)
		})
	})
}

package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"

	"github.com/synchub/synchub/host/store"
)

// Role names.
const (
	roleAdmin = "admin"
	roleUser  = "user"
)

// ctxAuth is the gin context key of the authenticated *caller.
const ctxAuth = "synchub.caller"

// dummyHash is compared against when the user does not exist, so a wrong
// user name takes as long as a wrong password (bcrypt, cost 10).
const dummyHash = "$2a$10$A6MA8XfJcF241Rzt.Qq/geV8PARXVr5d2jDFaHmTBIojS6t.vXvPK"

// deviceTouchEvery is how stale a device's last-seen time may get before a
// request writes it again: one write per device per minute, not per request.
const deviceTouchEvery = time.Minute

// caller is the authenticated user and device of a request.
type caller struct {
	user   store.User
	device store.Device
	token  store.Token
}

func callerOf(c *gin.Context) *caller { return c.MustGet(ctxAuth).(*caller) }

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	DeviceID string `json:"device_id"`
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	RefreshToken     string `json:"refresh_token"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshExpiresIn int64  `json:"refresh_expires_in"`
	TokenType        string `json:"token_type"`
}

func (s *Server) accessTTL() time.Duration {
	if d := s.cfg.Hub.AccessTokenTTL; d > 0 {
		return d
	}
	return 8 * time.Hour
}

func (s *Server) refreshTTL() time.Duration {
	if d := s.cfg.Hub.RefreshTokenTTL; d > 0 {
		return d
	}
	return 30 * 24 * time.Hour
}

// newToken returns a fresh opaque token and its SHA-256 hex.
func newToken() (value, hash string) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	value = base64.RawURLEncoding.EncodeToString(b[:])
	return value, hashToken(value)
}

func hashToken(value string) string {
	h := sha256.Sum256([]byte(value))
	return hex.EncodeToString(h[:])
}

// tokenPair makes an access and a refresh token (user, device and family
// still to be set) and the response that hands them out.
func (s *Server) tokenPair(now time.Time) (access, refresh store.Token, resp tokenResponse) {
	av, ah := newToken()
	rv, rh := newToken()
	access = store.Token{Hash: ah, Kind: store.TokenAccess, ExpiresAt: now.Add(s.accessTTL()), CreatedAt: now}
	refresh = store.Token{Hash: rh, Kind: store.TokenRefresh, ExpiresAt: now.Add(s.refreshTTL()), CreatedAt: now}
	resp = tokenResponse{AccessToken: av, RefreshToken: rv, TokenType: "Bearer",
		ExpiresIn: int64(s.accessTTL() / time.Second), RefreshExpiresIn: int64(s.refreshTTL() / time.Second)}
	return access, refresh, resp
}

func validDeviceID(id string) bool {
	if id == "" || len(id) > 200 {
		return false
	}
	return !strings.ContainsFunc(id, unicode.IsControl)
}

// login is POST /v1/auth/token.
func (s *Server) login(c *gin.Context) {
	var req loginRequest
	if !s.decodeJSON(c, &req, false) {
		return
	}
	switch {
	case req.Username == "" || req.Password == "":
		abortError(c, http.StatusBadRequest, codeInvalidBody, "username and password are required")
		return
	case !validDeviceID(req.DeviceID):
		abortError(c, http.StatusBadRequest, codeInvalidBody, "device_id is required: 1 to 200 characters, no control characters")
		return
	}
	now := s.now()
	if wait := s.logins.reserve(req.Username+"\x00"+c.ClientIP(), now); wait > 0 {
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		abortError(c, http.StatusTooManyRequests, codeRateLimited, "too many login attempts; retry later")
		return
	}
	ctx := c.Request.Context()
	user, err := s.st.UserByName(ctx, req.Username)
	switch {
	case errors.Is(err, store.ErrNotFound):
		_ = bcrypt.CompareHashAndPassword([]byte(dummyHash), []byte(req.Password))
		s.badCredentials(c)
		return
	case err != nil:
		s.abortInternal(c, err)
		return
	case user.PasswordHash == "":
		_ = bcrypt.CompareHashAndPassword([]byte(dummyHash), []byte(req.Password))
		s.badCredentials(c)
		return
	}
	if bcrypt.CompareHashAndPassword([]byte(user.PasswordHash), []byte(req.Password)) != nil {
		s.badCredentials(c)
		return
	}
	dev, err := s.st.EnsureDevice(ctx, user.ID, req.DeviceID, now)
	if err != nil {
		s.abortInternal(c, err)
		return
	}
	if dev.RevokedAt != nil {
		unauthorized(c, "this device has been revoked")
		return
	}
	access, refresh, resp := s.tokenPair(now)
	family, _ := newToken()
	for _, t := range []*store.Token{&access, &refresh} {
		t.UserID, t.DeviceID, t.Family = user.ID, dev.ID, family[:32]
	}
	if err := s.st.CreateTokens(ctx, access, refresh); err != nil {
		s.abortInternal(c, err)
		return
	}
	s.log.Info("device logged in", "user", user.Name, "device", dev.DeviceID)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, resp)
}

func (s *Server) badCredentials(c *gin.Context) {
	c.Header("WWW-Authenticate", `Bearer realm="synchub"`)
	abortError(c, http.StatusUnauthorized, codeInvalidCredentials, "invalid username or password")
}

// unauthorized answers 401 for a missing, invalid or expired token.
func unauthorized(c *gin.Context, msg string) {
	c.Header("WWW-Authenticate", fmt.Sprintf(`Bearer realm="synchub", error="invalid_token", error_description=%q`, msg))
	abortError(c, http.StatusUnauthorized, codeUnauthorized, msg)
}

// refresh is POST /v1/auth/refresh.
func (s *Server) refresh(c *gin.Context) {
	var req refreshRequest
	if !s.decodeJSON(c, &req, false) {
		return
	}
	if req.RefreshToken == "" {
		abortError(c, http.StatusBadRequest, codeInvalidBody, "refresh_token is required")
		return
	}
	ctx := c.Request.Context()
	now := s.now()
	access, refresh, resp := s.tokenPair(now)
	old, err := s.st.RotateRefresh(ctx, hashToken(req.RefreshToken), now, access, refresh)
	switch {
	case errors.Is(err, store.ErrTokenReused):
		s.log.Warn("refresh token reused; the login's tokens are revoked", "user_id", old.UserID, "device_row", old.DeviceID)
		unauthorized(c, "refresh token was already used; log in again")
		return
	case errors.Is(err, store.ErrTokenInvalid):
		unauthorized(c, "refresh token is invalid or expired")
		return
	case err != nil:
		s.abortInternal(c, err)
		return
	}
	// The user may have been removed from the config or the device revoked
	// since the login: the new pair must not outlive that.
	user, uerr := s.st.UserByID(ctx, old.UserID)
	dev, derr := s.st.DeviceByID(ctx, old.DeviceID)
	if err := errors.Join(ignoreNotFound(uerr), ignoreNotFound(derr)); err != nil {
		s.abortInternal(c, err)
		return
	}
	if uerr != nil || derr != nil || !hasAccess(user, dev) {
		if _, err := s.st.RevokeDeviceTokens(ctx, old.DeviceID, now); err != nil {
			s.abortInternal(c, err)
			return
		}
		unauthorized(c, "the user or device no longer has access")
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, resp)
}

func ignoreNotFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// logout is POST /v1/auth/logout.
func (s *Server) logout(c *gin.Context) {
	who := callerOf(c)
	if _, err := s.st.RevokeDeviceTokens(c.Request.Context(), who.device.ID, s.now()); err != nil {
		s.abortInternal(c, err)
		return
	}
	s.log.Info("device logged out", "user", who.user.Name, "device", who.device.DeviceID)
	c.Status(http.StatusNoContent)
}

// hasAccess says whether a login's user and device may still use its
// tokens: the user is still configured (a removed user keeps its row with
// no password) and the device is not revoked. Every request checks it, and
// a refresh does before it hands out new tokens.
func hasAccess(user store.User, dev store.Device) bool {
	return user.PasswordHash != "" && dev.RevokedAt == nil
}

// authenticate resolves the bearer access token into the caller.
func (s *Server) authenticate(c *gin.Context) {
	header := c.GetHeader("Authorization")
	scheme, value, _ := strings.Cut(header, " ")
	value = strings.TrimSpace(value)
	if header == "" {
		c.Header("WWW-Authenticate", `Bearer realm="synchub"`)
		abortError(c, http.StatusUnauthorized, codeUnauthorized, "missing bearer token")
		return
	}
	if !strings.EqualFold(scheme, "Bearer") || value == "" {
		unauthorized(c, "authorization must be a bearer token")
		return
	}
	ctx := c.Request.Context()
	now := s.now()
	// The token, its user and its device in one read: every request
	// pays for it.
	b, err := s.st.BearerByHash(ctx, hashToken(value))
	tok, user, dev := b.Token, b.User, b.Device
	switch {
	case errors.Is(err, store.ErrNotFound):
		// No such token, or its user or device is gone.
		unauthorized(c, "token is invalid")
		return
	case err != nil:
		s.abortInternal(c, err)
		return
	case tok.Kind != store.TokenAccess || tok.RevokedAt != nil:
		unauthorized(c, "token is invalid")
		return
	case !now.Before(tok.ExpiresAt):
		unauthorized(c, "token has expired")
		return
	case !hasAccess(user, dev):
		unauthorized(c, "token is invalid")
		return
	}
	if now.Sub(dev.LastSeenAt) > deviceTouchEvery {
		if err := s.st.TouchDevice(ctx, dev.ID, now); err != nil {
			s.log.Warn("cannot record device activity", "device", dev.DeviceID, "error", err)
		} else {
			dev.LastSeenAt = now
		}
	}
	c.Set(ctxAuth, &caller{user: user, device: dev, token: tok})
	c.Next()
}

// requireAdmin refuses callers without the admin role.
func (s *Server) requireAdmin(c *gin.Context) {
	if callerOf(c).user.Role != roleAdmin {
		abortError(c, http.StatusForbidden, codeForbidden, "admin role required")
		return
	}
	c.Next()
}

// SyncUsers copies the config's users into the store: a plain-text
// password is bcrypt-hashed (an unchanged one keeps its stored hash), a
// password_hash is taken as is, roles and identities are replaced. Users in
// the store but no longer in the config are disabled and their tokens
// revoked. Expired tokens are deleted. Call it at start, before serving.
func (s *Server) SyncUsers(ctx context.Context) error {
	names := make([]string, 0, len(s.cfg.Users))
	for _, u := range s.cfg.Users {
		hash := u.PasswordHash
		if hash == "" {
			existing, err := s.st.UserByName(ctx, u.Name)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("sync users: %w", err)
			}
			if err == nil && existing.PasswordHash != "" &&
				bcrypt.CompareHashAndPassword([]byte(existing.PasswordHash), []byte(u.Password)) == nil {
				hash = existing.PasswordHash
			} else {
				h, err := bcrypt.GenerateFromPassword([]byte(u.Password), bcrypt.DefaultCost)
				if err != nil {
					return fmt.Errorf("sync users: hash password of %s: %w", u.Name, err)
				}
				hash = string(h)
			}
		}
		role := u.Role
		if role == "" {
			role = roleUser
		}
		user, err := s.st.UpsertUser(ctx, u.Name, hash, role)
		if err != nil {
			return fmt.Errorf("sync users: %w", err)
		}
		sources := make([]string, 0, len(u.Identities))
		for src := range u.Identities {
			sources = append(sources, src)
		}
		slices.Sort(sources)
		ids := make([]store.UserIdentity, 0, len(sources))
		var (
			stored []store.UserIdentity
			loaded bool
		)
		for _, src := range sources {
			id := u.Identities[src]
			if id.Login != "" {
				// The hub resolves logins through the source (hub's
				// storeIdentities): until then the user keeps what the
				// same login last resolved to, and has no identity there
				// if it never did.
				if !loaded {
					if stored, err = s.st.Identities(ctx, user.ID); err != nil {
						return fmt.Errorf("sync users: %w", err)
					}
					loaded = true
				}
				for _, row := range stored {
					if row.Source == src && row.Login == id.Login {
						ids = append(ids, store.UserIdentity{Source: src, BackendID: row.BackendID, Attributes: row.Attributes, Login: row.Login})
					}
				}
				continue
			}
			var attrs []byte
			if len(id.Attributes) > 0 {
				if attrs, err = json.Marshal(id.Attributes); err != nil {
					return fmt.Errorf("sync users: identity of %s on %s: %w", u.Name, src, err)
				}
			}
			ids = append(ids, store.UserIdentity{Source: src, BackendID: id.ID, Attributes: attrs})
		}
		if err := s.st.SetIdentities(ctx, user.ID, ids); err != nil {
			return fmt.Errorf("sync users: %w", err)
		}
		names = append(names, u.Name)
	}
	now := s.now()
	disabled, err := s.st.DisableUsersExcept(ctx, names, now)
	if err != nil {
		return fmt.Errorf("sync users: %w", err)
	}
	if len(disabled) > 0 {
		s.log.Info("users no longer in the config were disabled", "users", disabled)
	}
	if _, err := s.st.DeleteExpiredTokens(ctx, now); err != nil {
		return fmt.Errorf("sync users: %w", err)
	}
	return nil
}

// Login rate limit: a burst of loginBurst attempts per user name and
// client address, then one per loginEvery.
const (
	loginBurst = 10
	loginEvery = 6 * time.Second
)

// loginLimiter holds one token bucket per user name and client address.
type loginLimiter struct {
	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	lastPrune time.Time
}

func newLoginLimiter() *loginLimiter {
	return &loginLimiter{buckets: map[string]*rate.Limiter{}}
}

// reserve takes an attempt for key at now; it returns 0 when allowed and
// otherwise how long to wait (the attempt is not counted).
func (l *loginLimiter) reserve(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	lim, ok := l.buckets[key]
	if !ok {
		lim = rate.NewLimiter(rate.Every(loginEvery), loginBurst)
		l.buckets[key] = lim
	}
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// prune forgets buckets that have refilled (they behave like new ones),
// at most once a minute, so the map does not grow with every address seen.
func (l *loginLimiter) prune(now time.Time) {
	if now.Sub(l.lastPrune) < time.Minute {
		return
	}
	l.lastPrune = now
	for k, lim := range l.buckets {
		if lim.TokensAt(now) >= loginBurst {
			delete(l.buckets, k)
		}
	}
}

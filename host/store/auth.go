package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Users, devices and tokens: the queries behind the API's authentication.
// The API decides what a token is worth; the store only keeps the rows
// consistent, above all the refresh rotation, which must be atomic.

// Token kinds.
const (
	TokenAccess  = "access"
	TokenRefresh = "refresh"
)

// Token errors RotateRefresh returns.
var (
	// ErrTokenInvalid: the token is unknown, expired, revoked or not a
	// refresh token.
	ErrTokenInvalid = errors.New("token invalid or expired")
	// ErrTokenReused: the refresh token was already used. Its whole family
	// (every token issued from the same login) has been revoked, since
	// either the device or a thief holds a copy.
	ErrTokenReused = errors.New("refresh token reused; token family revoked")
)

// UpsertUser creates the user called name or updates its password hash and
// role, and returns it.
func (s *Store) UpsertUser(ctx context.Context, name, passwordHash, role string) (User, error) {
	now := time.Now().UTC()
	u := User{Name: name, PasswordHash: passwordHash, Role: role, CreatedAt: now, UpdatedAt: now}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "name"}},
		DoUpdates: clause.AssignmentColumns([]string{"password_hash", "role", "updated_at"}),
	}).Create(&u).Error
	if err != nil {
		return User{}, fmt.Errorf("upsert user %s: %w", name, err)
	}
	return s.UserByName(ctx, name)
}

// UserByName returns the user called name, or ErrNotFound.
func (s *Store) UserByName(ctx context.Context, name string) (User, error) {
	var out []User
	if err := s.rdb.WithContext(ctx).Where("name = ?", name).Limit(1).Find(&out).Error; err != nil {
		return User{}, fmt.Errorf("user %s: %w", name, err)
	}
	if len(out) == 0 {
		return User{}, fmt.Errorf("user %s: %w", name, ErrNotFound)
	}
	return out[0], nil
}

// UserByID returns the user with id, or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id int64) (User, error) {
	var out []User
	if err := s.rdb.WithContext(ctx).Where("id = ?", id).Limit(1).Find(&out).Error; err != nil {
		return User{}, fmt.Errorf("user %d: %w", id, err)
	}
	if len(out) == 0 {
		return User{}, fmt.Errorf("user %d: %w", id, ErrNotFound)
	}
	return out[0], nil
}

// DisableUsersExcept makes every user whose name is not in names unable to
// log in (an empty password hash matches no password) and revokes their
// tokens: a user removed from the config loses access at once, while the
// row stays for what refers to it. It returns the names it disabled.
func (s *Store) DisableUsersExcept(ctx context.Context, names []string, now time.Time) ([]string, error) {
	var disabled []string
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var users []User
		if err := tx.Where("password_hash <> ?", "").Find(&users).Error; err != nil {
			return err
		}
		for _, u := range users {
			if slices.Contains(names, u.Name) {
				continue
			}
			if err := tx.Model(&User{}).Where("id = ?", u.ID).
				Updates(map[string]any{"password_hash": "", "updated_at": now.UTC()}).Error; err != nil {
				return err
			}
			if err := tx.Model(&Token{}).Where("user_id = ? AND revoked_at IS NULL", u.ID).
				Update("revoked_at", now.UTC()).Error; err != nil {
				return err
			}
			disabled = append(disabled, u.Name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("disable users: %w", err)
	}
	return disabled, nil
}

// SetIdentities replaces the user's back-end identities with ids (their
// UserID is set from userID).
func (s *Store) SetIdentities(ctx context.Context, userID int64, ids []UserIdentity) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("user_id = ?", userID).Delete(&UserIdentity{}).Error; err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		rows := slices.Clone(ids)
		for i := range rows {
			rows[i].UserID = userID
		}
		return tx.Create(&rows).Error
	})
	if err != nil {
		return fmt.Errorf("set identities of user %d: %w", userID, err)
	}
	return nil
}

// Identities returns the user's back-end identities, ordered by source.
func (s *Store) Identities(ctx context.Context, userID int64) ([]UserIdentity, error) {
	var out []UserIdentity
	if err := s.rdb.WithContext(ctx).Where("user_id = ?", userID).Order("source").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("identities of user %d: %w", userID, err)
	}
	return out, nil
}

// Identity returns the user's identity on source; ok is false when the
// user has none there.
func (s *Store) Identity(ctx context.Context, userID int64, source string) (id UserIdentity, ok bool, err error) {
	var out []UserIdentity
	if err := s.rdb.WithContext(ctx).Where("user_id = ? AND source = ?", userID, source).Limit(1).Find(&out).Error; err != nil {
		return UserIdentity{}, false, fmt.Errorf("identity of user %d on %s: %w", userID, source, err)
	}
	if len(out) == 0 {
		return UserIdentity{}, false, nil
	}
	return out[0], true, nil
}

// EnsureDevice returns the user's device called deviceID, creating it when
// new, and marks it seen at now.
func (s *Store) EnsureDevice(ctx context.Context, userID int64, deviceID string, now time.Time) (Device, error) {
	now = now.UTC()
	var d Device
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).
			Create(&Device{UserID: userID, DeviceID: deviceID, CreatedAt: now, LastSeenAt: now}).Error; err != nil {
			return err
		}
		if err := tx.Model(&Device{}).Where("user_id = ? AND device_id = ?", userID, deviceID).
			Update("last_seen_at", now).Error; err != nil {
			return err
		}
		return tx.Where("user_id = ? AND device_id = ?", userID, deviceID).Take(&d).Error
	})
	if err != nil {
		return Device{}, fmt.Errorf("device %q of user %d: %w", deviceID, userID, err)
	}
	return d, nil
}

// DeviceByID returns the device with the row id id, or ErrNotFound.
func (s *Store) DeviceByID(ctx context.Context, id int64) (Device, error) {
	var out []Device
	if err := s.rdb.WithContext(ctx).Where("id = ?", id).Limit(1).Find(&out).Error; err != nil {
		return Device{}, fmt.Errorf("device %d: %w", id, err)
	}
	if len(out) == 0 {
		return Device{}, fmt.Errorf("device %d: %w", id, ErrNotFound)
	}
	return out[0], nil
}

// TouchDevice sets the device's last-seen time.
func (s *Store) TouchDevice(ctx context.Context, id int64, now time.Time) error {
	if err := s.db.WithContext(ctx).Model(&Device{}).Where("id = ?", id).
		Update("last_seen_at", now.UTC()).Error; err != nil {
		return fmt.Errorf("touch device %d: %w", id, err)
	}
	return nil
}

// CreateTokens stores tokens (already hashed) in one statement.
func (s *Store) CreateTokens(ctx context.Context, tokens ...Token) error {
	if len(tokens) == 0 {
		return nil
	}
	rows := slices.Clone(tokens)
	for i := range rows {
		normalizeToken(&rows[i])
	}
	if err := s.db.WithContext(ctx).Create(&rows).Error; err != nil {
		return fmt.Errorf("create tokens: %w", err)
	}
	return nil
}

func normalizeToken(t *Token) {
	t.ExpiresAt = t.ExpiresAt.UTC()
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now().UTC()
	}
	t.CreatedAt = t.CreatedAt.UTC()
}

// TokenByHash returns the token whose SHA-256 is hash, or ErrNotFound. It
// does not judge it: the caller checks kind, expiry and revocation.
func (s *Store) TokenByHash(ctx context.Context, hash string) (Token, error) {
	var out []Token
	if err := s.rdb.WithContext(ctx).Where("hash = ?", hash).Limit(1).Find(&out).Error; err != nil {
		return Token{}, fmt.Errorf("token: %w", err)
	}
	if len(out) == 0 {
		return Token{}, fmt.Errorf("token: %w", ErrNotFound)
	}
	return out[0], nil
}

// Bearer is what a token stands for: the token, and the user and device it
// was issued to. Every API request needs all three.
type Bearer struct {
	Token  Token  `gorm:"embedded;embeddedPrefix:t_"`
	User   User   `gorm:"embedded;embeddedPrefix:u_"`
	Device Device `gorm:"embedded;embeddedPrefix:d_"`
}

// BearerByHash returns the token whose SHA-256 is hash with its user and
// device, in one statement, or ErrNotFound when any of the three is
// missing. Like TokenByHash it does not judge the token.
func (s *Store) BearerByHash(ctx context.Context, hash string) (Bearer, error) {
	s.bearerOnce.Do(func() { s.bearerSQL, s.bearerErr = bearerQuery(s.rdb) })
	if s.bearerErr != nil {
		return Bearer{}, fmt.Errorf("token: %w", s.bearerErr)
	}
	var out []Bearer
	if err := s.rdb.WithContext(ctx).Raw(s.bearerSQL, hash).Scan(&out).Error; err != nil {
		return Bearer{}, fmt.Errorf("token: %w", err)
	}
	if len(out) == 0 {
		return Bearer{}, fmt.Errorf("token: %w", ErrNotFound)
	}
	return out[0], nil
}

// bearerQuery selects every column of the three models, each as its
// Bearer field's name (t_hash, u_id, ...): the list comes from the models,
// so a column added to one of them is read too.
func bearerQuery(db *gorm.DB) (string, error) {
	var cols []string
	for _, m := range []struct {
		alias string
		model any
	}{{"t", &Token{}}, {"u", &User{}}, {"d", &Device{}}} {
		stmt := &gorm.Statement{DB: db}
		if err := stmt.Parse(m.model); err != nil {
			return "", err
		}
		for _, c := range stmt.Schema.DBNames {
			cols = append(cols, fmt.Sprintf(`%s."%s" AS %s_%s`, m.alias, c, m.alias, c))
		}
	}
	return `SELECT ` + strings.Join(cols, ", ") + ` FROM tokens t JOIN users u ON u.id = t.user_id` +
		` JOIN devices d ON d.id = t.device_id WHERE t.hash = ? LIMIT 1`, nil
}

// RotateRefresh spends the refresh token whose hash is oldHash and stores
// access and refresh in its place, in one transaction. The new tokens take
// the old one's user, device and family; the family's earlier access
// tokens are revoked. It returns the old token.
//
// An unknown, expired or revoked token gives ErrTokenInvalid. A token
// already used gives ErrTokenReused after revoking its whole family (that
// revocation is committed): two parties hold the same refresh token, and
// neither may keep a session. Two concurrent rotations of one token count
// as reuse for the one that loses.
func (s *Store) RotateRefresh(ctx context.Context, oldHash string, now time.Time, access, refresh Token) (Token, error) {
	now = now.UTC()
	var (
		old    Token
		reused bool
	)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var rows []Token
		if err := tx.Where("hash = ?", oldHash).Limit(1).Find(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return ErrTokenInvalid
		}
		old = rows[0]
		switch {
		case old.Kind != TokenRefresh:
			return ErrTokenInvalid
		case old.UsedAt != nil:
			reused = true
			return revokeFamily(tx, old.Family, now)
		case old.RevokedAt != nil, !now.Before(old.ExpiresAt):
			return ErrTokenInvalid
		}
		q := tx.Model(&Token{}).Where("hash = ? AND used_at IS NULL AND revoked_at IS NULL", oldHash).
			Update("used_at", now)
		if q.Error != nil {
			return q.Error
		}
		if q.RowsAffected == 0 {
			// Another rotation of the same token committed first.
			reused = true
			return revokeFamily(tx, old.Family, now)
		}
		if err := tx.Model(&Token{}).Where("family = ? AND kind = ? AND revoked_at IS NULL", old.Family, TokenAccess).
			Update("revoked_at", now).Error; err != nil {
			return err
		}
		fresh := []Token{access, refresh}
		for i := range fresh {
			fresh[i].UserID, fresh[i].DeviceID, fresh[i].Family = old.UserID, old.DeviceID, old.Family
			if fresh[i].CreatedAt.IsZero() {
				fresh[i].CreatedAt = now
			}
			normalizeToken(&fresh[i])
		}
		return tx.Create(&fresh).Error
	})
	switch {
	case errors.Is(err, ErrTokenInvalid):
		return Token{}, fmt.Errorf("rotate refresh token: %w", ErrTokenInvalid)
	case err != nil:
		return Token{}, fmt.Errorf("rotate refresh token: %w", err)
	case reused:
		return old, fmt.Errorf("rotate refresh token of user %d: %w", old.UserID, ErrTokenReused)
	}
	return old, nil
}

func revokeFamily(tx *gorm.DB, family string, now time.Time) error {
	return tx.Model(&Token{}).Where("family = ? AND revoked_at IS NULL", family).Update("revoked_at", now).Error
}

// RevokeDeviceTokens revokes every live token of the device (row id) and
// returns how many it revoked.
func (s *Store) RevokeDeviceTokens(ctx context.Context, deviceID int64, now time.Time) (int64, error) {
	q := s.db.WithContext(ctx).Model(&Token{}).Where("device_id = ? AND revoked_at IS NULL", deviceID).
		Update("revoked_at", now.UTC())
	if q.Error != nil {
		return 0, fmt.Errorf("revoke tokens of device %d: %w", deviceID, q.Error)
	}
	return q.RowsAffected, nil
}

// DeleteExpiredTokens deletes tokens that expired before cutoff (they can
// no longer be used, and reuse detection needs only live families) and
// returns how many it deleted.
func (s *Store) DeleteExpiredTokens(ctx context.Context, cutoff time.Time) (int64, error) {
	q := s.db.WithContext(ctx).Where("expires_at < ?", cutoff.UTC()).Delete(&Token{})
	if q.Error != nil {
		return 0, fmt.Errorf("delete expired tokens: %w", q.Error)
	}
	return q.RowsAffected, nil
}

package client

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"gorm.io/gorm"
)

// Login authenticates user at the hub (hubURL like "http://127.0.0.1:8080")
// and saves the credentials. Logging in as another user or to another hub
// clears the previous account's local data, unless it still has pending
// changes (ErrOtherAccount): those are never thrown away silently.
func (c *Client) Login(ctx context.Context, hubURL, user, password string) error {
	hub, err := normalizeHubURL(hubURL)
	if err != nil {
		return err
	}
	if user == "" {
		return errors.New("login: empty user name")
	}
	deviceID, err := c.DeviceID(ctx)
	if err != nil {
		return err
	}
	var tok wireTokens
	if err := c.postJSON(ctx, hub, "/v1/auth/token", wireTokenRequest{Username: user, Password: password, DeviceID: deviceID}, &tok); err != nil {
		return fmt.Errorf("login %s at %s: %w", user, hub, err)
	}
	owner := hub + "|" + user
	prev, err := c.meta(ctx, "data_owner")
	if err != nil {
		return err
	}
	if prev != "" && prev != owner {
		var pending int64
		if err := c.db.WithContext(ctx).Model(&changeRow{}).Count(&pending).Error; err != nil {
			return fmt.Errorf("login: count pending changes: %w", err)
		}
		if pending > 0 {
			prevUser, prevHub := ownerParts(prev)
			return fmt.Errorf("login %s: %w (%d changes of %s at %s; log in as %s and sync first)", user, ErrOtherAccount, pending, prevUser, prevHub, prevUser)
		}
		if err := c.wipeData(ctx); err != nil {
			return err
		}
		c.log.Info("cleared the previous account's local data", "previous", prev)
	}
	acct := accountRow{ID: 1, HubURL: hub, Username: user}
	if err := c.txn(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("id = 1").Delete(&accountRow{}).Error; err != nil {
			return err
		}
		if err := tx.Create(&acct).Error; err != nil {
			return err
		}
		return setMeta(tx, "data_owner", owner)
	}); err != nil {
		return fmt.Errorf("login: save account: %w", err)
	}
	if err := c.saveTokens(ctx, &acct, tok); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	c.log.Info("logged in", "hub", hub, "user", user, "device_id", deviceID)
	return nil
}

// Logout revokes the device's tokens at the hub (best effort: an
// unreachable hub does not keep a device logged in) and forgets the saved
// credentials. Local records and pending changes stay: logging in again as
// the same user picks them up.
func (c *Client) Logout(ctx context.Context) error {
	if _, err := c.account(ctx); err != nil {
		return err
	}
	if err := c.callJSON(ctx, "POST", "/v1/auth/logout", nil, nil, nil); err != nil {
		c.log.Warn("hub logout failed; forgetting the tokens anyway", "error", err)
	}
	if err := c.db.WithContext(ctx).Where("id = 1").Delete(&accountRow{}).Error; err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

// Account describes the saved login.
type Account struct {
	HubURL   string
	Username string
	DeviceID string
}

// Account returns the saved login, or ErrNotLoggedIn.
func (c *Client) Account(ctx context.Context) (Account, error) {
	a, err := c.account(ctx)
	if err != nil {
		return Account{}, err
	}
	id, err := c.DeviceID(ctx)
	if err != nil {
		return Account{}, err
	}
	return Account{HubURL: a.HubURL, Username: a.Username, DeviceID: id}, nil
}

func ownerParts(owner string) (user, hub string) {
	i := strings.LastIndexByte(owner, '|')
	if i < 0 {
		return owner, ""
	}
	return owner[i+1:], owner[:i]
}

func normalizeHubURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("hub URL %q must look like http://host:port or https://host", raw)
	}
	u.RawQuery, u.Fragment = "", ""
	return strings.TrimRight(u.String(), "/"), nil
}

// wipeData removes everything of the previous account but the device id.
func (c *Client) wipeData(ctx context.Context) error {
	err := c.txn(ctx, func(tx *gorm.DB) error {
		for _, m := range []any{&recordRow{}, &shadowRow{}, &changeRow{}, &sourceRow{}, &entityRow{}, &syncErrorRow{}, &fileRow{}, &uploadRow{}} {
			if err := tx.Session(&gorm.Session{AllowGlobalUpdate: true}).Delete(m).Error; err != nil {
				return err
			}
		}
		return nil
	})
	c.schema.forget()
	if err != nil {
		return fmt.Errorf("clear local data: %w", err)
	}
	if err := os.RemoveAll(c.filesDir); err != nil {
		return fmt.Errorf("clear local files: %w", err)
	}
	return os.MkdirAll(c.filesDir, 0o700)
}

package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/sdk"
)

// A user's identity on a source comes from the config (`id = ...`) or from
// the source's connector (`login = ...`, resolved with sdk.UserResolver
// when the source starts and when an admin restarts it). Either way it ends
// up in the store's user identities, where partitions, /v1/me and
// checkpoints read it. api.SyncUsers copies the config's identities at
// start; storeIdentities then writes each login user's identities again
// with the resolved ones in place of the logins, so a login never reaches
// the store as an id.
//
// A login the back end does not know (sdk.CodeNotFound, or a login it
// refuses as such) leaves the user without an identity on that source: the
// user sees only the source's "*" entities. A login the back end could not
// be asked about (down, throttled, a timeout) keeps the identity the same
// login last resolved to, in memory and in the store (UserIdentity.Login),
// and the hub asks again in the background (Hub.Start) until it resolves.
// Either failure is logged and shown in the admin API (IdentityError).

// IdentityError is a login a source's connector could not resolve.
// Transient is set when the back end could not be asked: the user keeps the
// identity the login last resolved to, if any, and the hub tries again.
type IdentityError struct {
	User      string
	Login     string
	Err       error
	Transient bool
}

// transientLoginError reports whether a ResolveUser failure means the back
// end could not be asked, not that it does not know the login.
func transientLoginError(err error) bool {
	switch sdk.CodeOf(err) {
	case sdk.CodeNotFound, sdk.CodeInvalidRequest:
		return false
	}
	return true
}

// loginUser is a user whose identity on a source is given by login.
type loginUser struct {
	name string
	id   config.Identity
}

// loginsOf lists the users whose identity on source is a login, in config
// order.
func loginsOf(users []config.User, source string) []loginUser {
	var out []loginUser
	for _, u := range users {
		if id, ok := u.Identities[source]; ok && id.Login != "" {
			out = append(out, loginUser{name: u.Name, id: id})
		}
	}
	return out
}

// requireResolver refuses logins on a source whose connector cannot
// resolve them, one error per user, at the login's position.
func (src *Source) requireResolver(users []config.User) error {
	if src.Desc.Has(sdk.CapResolveUser) {
		return nil
	}
	sc := src.Config
	var errs []error
	for _, lu := range loginsOf(users, sc.Name) {
		errs = append(errs, config.ErrorAt(lu.id.LoginRange,
			fmt.Sprintf("Source %q: user %q has a login, but plugin %q cannot resolve logins", sc.Name, lu.name, sc.Plugin),
			fmt.Sprintf("the connector does not announce the %s capability; give the user's id in that back end instead (id = \"...\")", sdk.CapResolveUser)))
	}
	return errors.Join(errs...)
}

// resolveLogins asks the connector for every login user of the source and
// keeps the answers, replacing those of the last resolution. It never
// fails: a login it cannot resolve becomes an IdentityError.
func (src *Source) resolveLogins(ctx context.Context, users []config.User, timeout time.Duration, log hclog.Logger) {
	logins := loginsOf(users, src.Config.Name)
	resolved := make(map[string]config.Identity, len(logins))
	var failed []IdentityError
	if len(logins) > 0 {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		src.idMu.Lock()
		before := src.resolved
		src.idMu.Unlock()
		for _, lu := range logins {
			who, err := src.Client.ResolveUser(ctx, sdk.ResolveUserRequest{Login: lu.id.Login})
			if err != nil {
				ie := IdentityError{User: lu.name, Login: lu.id.Login, Err: err, Transient: transientLoginError(err)}
				failed = append(failed, ie)
				if !ie.Transient {
					log.Warn("the back end does not know a user's login; the user sees only the source's \"*\" entities",
						"source", src.Config.Name, "user", lu.name, "login", lu.id.Login, "error", err)
					continue
				}
				log.Warn("cannot ask the back end for a user's login; the user keeps the identity it last resolved to, and the hub will ask again",
					"source", src.Config.Name, "user", lu.name, "login", lu.id.Login, "error", err)
				if prev, ok := before[lu.name]; ok {
					resolved[lu.name] = prev
				}
				continue
			}
			resolved[lu.name] = merged(who, lu.id)
			log.Debug("resolved a user's login", "source", src.Config.Name, "user", lu.name, "id", who.ID)
		}
	}
	src.idMu.Lock()
	src.resolved, src.identityErrors = resolved, failed
	src.idMu.Unlock()
}

// merged is the identity a resolved login gives: the back end's id, and
// its attributes under the config's, which win. "owner" stays reserved for
// the id, as in the config.
func merged(who sdk.Identity, cfg config.Identity) config.Identity {
	attrs := maps.Clone(who.Attributes)
	delete(attrs, "owner")
	if len(cfg.Attributes) > 0 {
		if attrs == nil {
			attrs = map[string]string{}
		}
		maps.Copy(attrs, cfg.Attributes)
	}
	if len(attrs) == 0 {
		attrs = nil
	}
	return config.Identity{ID: who.ID, Attributes: attrs}
}

// Resolved returns the identity the connector gave for user's login;
// ok is false when the user has no login on the source or it did not
// resolve.
func (src *Source) Resolved(user string) (config.Identity, bool) {
	src.idMu.Lock()
	defer src.idMu.Unlock()
	id, ok := src.resolved[user]
	return id, ok
}

// IdentityErrors returns the logins the last resolution could not resolve.
func (src *Source) IdentityErrors() []IdentityError {
	src.idMu.Lock()
	defer src.idMu.Unlock()
	return slices.Clone(src.identityErrors)
}

// unreachable reports whether user's login could not be asked about in the
// last resolution (IdentityError.Transient).
func (src *Source) unreachable(user string) bool {
	src.idMu.Lock()
	defer src.idMu.Unlock()
	return slices.ContainsFunc(src.identityErrors, func(ie IdentityError) bool { return ie.User == user && ie.Transient })
}

// retryable reports whether a login of the source could not be asked
// about in the last resolution.
func (src *Source) retryable() bool {
	src.idMu.Lock()
	defer src.idMu.Unlock()
	return slices.ContainsFunc(src.identityErrors, func(ie IdentityError) bool { return ie.Transient })
}

// storeIdentities writes into the store the identities of every config user
// who has a login on one of sources (all sources when none are named): the
// config's ids as they are, each login replaced by its resolved identity
// or left out when it did not resolve. It writes whole users, computed from
// the config and the sources' resolutions, so concurrent restarts of two
// sources cannot lose each other's answer.
func (s *Sources) storeIdentities(ctx context.Context, st *store.Store, cfg *config.Config, sources ...string) error {
	s.storeMu.Lock()
	defer s.storeMu.Unlock()
	for _, u := range cfg.Users {
		if !hasLoginOn(u, sources) {
			continue
		}
		user, err := st.UserByName(ctx, u.Name)
		if err != nil {
			return fmt.Errorf("identities of user %s: %w", u.Name, err)
		}
		stored, err := st.Identities(ctx, user.ID)
		if err != nil {
			return err
		}
		var rows []store.UserIdentity
		for _, source := range slices.Sorted(maps.Keys(u.Identities)) {
			id := u.Identities[source]
			login := id.Login
			if login != "" {
				src, ok := s.Get(source)
				if !ok {
					continue
				}
				if id, ok = src.Resolved(u.Name); !ok {
					// Never resolved in this process: a login the back end
					// could not be asked about keeps its stored identity.
					if src.unreachable(u.Name) {
						for _, row := range stored {
							if row.Source == source && row.Login == login {
								rows = append(rows, row)
							}
						}
					}
					continue
				}
			}
			row := store.UserIdentity{Source: source, BackendID: id.ID, Login: login}
			if len(id.Attributes) > 0 {
				if row.Attributes, err = json.Marshal(id.Attributes); err != nil {
					return fmt.Errorf("identity of user %s on %s: %w", u.Name, source, err)
				}
			}
			rows = append(rows, row)
		}
		if err := st.SetIdentities(ctx, user.ID, rows); err != nil {
			return err
		}
	}
	return nil
}

// hasLoginOn reports whether u has a login identity on one of sources (on
// any source when sources is empty).
func hasLoginOn(u config.User, sources []string) bool {
	for source, id := range u.Identities {
		if id.Login != "" && (len(sources) == 0 || slices.Contains(sources, source)) {
			return true
		}
	}
	return false
}

// ResolveLogins resolves the source's logins again and stores the result,
// as a restart does.
func (s *Sources) ResolveLogins(ctx context.Context, st *store.Store, cfg *config.Config, source string) error {
	src, ok := s.Get(source)
	if !ok {
		return fmt.Errorf("unknown source %q", source)
	}
	src.resolveLogins(ctx, cfg.Users, s.timeout, s.log)
	return s.storeIdentities(ctx, st, cfg, source)
}

// retryLogins asks again, every interval until ctx ends, about the logins
// a source's back end could not be asked about, and stores what resolves.
func (s *Sources) retryLogins(ctx context.Context, st *store.Store, cfg *config.Config, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, name := range s.Names() {
			src, ok := s.Get(name)
			if !ok || !src.retryable() {
				continue
			}
			if err := s.ResolveLogins(ctx, st, cfg, name); err != nil && ctx.Err() == nil {
				s.log.Warn("store the users' resolved identities", "source", name, "error", err)
				continue
			}
			if !src.retryable() {
				s.log.Info("every login of the source resolves again", "source", name)
			}
		}
	}
}

// CheckLogins tells apart, for `synchub validate`, the logins the sources
// could not resolve: a login a back end does not know is an error at the
// login's position in the config; one a back end could not be asked about
// is a warning (a running hub keeps the identity it last resolved to and
// asks again).
func (s *Sources) CheckLogins(cfg *config.Config) (warnings []string, err error) {
	var errs []error
	for _, name := range s.Names() {
		src, _ := s.Get(name)
		for _, ie := range src.IdentityErrors() {
			if ie.Transient {
				warnings = append(warnings, fmt.Sprintf("source %s: user %s: the back end could not be asked about login %q: %v",
					name, ie.User, ie.Login, ie.Err))
				continue
			}
			var rng config.Identity
			for _, u := range cfg.Users {
				if u.Name == ie.User {
					rng = u.Identities[name]
				}
			}
			errs = append(errs, config.ErrorAt(rng.LoginRange,
				fmt.Sprintf("Source %q: user %q: the back end does not know login %q", name, ie.User, ie.Login), ie.Err.Error()))
		}
	}
	return warnings, errors.Join(errs...)
}

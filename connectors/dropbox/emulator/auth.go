package emulator

import (
	"net/http"
)

// token serves POST /oauth2/token for the refresh_token grant. Client
// credentials come as form fields or HTTP Basic auth; a public (PKCE)
// client may send its client_id alone.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		oauthError(w, http.StatusBadRequest, "invalid_request", "expected POST")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "could not parse the form body")
		return
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	switch {
	case r.PostForm.Get("grant_type") != "refresh_token":
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "the emulator supports grant_type=refresh_token only")
		return
	case id != s.opts.ClientID || (secret != "" && secret != s.opts.ClientSecret):
		oauthError(w, http.StatusBadRequest, "invalid_client", "Invalid client_id or client_secret")
		return
	case r.PostForm.Get("refresh_token") != s.opts.RefreshToken:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "refresh token is invalid or revoked")
		return
	}
	s.mu.Lock()
	tok := "sl." + s.randomString(40)
	s.tokens[tok] = s.now().Add(s.opts.TokenTTL)
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok, "token_type": "bearer", "expires_in": int(s.opts.TokenTTL.Seconds()),
	})
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// currentAccount serves users/get_current_account, a route without
// arguments.
func (s *Server) currentAccount(w http.ResponseWriter, r *http.Request, name string) {
	if err := rpcArg(r, nil); err != nil {
		badRequest(w, name, "%s", err)
		return
	}
	a := s.account
	writeJSON(w, http.StatusOK, map[string]any{
		"account_id": a.id,
		"name": map[string]string{"given_name": a.given, "surname": a.surname, "familiar_name": a.given,
			"display_name": a.given + " " + a.surname, "abbreviated_name": a.given[:1] + a.surname[:1]},
		"email": a.email, "email_verified": true, "disabled": false, "country": "US", "locale": "en",
		"is_paired": false, "account_type": tag{"basic"},
		"root_info": map[string]string{".tag": "user", "root_namespace_id": "3235641", "home_namespace_id": "3235641"},
	})
}

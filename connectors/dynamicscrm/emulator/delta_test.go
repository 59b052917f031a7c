package emulator

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestChangeTracking(t *testing.T) {
	clock := &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	c := start(t, Options{Seed: 5, Accounts: 20, Now: clock.Now, TokenTTL: 30 * 24 * time.Hour})

	initial := func(c *client) string {
		c.t.Helper()
		r := c.do("GET", "accounts?$select=name,telephone1", nil, "Prefer", "odata.track-changes")
		c.mustStatus(r, http.StatusOK)
		if got := r.header.Get("Preference-Applied"); got != "odata.track-changes" {
			c.t.Errorf("Preference-Applied %q", got)
		}
		m := r.json(c.t)
		link, _ := m["@odata.deltaLink"].(string)
		if len(m["value"].([]any)) != c.srv.Count("accounts") || link == "" {
			c.t.Fatalf("initial sync: %d rows, deltaLink %q", len(m["value"].([]any)), link)
		}
		return link
	}

	t.Run("the deltaLink carries a version!timestamp token", func(t *testing.T) {
		c := c.with(t)
		link := initial(c)
		if !strings.Contains(link, "/api/data/v9.2/accounts?$select=name,telephone1&$deltatoken=") || !strings.Contains(link, "%21") || !strings.Contains(link, "%2f") {
			t.Errorf("deltaLink %s", link)
		}
		u, _ := url.Parse(link)
		if _, at, ok := parseDeltaToken(u.Query().Get("$deltatoken")); !ok || !at.Equal(clock.Now()) {
			t.Errorf("token %q", u.Query().Get("$deltatoken"))
		}
	})

	t.Run("a delta lists updates by version and then deletions", func(t *testing.T) {
		c := c.with(t)
		link := initial(c)
		ids := unreferenced(c.srv)
		c.srv.Upsert("accounts", ids[3], map[string]any{"telephone1": "555000"})
		c.srv.Upsert("accounts", ids[1], map[string]any{"name": "Second change"})
		c.srv.Upsert("accounts", ids[3], map[string]any{"telephone1": "555001"})
		c.srv.Delete("accounts", ids[5])
		newID := "2e451703-c686-e711-80e5-00155db19e6d"
		c.srv.Upsert("accounts", newID, map[string]any{"name": "Created then deleted"})
		c.srv.Delete("accounts", newID)

		r := c.do("GET", link, nil)
		c.mustStatus(r, http.StatusOK)
		m := r.json(t)
		vals := m["value"].([]any)
		var got []string
		for _, v := range vals {
			row := v.(map[string]any)
			if row["reason"] == "deleted" {
				if !strings.HasSuffix(row["@odata.context"].(string), "/$metadata#accounts/$deletedEntity") {
					t.Errorf("deleted context %v", row["@odata.context"])
				}
				got = append(got, "-"+row["id"].(string))
				continue
			}
			got = append(got, "+"+row["accountid"].(string))
		}
		want := []string{"+" + ids[1], "+" + ids[3], "-" + ids[5], "-" + newID}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("delta\n got  %v\n want %v", got, want)
		}
		if row := vals[1].(map[string]any); row["telephone1"] != "555001" {
			t.Errorf("updated row carries old data: %v", row)
		}

		next, _ := m["@odata.deltaLink"].(string)
		r = c.do("GET", next, nil)
		c.mustStatus(r, http.StatusOK)
		m = r.json(t)
		if len(m["value"].([]any)) != 0 || m["@odata.deltaLink"] == nil {
			t.Errorf("empty delta must still carry a deltaLink: %s", r.body)
		}
	})

	t.Run("deltas page with nextLink and end with a deltaLink", func(t *testing.T) {
		c := c.with(t)
		link := initial(c)
		ids := unreferenced(c.srv)
		for _, id := range ids[:7] {
			c.srv.Upsert("accounts", id, map[string]any{"description": "bulk edit"})
		}
		c.srv.Delete("accounts", ids[8])
		c.srv.Delete("accounts", ids[9])
		rows, next := c.pageAll(link, "Prefer", "odata.maxpagesize=3")
		if len(rows) != 9 || next == "" {
			t.Fatalf("paged delta: %d rows, deltaLink %q", len(rows), next)
		}
		if rows[6]["reason"] != nil || rows[7]["reason"] != "deleted" {
			t.Errorf("updates must come before deletions: %v", rows)
		}
	})

	t.Run("a delete cascades to notes, which show in their own delta", func(t *testing.T) {
		c := c.with(t)
		r := c.do("GET", "annotations?$select=subject", nil, "Prefer", "odata.track-changes")
		link := r.json(t)["@odata.deltaLink"].(string)
		acc := c.srv.IDs("accounts")[0]
		notes, _ := c.pageAll("annotations?$select=subject&$filter=_objectid_value eq " + acc)
		c.srv.Delete("accounts", acc)
		rows, _ := c.pageAll(link)
		if len(notes) == 0 || len(rows) != len(notes) || rows[0]["reason"] != "deleted" {
			t.Errorf("notes %d, delta %v", len(notes), rows)
		}
	})

	refused := []string{"$filter=name eq 'x'", "$orderby=name", "$top=5", "$expand=primarycontactid"}
	for _, q := range refused {
		name, _, _ := strings.Cut(q, "=")
		t.Run(name+" with track-changes is refused", func(t *testing.T) {
			c := c.with(t)
			r := c.do("GET", "accounts?$select=name&"+q, nil, "Prefer", "odata.track-changes")
			c.mustStatus(r, http.StatusBadRequest)
			if _, msg := r.errorOf(t); msg != `The "`+name+`" query parameter isn't supported when Change Tracking is enabled.` {
				t.Errorf("message %q", msg)
			}
		})
	}

	t.Run("an expired delta token is ExpiredVersionStamp", func(t *testing.T) {
		c := c.with(t)
		link := initial(c)
		clock.Add(8 * 24 * time.Hour)
		r := c.do("GET", link, nil)
		c.mustStatus(r, http.StatusBadRequest)
		if code, msg := r.errorOf(t); code != "0x80044352" || !strings.Contains(msg, "Please perform a full sync") {
			t.Errorf("error %s %q", code, msg)
		}
	})
}

// unreferenced lists accounts no other account points to, so deleting one
// does not update others (RemoveLink) and deltas stay predictable.
func unreferenced(s *Server) []string {
	used := map[any]bool{}
	for _, id := range s.IDs("accounts") {
		row, _ := s.Get("accounts", id)
		used[row["_parentaccountid_value"]] = true
	}
	var out []string
	for _, id := range s.IDs("accounts") {
		if !used[id] {
			out = append(out, id)
		}
	}
	return out
}

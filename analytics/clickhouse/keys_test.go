package clickhouse_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/api"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
	"github.com/splitcast/splitcast/experiment/apikey"
	"github.com/splitcast/splitcast/experiment/experimenttest"
)

func TestKeyStore(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	s := clickhouse.NewKeyStore(conn)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	_, a, err := apikey.New("mailer", []apikey.Scope{apikey.ScopeSDK, apikey.ScopeRead}, now)
	if err != nil {
		t.Fatal(err)
	}
	_, b, err := apikey.New("dashboard", []apikey.Scope{apikey.ScopeRead}, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []apikey.Record{a, b} {
		if err := s.CreateKey(ctx, r); err != nil {
			t.Fatalf("CreateKey(%s): %v", r.Name, err)
		}
	}
	if err := s.CreateKey(ctx, a); experiment.ErrorCode(err) != experiment.ECONFLICT {
		t.Errorf("CreateKey(existing id) = %v, want %s", err, experiment.ECONFLICT)
	}
	list, err := s.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Fatalf("ListKeys = %+v, want %s then %s", list, a.ID, b.ID)
	}
	got := list[0]
	if got.Name != "mailer" || got.Hash != a.Hash || len(got.Scopes) != 2 || got.Scopes[0] != apikey.ScopeSDK ||
		got.Scopes[1] != apikey.ScopeRead || !got.CreatedAt.Equal(now) || got.Revoked() {
		t.Errorf("ListKeys()[0] = %+v, want %+v", got, a)
	}

	at := now.Add(time.Hour)
	r, err := s.RevokeKey(ctx, a.ID, at)
	if err != nil || !r.RevokedAt.Equal(at) {
		t.Fatalf("RevokeKey = %+v, %v; want revoked at %v", r, err, at)
	}
	// Revoking again keeps the first revocation.
	if r, err := s.RevokeKey(ctx, a.ID, at.Add(time.Hour)); err != nil || !r.RevokedAt.Equal(at) {
		t.Errorf("second RevokeKey = %+v, %v; want the first revocation kept", r, err)
	}
	if _, err := s.RevokeKey(ctx, "0000000000000000", at); experiment.ErrorCode(err) != experiment.ENOTFOUND {
		t.Errorf("RevokeKey(unknown) = %v, want %s", err, experiment.ENOTFOUND)
	}
	// The answer must not depend on whether ClickHouse merged the rows yet.
	for _, stage := range []string{"before merge", "after merge"} {
		list, err = s.ListKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || !list[0].RevokedAt.Equal(at) || list[1].Revoked() {
			t.Errorf("%s: ListKeys = %+v, want %s revoked at %v and %s valid", stage, list, a.ID, at, b.ID)
		}
		if err := conn.Exec(ctx, "OPTIMIZE TABLE api_keys FINAL"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestKeyRevocationThroughServer issues a key into ClickHouse, uses it on a
// server whose KeyCache reads the store, revokes it, and sees the server
// refuse it after the next refresh.
func TestKeyRevocationThroughServer(t *testing.T) {
	ctx := context.Background()
	conn, _ := env.NewDatabase(t)
	store := clickhouse.NewKeyStore(conn)
	secret, rec, err := apikey.New("reporting", []apikey.Scope{apikey.ScopeRead}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateKey(ctx, rec); err != nil {
		t.Fatal(err)
	}
	cache := api.NewKeyCache(api.KeyList{api.NewKey("admin", "config-admin-key", apikey.ScopeAdmin)}, store, nil)
	exps := experimenttest.NewStore()
	srv := api.New(api.Config{Store: exps, Snapshots: assign.NewRefresher(exps, nil), Keys: cache})
	get := func(key string) int {
		t.Helper()
		req := httptest.NewRequest("GET", "/v1/experiments", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := srv.App().Test(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(secret); code != 401 {
		t.Errorf("before the first refresh: %d, want 401", code)
	}
	if err := cache.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if code := get(secret); code != 200 {
		t.Errorf("issued key: %d, want 200", code)
	}
	if code := get("config-admin-key"); code != 403 {
		t.Errorf("config key without read: %d, want 403", code)
	}
	if _, err := store.RevokeKey(ctx, rec.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if code := get(secret); code != 200 {
		t.Errorf("revoked, not yet refreshed: %d, want 200 (revocation waits for the refresh)", code)
	}
	if err := cache.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if code := get(secret); code != 401 {
		t.Errorf("revoked key after refresh: %d, want 401", code)
	}
}

package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/splitcast/splitcast/api"
	"github.com/splitcast/splitcast/api/tracking"
)

// TestLinkDomainsAllowList: with link domains set, /v1/links refuses
// other hosts and /v1/render leaves them untracked, listing them in
// not_allowed; hosts are compared, and redirected to, in punycode, so that
// a look-alike in another script is not the allowed host (issue 16, item
// 6: any sdk key could mint a redirect to any host).
func TestLinkDomainsAllowList(t *testing.T) {
	domains, err := tracking.NewDomains([]string{"example.com", "bücher.example"})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, nil, func(c *api.Config) { c.LinkDomains = domains })
	h.must(t, 201, "POST", "/v1/experiments", hAdmin, exampleDef(t, "links"))
	h.must(t, 200, "POST", "/v1/experiments/links/start", hAdmin, "")
	a := h.must(t, 200, "POST", "/v1/assign", hSDK, `{"experiment":"links","unit_id":"u-1"}`)
	var asg struct{ Token string }
	if err := json.Unmarshal(a.body, &asg); err != nil || asg.Token == "" {
		t.Fatalf("assign = %s", a.body)
	}
	for _, tc := range []struct {
		url, location string // location "" for refused
	}{
		{"https://example.com/a", "https://example.com/a"},
		{"https://shop.EXAMPLE.com/b?x=1", "https://shop.example.com/b?x=1"},
		{"https://BÜCHER.example/c", "https://xn--bcher-kva.example/c"},
		{"https://evil.example/", ""},
		{"https://example.com.evil.example/", ""},
		{"https://ex\u0430mple.com/", ""}, // a Cyrillic а
	} {
		l := h.call(t, "POST", "/v1/links", hSDK, fmt.Sprintf(`{"token":%q,"urls":[%q]}`, asg.Token, tc.url))
		if tc.location == "" {
			if _, field, _ := l.err(); l.status != 400 || field != "urls[0]" {
				t.Errorf("links(%q) = %d %s, want 400 on urls[0]", tc.url, l.status, l.body)
			}
			continue
		}
		var out struct {
			Links []struct {
				TrackedURL string `json:"tracked_url"`
			}
		}
		if err := json.Unmarshal(l.body, &out); l.status != 200 || err != nil || len(out.Links) != 1 {
			t.Errorf("links(%q) = %d %s, want a tracked URL", tc.url, l.status, l.body)
			continue
		}
		c := h.request(t, httptest.NewRequest("GET", strings.TrimPrefix(out.Links[0].TrackedURL, "https://sc.example"), nil))
		if c.status != http.StatusFound || c.header.Get("Location") != tc.location {
			t.Errorf("click on links(%q) = %d to %q, want 302 to %q", tc.url, c.status, c.header.Get("Location"), tc.location)
		}
	}

	r := h.must(t, 200, "POST", "/v1/render", hSDK, fmt.Sprintf(`{"token":%q,"html":%q}`, asg.Token,
		`<a href="https://example.com/ok">ok</a> <a href="https://evil.example/x">x</a>`))
	var rendered struct {
		HTML       string   `json:"html"`
		Untracked  []string `json:"untracked"`
		NotAllowed []string `json:"not_allowed"`
	}
	if err := json.Unmarshal(r.body, &rendered); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rendered.HTML, `href="https://evil.example/x"`) || strings.Contains(rendered.HTML, `href="https://example.com/ok"`) ||
		len(rendered.NotAllowed) != 1 || rendered.NotAllowed[0] != "https://evil.example/x" || len(rendered.Untracked) != 1 {
		t.Errorf("render = %s, want example.com tracked, evil.example left as it was and listed in not_allowed", r.body)
	}
}

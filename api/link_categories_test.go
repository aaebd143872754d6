package api_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/api/tracking"
)

// TestLinkCategories: POST /v1/links and POST /v1/render take a category per
// link (400 naming the field when it is bad); a person's click on such a
// link feeds the unit's interests.top_categories, and a machine's click
// (a scanner within seconds of the send, a bot user agent) never does,
// though both are recorded as clicks.
func TestLinkCategories(t *testing.T) {
	s := trStart(t)
	if code := s.do(t, "POST", "/v1/experiments", trAdmin, supportExperiment, nil); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	if code := s.do(t, "POST", "/v1/experiments/support-note/start", trAdmin, "", nil); code != http.StatusOK {
		t.Fatalf("start: %d", code)
	}
	const unit = "lc-1"
	// A send of an hour ago, signed with the server's key as its
	// assignment would have been: its clicks are a person's.
	keys, err := tracking.NewKeyring(1, map[uint8][]byte{1: []byte("traits-test-token-key-0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	old, err := keys.Open(tracking.Claims{Experiment: "support-note", Version: 1, Segment: "rest", Variant: "a",
		Unit: unit, SendID: "send-old", Channel: "email", IssuedAt: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var fresh struct {
		Token string `json:"token"`
	}
	if code := s.do(t, "POST", "/v1/assign", trSDK, `{"experiment":"support-note","unit_id":"`+unit+`","channel":"email"}`, &fresh); code != 200 || fresh.Token == "" {
		t.Fatalf("assign: %d %+v", code, fresh)
	}

	for _, tc := range []struct{ body, field string }{
		{`{"token":"` + old + `","urls":["https://shop.example/a","https://shop.example/b"],"categories":["shoes"]}`, "categories"},
		{`{"token":"` + old + `","urls":["https://shop.example/a","https://shop.example/b"],"categories":["shoes","x\u0001y"]}`, "categories[1]"},
		{`{"token":"` + old + `","urls":["https://shop.example/a"],"categories":["` + strings.Repeat("c", tracking.MaxCategoryLen+1) + `"]}`, "categories[0]"},
		{`{"token":"` + old + `","html":"<a href=\"https://shop.example/a\" data-category=\"` + strings.Repeat("c", tracking.MaxCategoryLen+1) + `\">a</a>"}`, "html"},
	} {
		var e struct {
			Error struct{ Field, Message string }
		}
		path := "/v1/links"
		if strings.Contains(tc.body, `"html"`) {
			path = "/v1/render"
		}
		if code := trDoErr(t, s.base+path, trSDK, tc.body, &e); code != http.StatusBadRequest || e.Error.Field != tc.field {
			t.Errorf("POST %s %s = %d field %q (%s), want 400 field %q", path, tc.body, code, e.Error.Field, e.Error.Message, tc.field)
		}
	}

	type links struct {
		Links []struct {
			URL, Category string
			TrackedURL    string `json:"tracked_url"`
		} `json:"links"`
	}
	var human, scanned links
	if code := s.do(t, "POST", "/v1/links", trSDK, `{"token":"`+old+`","urls":["https://shop.example/shoes","https://shop.example/home"],"categories":["shoes",""]}`, &human); code != 200 ||
		len(human.Links) != 2 || human.Links[0].Category != "shoes" || human.Links[1].Category != "" {
		t.Fatalf("POST /v1/links = %d %+v", code, human)
	}
	if code := s.do(t, "POST", "/v1/links", trSDK, `{"token":"`+fresh.Token+`","urls":["https://shop.example/bags"],"categories":["bags"]}`, &scanned); code != 200 || len(scanned.Links) != 1 {
		t.Fatalf("POST /v1/links (fresh send) = %d %+v", code, scanned)
	}
	var rendered struct {
		HTML  string `json:"html"`
		Links []struct{ URL, Category string }
	}
	html := `<p><a data-category="hats" href="https://shop.example/hats">hats</a> <a href="https://shop.example/shoes2" data-category="shoes">more</a></p>`
	body, _ := json.Marshal(map[string]string{"token": old, "html": html})
	if code := s.do(t, "POST", "/v1/render", trSDK, string(body), &rendered); code != 200 || len(rendered.Links) != 2 ||
		rendered.Links[0].Category != "hats" || rendered.Links[1].Category != "shoes" {
		t.Fatalf("POST /v1/render = %d %+v", code, rendered)
	}
	hrefs := regexp.MustCompile(`href="([^"]+)"`).FindAllStringSubmatch(rendered.HTML, -1)
	if len(hrefs) != 2 {
		t.Fatalf("rendered HTML has %d hrefs: %s", len(hrefs), rendered.HTML)
	}
	const browser = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	click := func(url, ua string) {
		t.Helper()
		req, err := http.NewRequest("GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("User-Agent", ua)
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("GET %s = %d, want 302", url, resp.StatusCode)
		}
	}
	// Machines: a scanner clicks the fresh send's link within seconds of
	// it; a bot fetches the rendered hats link.
	click(scanned.Links[0].TrackedURL, browser)
	click(strings.ReplaceAll(hrefs[0][1], "&amp;", "&"), "Googlebot/2.1 (+http://www.google.com/bot.html)")
	// The person: the shoes link twice (from /v1/links, then the rendered
	// one), and a link without a category.
	click(human.Links[0].TrackedURL, browser)
	click(human.Links[1].TrackedURL, browser)
	click(strings.ReplaceAll(hrefs[1][1], "&amp;", "&"), browser)

	top := func() []string {
		v, _ := s.cache.Computed(unit)["trait.interests.top_categories"].([]string)
		return v
	}
	s.waitRefreshAfter(t, "the clicks", func() bool { return s.count("click") == 5 && len(top()) > 0 })
	if got := top(); !slices.Equal(got, []string{"shoes"}) {
		t.Errorf("interests.top_categories after the clicks = %q, want [shoes]: machine clicks (bags, hats) never count", got)
	}
	var ut struct {
		Computed map[string]any `json:"computed"`
	}
	if code := s.do(t, "GET", "/v1/units/"+unit+"/traits", trRead, "", &ut); code != 200 {
		t.Fatalf("GET traits: %d", code)
	}
	if got, _ := ut.Computed["trait.interests.top_categories"].([]any); len(got) != 1 || got[0] != "shoes" {
		t.Errorf("GET /v1/units/%s/traits: top_categories %v, want [shoes]", unit, ut.Computed["trait.interests.top_categories"])
	}
}

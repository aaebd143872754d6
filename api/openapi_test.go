package api_test

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/splitcast/splitcast/api"
)

// openAPIDoc is the part of the OpenAPI document the tests read.
type openAPIDoc struct {
	OpenAPI string                                 `json:"openapi"`
	Paths   map[string]map[string]openAPIOperation `json:"paths"`
}

type openAPIOperation struct {
	Security  []map[string][]string      `json:"security"`
	Responses map[string]json.RawMessage `json:"responses"`
}

// pendingRoutes are documented routes that another change is adding to the
// router: absent, they are not an error; present, they are checked like any
// other. Delete an entry once its route has landed.
var pendingRoutes = map[string]bool{}

// openAPIPath turns a Fiber route into an OpenAPI path: ":param" and
// ":param?" become "{param}", a wildcard "*" becomes "{path}", and a
// trailing slash goes (Fiber matches without it).
func openAPIPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		switch {
		case strings.HasPrefix(s, ":"):
			segs[i] = "{" + strings.TrimRight(s[1:], "?+*") + "}"
		case s == "*" || s == "+":
			segs[i] = "{path}"
		}
	}
	out := strings.Join(segs, "/")
	if len(out) > 1 {
		out = strings.TrimSuffix(out, "/")
	}
	return out
}

func loadOpenAPI(t *testing.T, s *api.Server) openAPIDoc {
	t.Helper()
	resp, body := do(t, s, "GET", "/openapi.json", "", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var doc openAPIDoc
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json: version %q, want 3.x", doc.OpenAPI)
	}
	return doc
}

// TestOpenAPIMatchesRoutes fails on any route the document does not
// describe and on any documented route the router lacks.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	s, _, _ := newAuthServer(t, api.Config{CORSOrigins: []string{"*"}})
	doc := loadOpenAPI(t, s)
	routes := map[string]bool{}
	for _, r := range s.App().GetRoutes(true) {
		if r.Method == http.MethodHead {
			continue // Fiber adds HEAD to every GET
		}
		if strings.HasPrefix(r.Path, "/console") {
			continue // the console's pages and forms are for browsers, not the API (api/console)
		}
		routes[r.Method+" "+openAPIPath(r.Path)] = true
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	var missing, ghosts []string
	for r := range routes {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for d := range documented {
		if !routes[d] && !pendingRoutes[d] {
			ghosts = append(ghosts, d)
		}
	}
	sort.Strings(missing)
	sort.Strings(ghosts)
	for _, r := range missing {
		t.Errorf("route %s is not in api/openapi.json", r)
	}
	for _, d := range ghosts {
		t.Errorf("api/openapi.json documents %s, which no route serves", d)
	}
	for d := range pendingRoutes {
		if routes[d] {
			t.Logf("%s has landed: it can leave pendingRoutes", d)
		}
	}
}

// TestOpenAPIScopes checks what the document says of each operation's auth
// against the server: a documented scope answers 401 without a key and 403
// with a key lacking it; a public operation never asks for a key. Each
// authenticated operation documents 401 and 403, every operation a success.
func TestOpenAPIScopes(t *testing.T) {
	s, _, _ := newAuthServer(t, api.Config{})
	doc := loadOpenAPI(t, s)
	routes := map[string]bool{}
	for _, r := range s.App().GetRoutes(true) {
		routes[r.Method+" "+openAPIPath(r.Path)] = true
	}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			method = strings.ToUpper(method)
			name := method + " " + path
			if !routes[name] {
				continue // pending: TestOpenAPIMatchesRoutes reports the rest
			}
			target := strings.NewReplacer("{key}", "welcome", "{file}", "x.gif", "{path}", "", "{segment}", "pro",
				"{variant}", "short", "{token}", "x", "{unit}", "u1").Replace(path)
			body := ""
			if method == "POST" || method == "PUT" {
				body = "{}"
			}
			success := false
			for code := range op.Responses {
				success = success || code[0] == '2' || code[0] == '3'
			}
			if !success {
				t.Errorf("%s documents no success response", name)
			}
			if len(op.Security) == 0 {
				if resp, b := do(t, s, method, target, "", body); resp.StatusCode == 401 || resp.StatusCode == 403 {
					t.Errorf("%s is documented public but answers %d %.200s", name, resp.StatusCode, b)
				}
				continue
			}
			scopes := op.Security[0]["bearer"]
			if len(scopes) != 1 {
				t.Errorf("%s: security %v, want one bearer scope", name, op.Security)
				continue
			}
			for _, code := range []string{"401", "403"} {
				if op.Responses[code] == nil {
					t.Errorf("%s does not document %s", name, code)
				}
			}
			_, lacks := keyFor(scopes[0])
			if resp, b := do(t, s, method, target, "", body); resp.StatusCode != 401 || errorCode(b) != "unauthorized" {
				t.Errorf("%s without a key: %d %.200s, want 401 unauthorized", name, resp.StatusCode, b)
			}
			if resp, b := do(t, s, method, target, lacks, body); resp.StatusCode != 403 || errorCode(b) != "forbidden" {
				t.Errorf("%s with a key lacking %s: %d %.200s, want 403 forbidden", name, scopes[0], resp.StatusCode, b)
			}
		}
	}
}

func TestOpenAPIPath(t *testing.T) {
	for in, want := range map[string]string{
		"/v1/experiments/":        "/v1/experiments",
		"/v1/experiments/:key":    "/v1/experiments/{key}",
		"/a/:b/c/:d?":             "/a/{b}/c/{d}",
		"/debug/pprof/*":          "/debug/pprof/{path}",
		"/":                       "/",
		"/o/:file":                "/o/{file}",
		"/v1/units/:unit/traits":  "/v1/units/{unit}/traits",
		"/experiments/:key/":      "/experiments/{key}",
		"/v1/experiments/:key/rx": "/v1/experiments/{key}/rx",
	} {
		if got := openAPIPath(in); got != want {
			t.Errorf("openAPIPath(%q) = %q, want %q", in, got, want)
		}
	}
}

package api_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/api"
)

// bulkHeaders opens a bulk stream on addr with a chunked body, sends the
// headers and first, and returns the connection.
func bulkHeaders(t *testing.T, addr, key, first string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /v1/assign/bulk?experiment=idle HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n", key)
	if first != "" {
		fmt.Fprintf(conn, "%x\r\n%s\r\n", len(first), first)
	}
	return conn
}

// TestBulkIdleStreamClosed: a bulk stream that stops sending is closed
// after the idle timeout with its complete lines answered and a last line
// saying why; one that never sent a line too; and a key over its cap of
// open streams is answered 429 (issue 16, item 3: such streams were held
// open forever, each with its goroutines).
func TestBulkIdleStreamClosed(t *testing.T) {
	h := newHarness(t, nil, func(c *api.Config) {
		c.BulkIdleTimeout = 300 * time.Millisecond
		c.BulkStreamsPerKey = 2
	})
	h.must(t, 201, "POST", "/v1/experiments", hAdmin, exampleDef(t, "idle"))
	h.must(t, 200, "POST", "/v1/experiments/idle/start", hAdmin, "")
	addr := strings.TrimPrefix(h.listen(t), "http://")

	t.Run("idle after two lines", func(t *testing.T) {
		conn := bulkHeaders(t, addr, hSDK, "{\"unit_id\":\"a\"}\n{\"unit_id\":\"b\"}\n{\"unit_id\":\"c")
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		start := time.Now()
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("stream not closed by the server %v after its last byte: %v (read %q)", time.Since(start), err, body)
		}
		lines := strings.Split(strings.TrimSpace(string(body)), "\n")
		if len(lines) != 3 || !strings.Contains(lines[0], `"token"`) || !strings.Contains(lines[1], `"token"`) ||
			!strings.Contains(lines[2], "idle") {
			t.Errorf("idle stream answered %q, want two answers and an idle error line", body)
		}
	})
	t.Run("headers only", func(t *testing.T) {
		conn := bulkHeaders(t, addr, hSDK, "")
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(conn)
		if err != nil {
			t.Fatalf("stream of headers only not closed by the server: %v (read %q)", err, b)
		}
	})
	t.Run("cap per key", func(t *testing.T) {
		for range 2 {
			bulkHeaders(t, addr, hSDK, "{\"unit_id\":\"a\"}\n")
		}
		time.Sleep(100 * time.Millisecond) // both streams are open
		a := h.call(t, "POST", "/v1/assign/bulk?experiment=idle", hSDK, "{\"unit_id\":\"a\"}\n")
		if a.status != http.StatusTooManyRequests {
			t.Errorf("third bulk stream of one key = %d %s, want 429", a.status, a.body)
		}
	})
}

// TestLargestTrackedURLServed: a click URL signed with the largest values
// the API accepts (a 64-character experiment key, a 255-byte unit and send
// id, a 2,048-byte destination) redirects behind 8 KiB of browser headers
// on a real listener (issue 16, item 5: it was signed, then refused with
// 431 by fasthttp's 4 KiB read buffer).
func TestLargestTrackedURLServed(t *testing.T) {
	h := newHarness(t, nil, nil)
	key := "k" + strings.Repeat("x", 63)
	h.must(t, 201, "POST", "/v1/experiments", hAdmin, exampleDef(t, key))
	h.must(t, 200, "POST", "/v1/experiments/"+key+"/start", hAdmin, "")
	a := h.must(t, 200, "POST", "/v1/assign", hSDK, fmt.Sprintf(`{"experiment":%q,"unit_id":%q,"send_id":%q}`,
		key, strings.Repeat("u", 255), strings.Repeat("s", 255)))
	var asg struct{ Token string }
	if err := json.Unmarshal(a.body, &asg); err != nil || asg.Token == "" {
		t.Fatalf("assign = %s: %v", a.body, err)
	}
	dest := "https://example.com/" + strings.Repeat("p", 2048-len("https://example.com/"))
	l := h.must(t, 200, "POST", "/v1/links", hSDK, fmt.Sprintf(`{"token":%q,"urls":[%q]}`, asg.Token, dest))
	var links struct {
		Links []struct {
			TrackedURL string `json:"tracked_url"`
		} `json:"links"`
	}
	if err := json.Unmarshal(l.body, &links); err != nil || len(links.Links) != 1 {
		t.Fatalf("links = %s: %v", l.body, err)
	}
	tracked := links.Links[0].TrackedURL
	base := h.listen(t)
	req, _ := http.NewRequest("GET", base+strings.TrimPrefix(tracked, "https://sc.example"), nil)
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36")
	req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8")
	req.Header.Set("Accept-Language", "en-GB,en;q=0.9,de;q=0.8")
	req.Header.Set("Cookie", "session="+strings.Repeat("c", 8<<10-600))
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != dest {
		t.Errorf("GET the %d-character tracked URL = %d (Location %.40q), want 302 to the destination", len(tracked), resp.StatusCode, resp.Header.Get("Location"))
	}
}

package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/splitcast/splitcast/analytics/results"
)

// TestFatiguePageAndCSV: the report page, rendered by a real headless
// Chromium, and the CSV show the fatigue section (messages per unit per
// arm, the unsubscribe and complaint rates beside the primary metric, the
// suppressed units per arm by reason) and the per-channel breakdown, each
// equal to a hand count of what the test sent and signalled.
func TestFatiguePageAndCSV(t *testing.T) {
	e := newConsoleEnv(t, "-cap-per-channel", "1/24h")
	c := e.api
	c.mustCall(t, http.StatusCreated, "POST", "/v1/experiments", devAdminKey, []byte(multiChannelExperiment), nil)
	c.mustCall(t, http.StatusOK, "POST", "/v1/experiments/one-voice/start", devAdminKey, []byte(`{"reason":"page test"}`), nil)

	// Every unit gets one email and one push, then a second of each
	// within the day: capped, except the push of a unit that unsubscribed
	// from push after the first (every fourth) and the email of one that
	// complained about the first (every fifth).
	type hand struct{ units, unsubs, complaints, capped int64 }
	counts := map[string]*hand{"control": {}, "bold": {}}
	const n = 60
	for i := range n {
		u := fmt.Sprint("page-", i)
		email := assignUnit(t, c, "one-voice", u, "first-email", "email")
		push := assignUnit(t, c, "one-voice", u, "first-push", "push")
		if email.Suppressed != nil || push.Suppressed != nil || email.Variant != push.Variant {
			t.Fatalf("%s: first sends %+v and %+v", u, email, push)
		}
		h := counts[email.Variant]
		h.units++
		if i%4 == 0 {
			postEvents(t, c, map[string]any{"kind": "unsubscribe", "token": push.Token})
			h.unsubs++
		}
		if i%5 == 0 {
			postEvents(t, c, map[string]any{"kind": "complaint", "token": email.Token})
			h.complaints++
		}
		capped := false
		for _, ch := range []string{"email", "push"} {
			want := "frequency_cap"
			switch {
			case ch == "push" && i%4 == 0:
				want = "unsubscribed"
			case ch == "email" && i%5 == 0:
				want = "complained"
			default:
				capped = true
			}
			if got := assignUnit(t, c, "one-voice", u, "second-"+ch, ch).why(); got != want {
				t.Fatalf("%s: second %s suppressed %q, want %q", u, ch, got, want)
			}
		}
		if capped {
			h.capped++
		}
	}
	var r struct {
		Segments []struct {
			Arms []struct {
				Counts struct {
					Unsubscribes, Complaints struct{ Units int64 }
				} `json:"counts"`
			} `json:"arms"`
		} `json:"segments"`
		Fatigue struct {
			Arms []struct {
				Variant         string `json:"variant"`
				SuppressedUnits int64  `json:"suppressed_units"`
				Messages        int64  `json:"messages"`
			} `json:"arms"`
		} `json:"fatigue"`
	}
	waitUntil(t, time.Now(), 15*time.Second, func() string {
		c.mustCall(t, http.StatusOK, "GET", "/v1/experiments/one-voice/results", devReadKey, nil, &r)
		var sup, msgs int64
		for _, a := range r.Fatigue.Arms {
			sup, msgs = sup+a.SuppressedUnits, msgs+a.Messages
		}
		if sup != n || msgs != 2*n {
			return fmt.Sprintf("report: %d suppressed units and %d messages, want %d and %d", sup, msgs, n, 2*n)
		}
		var unsubs, complaints int64
		for _, s := range r.Segments {
			for _, a := range s.Arms {
				unsubs, complaints = unsubs+a.Counts.Unsubscribes.Units, complaints+a.Counts.Complaints.Units
			}
		}
		if want := counts["control"].unsubs + counts["bold"].unsubs; unsubs != want {
			return fmt.Sprintf("report: %d unsubscribers, want %d", unsubs, want)
		}
		if want := counts["control"].complaints + counts["bold"].complaints; complaints != want {
			return fmt.Sprintf("report: %d complainers, want %d", complaints, want)
		}
		return ""
	})
	rate := func(k, of int64) string { return results.FormatValue(false, float64(k)/float64(of)) }

	// The page, as the browser renders it.
	type pageRow struct {
		Segment, Variant string
		Cells            []string
	}
	var head []string
	var rows []pageRow
	var channels []string
	var pushUnits, pushUnsub map[string]string
	e.run(t, "report page", chromedp.Navigate(e.base+"/experiments/one-voice?key="+devReadKey),
		chromedp.WaitVisible(chromedp.CSS("#fatigue-table")),
		eval(`[...document.querySelectorAll("#fatigue-table thead th")].map(th => th.textContent.trim())`, &head),
		eval(`[...document.querySelectorAll("#fatigue-table tbody tr")].map(tr => ({Segment: tr.dataset.segment, Variant: tr.dataset.variant, Cells: [...tr.cells].map(td => td.innerText.trim())}))`, &rows),
		eval(`[...document.querySelectorAll("section.channel")].map(s => s.dataset.channel)`, &channels),
		eval(`Object.fromEntries([...document.querySelectorAll('section.channel[data-channel="push"] tbody tr')].map(tr => [tr.dataset.variant, tr.querySelector(".c-units").innerText.trim()]))`, &pushUnits),
		eval(`Object.fromEntries([...document.querySelectorAll('section.channel[data-channel="push"] tbody tr')].map(tr => [tr.dataset.variant, tr.querySelector('[data-metric="unsubscribe_rate"]').innerText.split("\n")[0].trim()]))`, &pushUnsub))
	if dir := os.Getenv("SPLITCAST_SCREENSHOTS"); dir != "" {
		// The whole page, and the screen that starts at the fatigue section.
		var png, top []byte
		e.run(t, "screenshot", into(&png, chromedp.FullScreenshot(100)),
			eval(`document.getElementById("fatigue").scrollIntoView()`, new(any)), into(&top, chromedp.CaptureScreenshot()))
		for name, b := range map[string][]byte{"report-fatigue.png": png, "report-fatigue-top.png": top} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.ToLower(h)] = i
	}
	for _, name := range []string{"messages", "per unit", "conversion rate", "unsubscribe rate", "complaint rate", "suppressed units", "frequency_cap", "unsubscribed"} {
		if _, ok := col[name]; !ok {
			t.Fatalf("fatigue table header %q lacks %q", head, name)
		}
	}
	if len(rows) != 2 {
		t.Fatalf("fatigue table rows %+v, want one per variant", rows)
	}
	for _, row := range rows {
		h := counts[row.Variant]
		cell := func(name string) string { return row.Cells[col[name]] }
		want := map[string]string{
			"messaged units": fmt.Sprint(h.units), "messages": fmt.Sprint(2 * h.units), "per unit": "2.00",
			"unsubscribe rate": rate(h.unsubs, h.units), "complaint rate": rate(h.complaints, h.units),
			"suppressed units": fmt.Sprint(h.units), "suppressed share": "50.0%",
			"frequency_cap": fmt.Sprint(h.capped), "unsubscribed": fmt.Sprint(h.unsubs),
			"complained": fmt.Sprint(h.complaints), "global_control": "0",
		}
		for name, w := range want {
			if got := cell(name); got != w {
				t.Errorf("page, fatigue, %s: %s = %q, want %q", row.Variant, name, got, w)
			}
		}
	}
	if strings.Join(channels, ",") != "email,push" {
		t.Errorf("page channel sections %v, want email and push", channels)
	}
	for v, h := range counts {
		if pushUnits[v] != fmt.Sprint(h.units) || pushUnsub[v] != rate(h.unsubs, h.units) {
			t.Errorf("page, push, %s: %s units, unsubscribe rate %s; want %d and %s", v, pushUnits[v], pushUnsub[v], h.units, rate(h.unsubs, h.units))
		}
	}

	// The CSV: the total rows carry the arm's fatigue columns, the
	// channel rows each metric per channel.
	status, body := c.call(t, "GET", "/v1/experiments/one-voice/results?format=csv", devReadKey, nil)
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if status != http.StatusOK || err != nil || len(recs) < 2 {
		t.Fatalf("CSV: %d, %v, %d records", status, err, len(recs))
	}
	idx := map[string]int{}
	for i, h := range recs[0] {
		idx[h] = i
	}
	perChannel := map[string]int{}
	for _, rec := range recs[1:] {
		get := func(name string) string { return rec[idx[name]] }
		h := counts[get("variant")]
		switch ch := get("channel"); ch {
		case "":
			want := map[string]string{"messaged_units": fmt.Sprint(h.units), "messages": fmt.Sprint(2 * h.units), "messages_per_unit": "2",
				"suppressed_units": fmt.Sprint(h.units), "suppressed_share": "0.5", "suppressed_frequency_cap": fmt.Sprint(h.capped),
				"suppressed_unsubscribed": fmt.Sprint(h.unsubs), "suppressed_complained": fmt.Sprint(h.complaints), "suppressed_global_control": "0"}
			for name, w := range want {
				if got := get(name); got != w {
					t.Errorf("CSV total, %s %s: %s = %q, want %q", get("variant"), get("metric"), name, got, w)
				}
			}
		default:
			perChannel[ch]++
			if get("exposed") != fmt.Sprint(h.units) || get("messages") != "" || get("srm") != "" {
				t.Errorf("CSV %s row %v: exposed %s (want %d), fatigue and SRM columns should be empty", ch, rec, get("exposed"), h.units)
			}
			if ch == "push" && get("metric") == "unsubscribe_rate" && get("numerator") != fmt.Sprint(h.unsubs) {
				t.Errorf("CSV push, %s: %s unsubscribers, want %d", get("variant"), get("numerator"), h.unsubs)
			}
		}
	}
	if want := 2 * len(results.ReportMetrics); perChannel["email"] != want || perChannel["push"] != want {
		t.Errorf("CSV channel rows %v, want %d per channel", perChannel, want)
	}

	// With ?breakdown=channel the same total and channel rows come first,
	// then the breakdown rows, which have no channel or fatigue cells.
	status, body = c.call(t, "GET", "/v1/experiments/one-voice/results?format=csv&breakdown=channel", devReadKey, nil)
	brecs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if status != http.StatusOK || err != nil || len(brecs) <= len(recs) {
		t.Fatalf("CSV with breakdown: %d, %v, %d records (%d without)", status, err, len(brecs), len(recs))
	}
	for i, rec := range recs {
		if got := strings.Join(brecs[i], ","); got != strings.Join(rec, ",") {
			t.Errorf("CSV with breakdown, record %d = %s, want %s", i, got, strings.Join(rec, ","))
		}
	}
	byValue := map[string]int{}
	for _, rec := range brecs[len(recs):] {
		get := func(name string) string { return rec[idx[name]] }
		if get("breakdown") != "channel" || get("channel") != "" || get("messaged_units") != "" || get("suppressed_global_control") != "" {
			t.Errorf("CSV breakdown row %v: want breakdown channel, no channel or fatigue cells", rec)
		}
		byValue[get("breakdown_value")]++
	}
	if want := 2 * len(results.ReportMetrics); byValue["email"] != want || byValue["push"] != want {
		t.Errorf("CSV breakdown rows by channel %v, want %d per channel", byValue, want)
	}
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
)

// fatigueRefresh is the trait (and so fatigue) refresh interval of the
// fatigue tests' servers, and fatigueBound the time within which a send or
// a signal on one server is known to the other: it reaches ClickHouse
// within the flush interval (1s by default), and the other server reads it
// at its next refresh; two seconds more absorb the insert itself and a
// loaded machine.
const (
	fatigueRefresh = time.Second
	fatigueBound   = time.Second + fatigueRefresh + 2*time.Second
)

// fatigueAnswer is the part of an assign answer the fatigue tests read.
type fatigueAnswer struct {
	Line         int    `json:"line"`
	Segment      string `json:"segment"`
	Variant      string `json:"variant"`
	InExperiment bool   `json:"in_experiment"`
	Holdout      bool   `json:"holdout"`
	Reason       string `json:"reason"`
	Token        string `json:"token"`
	Payload      json.RawMessage
	Suppressed   *struct {
		Reason  string `json:"reason"`
		Channel string `json:"channel"`
		Cap     *struct {
			Name       string    `json:"name"`
			Limit      int       `json:"limit"`
			Window     string    `json:"window"`
			EligibleAt time.Time `json:"eligible_at"`
		} `json:"cap"`
	} `json:"suppressed"`
	Error *errorDetailJSON `json:"error"`
}

type errorDetailJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

// why is the answer's suppression reason, "" when the unit is sent to.
func (a fatigueAnswer) why() string {
	if a.Suppressed == nil {
		return ""
	}
	return a.Suppressed.Reason
}

func fatigueClient(m *Main) apiClient {
	return apiClient{base: "http://" + m.Addr(), http: &http.Client{Timeout: 30 * time.Second}}
}

func assignUnit(tb testing.TB, c apiClient, key, unit, sendID, channel string) fatigueAnswer {
	tb.Helper()
	var a fatigueAnswer
	body := map[string]any{"experiment": key, "unit_id": unit, "send_id": sendID,
		"attributes": map[string]any{"plan": "free", "country": "US"}}
	if channel != "" {
		body["channel"] = channel
	}
	c.mustCall(tb, http.StatusOK, "POST", "/v1/assign", devSDKKey, body, &a)
	if a.Suppressed != nil && (a.Token != "" || a.Variant != "" || a.Reason != "suppressed") {
		tb.Fatalf("assign %s: suppressed answer with token %q, variant %q, reason %q", unit, a.Token, a.Variant, a.Reason)
	}
	return a
}

func postEvents(tb testing.TB, c apiClient, events ...map[string]any) {
	tb.Helper()
	c.mustCall(tb, http.StatusAccepted, "POST", "/v1/events", devSDKKey, map[string]any{"events": events}, nil)
}

// waitUntil polls check until it reports "" (and returns how long that
// took) or bound has passed since start (and fails the test).
func waitUntil(tb testing.TB, start time.Time, bound time.Duration, check func() string) time.Duration {
	tb.Helper()
	for {
		msg := check()
		if msg == "" {
			return time.Since(start)
		}
		if time.Since(start) > bound {
			tb.Fatalf("after %v (bound %v): %s", time.Since(start).Round(time.Millisecond), bound, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// countEvents counts the distinct events of a kind of unit in ClickHouse.
func countEvents(tb testing.TB, m *Main, key, unit, kind string) uint64 {
	tb.Helper()
	var n uint64
	if err := m.conn.QueryRow(context.Background(), `SELECT uniqExact(event_id) FROM events WHERE experiment = ? AND unit = ? AND kind = ?`,
		key, unit, kind).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// TestSuppressionTwoServers: an unsubscribe or a complaint sent to one
// server suppresses the unit at once there and within the bound on the
// other, for its channel only; a resubscribe lifts it the same way; a
// suppressed answer has no token and logs no exposure.
func TestSuppressionTwoServers(t *testing.T) {
	_, db := env.NewDatabase(t)
	a, _ := MustMain(t, db, "-trait-refresh", fatigueRefresh.String())
	b, _ := MustMain(t, db, "-trait-refresh", fatigueRefresh.String())
	ca, cb := fatigueClient(a), fatigueClient(b)
	key := startExample(t, ca)
	waitKnown(t, cb, key)

	const u = "fatigue-unsub"
	// suppressed are the send ids answered suppressed: none may have an
	// exposure.
	suppressed := map[string]bool{}
	send := func(c apiClient, channel string) fatigueAnswer {
		id := fmt.Sprint("s-", time.Now().UnixNano())
		got := assignUnit(t, c, key, u, id, channel)
		if got.why() != "" {
			suppressed[id] = true
		}
		return got
	}
	if got := assignUnit(t, ca, key, u, "s1", "email"); got.why() != "" || !got.InExperiment {
		t.Fatalf("before any signal: %+v", got)
	}
	postEvents(t, ca, map[string]any{"kind": "unsubscribe", "experiment": key, "unit_id": u, "channel": "email"})
	if got := send(ca, "email"); got.why() != "unsubscribed" || got.Suppressed.Channel != "email" {
		t.Fatalf("server A right after the unsubscribe: %+v", got)
	}
	// Another channel is not suppressed (the example sends email, but a
	// request may name its channel for the exposure).
	if got := assignUnit(t, ca, key, u, "s3", "push"); got.why() != "" {
		t.Fatalf("push after an email unsubscribe: %+v", got)
	}
	start := time.Now()
	d := waitUntil(t, start, fatigueBound, func() string {
		if got := send(cb, "email"); got.why() != "unsubscribed" {
			return fmt.Sprintf("server B answers %+v", got)
		}
		return ""
	})
	t.Logf("server B suppressed the unit %v after the unsubscribe on A (bound %v)", d.Round(time.Millisecond), fatigueBound)

	postEvents(t, cb, map[string]any{"kind": "resubscribe", "experiment": key, "unit_id": u, "channel": "email"})
	if got := assignUnit(t, cb, key, u, "s5", "email"); got.why() != "" {
		t.Fatalf("server B right after the resubscribe: %+v", got)
	}
	waitUntil(t, time.Now(), fatigueBound, func() string {
		if got := send(ca, "email"); got.why() != "" {
			return fmt.Sprintf("server A still answers %+v", got)
		}
		return ""
	})

	// A complaint through a token: the token's channel (email) is the
	// complaint's, and everything else about the arm comes with it.
	const v = "fatigue-complaint"
	var tok string
	for i := 0; tok == ""; i++ {
		got := assignUnit(t, ca, key, fmt.Sprint(v, i), "c1", "email")
		if got.Token != "" {
			tok = got.Token
			postEvents(t, ca, map[string]any{"kind": "complaint", "token": got.Token})
			if again := assignUnit(t, ca, key, fmt.Sprint(v, i), "c2", "email"); again.why() != "complained" {
				t.Fatalf("after a complaint: %+v", again)
			}
			waitUntil(t, time.Now(), fatigueBound, func() string {
				if got := assignUnit(t, cb, key, fmt.Sprint(v, i), "c3", "email"); got.why() != "complained" {
					return fmt.Sprintf("server B answers %+v after the complaint", got)
				}
				return ""
			})
		}
	}

	// No exposure for the suppressed answers, and a suppressed record for
	// each.
	waitUntil(t, time.Now(), 10*time.Second, func() string {
		if n := countEvents(t, a, key, u, "suppressed"); n < uint64(len(suppressed)) {
			return fmt.Sprintf("%d suppressed records of %s stored, want %d", n, u, len(suppressed))
		}
		return ""
	})
	rows, err := a.conn.Query(context.Background(), `SELECT DISTINCT send_id FROM events WHERE experiment = ? AND unit = ? AND kind = 'exposure'`, key, u)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var sent int
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		if suppressed[s] {
			t.Errorf("send %s was answered suppressed but has an exposure", s)
		}
		sent++
	}
	if sent < 3 {
		t.Errorf("%d exposures of %s, want the 3 or more sends answered before and after", sent, u)
	}
}

// waitKnown waits until c's server assigns experiment key (its snapshot
// refresh).
func waitKnown(tb testing.TB, c apiClient, key string) {
	tb.Helper()
	waitUntil(tb, time.Now(), 10*time.Second, func() string {
		if status, _ := c.call(tb, "POST", "/v1/assign", devSDKKey, map[string]any{"experiment": key, "unit_id": "probe"}); status != http.StatusOK {
			return fmt.Sprintf("the server answers %d", status)
		}
		return ""
	})
}

// bulkSend sends lines through bulk assignment and returns the answers,
// failing on any error line.
func bulkSend(tb testing.TB, c apiClient, key string, lines []string) []fatigueAnswer {
	tb.Helper()
	status, data := c.call(tb, "POST", "/v1/assign/bulk?experiment="+key, devSDKKey, []byte(strings.Join(lines, "\n")+"\n"))
	if status != http.StatusOK {
		tb.Fatalf("bulk assign = %d %s", status, data)
	}
	var out []fatigueAnswer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var a fatigueAnswer
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil || a.Error != nil {
			tb.Fatalf("bulk line %d: %s (%v)", len(out)+1, sc.Bytes(), err)
		}
		out = append(out, a)
	}
	if len(out) != len(lines) {
		tb.Fatalf("bulk: %d answers for %d lines", len(out), len(lines))
	}
	return out
}

func capLines(prefix, send string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(`{"unit_id":"%s-%d","send_id":"%s","channel":"email","attributes":{"plan":"free","country":"US"}}`, prefix, i, send)
	}
	return out
}

// TestCapsTwoServers sends one list through two servers at once, as two
// senders behind a load balancer might: with a cap of 1 email per day,
// each server admits each unit at most once itself, so a unit gets at most
// 2 (the cap plus the other server's overshoot, (servers-1) x the sends a
// server admits before it reads the other's). Within the bound after, both
// servers answer every unit frequency_cap, with when it is eligible again.
// Sends spaced by the bound never overshoot.
func TestCapsTwoServers(t *testing.T) {
	_, db := env.NewDatabase(t)
	args := []string{"-trait-refresh", fatigueRefresh.String(), "-cap-per-channel", "1/24h", "-cap-total", "3/168h"}
	a, _ := MustMain(t, db, args...)
	b, _ := MustMain(t, db, args...)
	ca, cb := fatigueClient(a), fatigueClient(b)
	key := startExample(t, ca)
	waitKnown(t, cb, key)

	const n = 300
	first := time.Now()
	var wg sync.WaitGroup
	answers := make([][]fatigueAnswer, 2)
	for i, c := range []apiClient{ca, cb} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = bulkSend(t, c, key, capLines("cap", fmt.Sprint("first-", i), n))
		}()
	}
	wg.Wait()
	admitted := make([]int, n)
	for _, as := range answers {
		for i, x := range as {
			if x.why() == "" {
				admitted[i]++
			} else if x.why() != "frequency_cap" {
				t.Fatalf("concurrent send of cap-%d: %+v", i, x)
			}
		}
	}
	over := 0
	for i, k := range admitted {
		switch {
		case k == 0:
			t.Fatalf("cap-%d was admitted by neither server", i)
		case k == 2:
			over++
		}
	}
	t.Logf("concurrent bulk sends of %d units on two servers: %d units sent twice (the overshoot), %d once", n, over, n-over)

	// Every unit is capped on both servers within the bound, holdout
	// units too (they count as messages).
	d := waitUntil(t, time.Now(), fatigueBound, func() string {
		for s, c := range []apiClient{ca, cb} {
			for i, x := range bulkSend(t, c, key, capLines("cap", fmt.Sprint("second-", s, "-", time.Now().UnixNano()), n)) {
				if x.why() != "frequency_cap" {
					return fmt.Sprintf("server %d answers cap-%d %+v", s, i, x)
				}
				cp := x.Suppressed.Cap
				if cp == nil || cp.Name != "per_channel" || cp.Limit != 1 || cp.EligibleAt.Before(first.Add(24*time.Hour-2*time.Second)) ||
					cp.EligibleAt.After(time.Now().Add(24*time.Hour+time.Second)) {
					return fmt.Sprintf("server %d: cap-%d capped as %+v, want per_channel 1, eligible a day after its first send", s, i, cp)
				}
			}
		}
		return ""
	})
	t.Logf("both servers capped every unit %v after the sends (bound %v)", d.Round(time.Millisecond), fatigueBound)

	// The store agrees: at most 2 exposures per unit.
	var worst uint64
	if err := a.conn.QueryRow(context.Background(), `SELECT max(c) FROM (SELECT unit, uniqExact(event_id) AS c FROM events
		WHERE experiment = ? AND kind = 'exposure' AND startsWith(unit, 'cap-') GROUP BY unit)`, key).Scan(&worst); err != nil {
		t.Fatal(err)
	}
	if worst > 2 {
		t.Fatalf("a unit has %d exposures under a cap of 1 on two servers", worst)
	}

	// Spaced by the bound, a second server never overshoots.
	bulkSend(t, ca, key, capLines("spaced", "one", 100))
	time.Sleep(fatigueBound)
	for i, x := range bulkSend(t, cb, key, capLines("spaced", "two", 100)) {
		if x.why() != "frequency_cap" {
			t.Fatalf("spaced-%d sent again by server B %v after server A: %+v", i, fatigueBound, x)
		}
	}
}

// TestCapsEqualAcrossArms: units capped by another experiment's sends are
// suppressed in this one whatever their arm, the holdout included, so that
// the suppressed share is the same in every arm; the report's fatigue
// section counts them per arm as a hand count (the arms computed from the
// snapshot with the same assign code) does.
func TestCapsEqualAcrossArms(t *testing.T) {
	_, db := env.NewDatabase(t)
	m, _ := MustMain(t, db, "-cap-total", "1/24h")
	c := fatigueClient(m)
	var def map[string]any
	if err := json.Unmarshal(exampleExperiment(t), &def); err != nil {
		t.Fatal(err)
	}
	create := func(key string, holdout float64) {
		def["key"], def["holdout"] = key, holdout
		c.mustCall(t, http.StatusCreated, "POST", "/v1/experiments", devAdminKey, def, nil)
		c.mustCall(t, http.StatusOK, "POST", "/v1/experiments/"+key+"/start", devAdminKey, []byte(`{"reason":"fatigue test"}`), nil)
	}
	create("fatigue-before", 5)
	create("fatigue-main", 30)

	const n = 4000
	var even []string
	for i := 0; i < n; i += 2 {
		even = append(even, fmt.Sprintf(`{"unit_id":"arm-%d","send_id":"b","attributes":{"plan":"free","country":"US"}}`, i))
	}
	// A held-out unit's assignment counts as a message, as a treated
	// unit's does: those held out of the first experiment are capped in
	// the second like the others.
	heldOut := map[int]bool{}
	for i, x := range bulkSend(t, c, "fatigue-before", even) {
		if x.Holdout {
			heldOut[2*i] = true
		}
	}
	if len(heldOut) == 0 {
		t.Fatal("no unit held out of fatigue-before: the holdout's messages go untested")
	}
	all := capLines("arm", "m", n)
	got := bulkSend(t, c, "fatigue-main", all)
	for i, x := range got {
		if want := i%2 == 0; (x.why() == "frequency_cap") != want {
			t.Fatalf("arm-%d in the main experiment (held out of the first: %v): %+v, suppressed want %v", i, heldOut[i], x, want)
		}
	}

	// The would-be arms, by hand, from the running definition.
	var snap snapshotJSON
	c.mustCall(t, http.StatusOK, "GET", "/v1/snapshot", devSDKKey, nil, &snap)
	var main experiment.Experiment
	for _, e := range snap.Experiments {
		if e.Key == "fatigue-main" {
			main = e
		}
	}
	comp, err := assign.Compile(main)
	if err != nil {
		t.Fatal(err)
	}
	hand := map[string][2]int64{} // arm -> suppressed, assigned
	for i := range n {
		x, err := comp.Assign(fmt.Sprint("arm-", i), assign.Attributes{"plan": "free", "country": "US"})
		if err != nil {
			t.Fatal(err)
		}
		h := hand[x.Arm()]
		if i%2 == 0 {
			h[0]++
		}
		h[1]++
		hand[x.Arm()] = h
	}

	var r struct {
		Fatigue struct {
			Arms []struct {
				Segment         string           `json:"segment"`
				Variant         string           `json:"variant"`
				MessagedUnits   int64            `json:"messaged_units"`
				SuppressedUnits int64            `json:"suppressed_units"`
				Suppressed      map[string]int64 `json:"suppressed"`
				SuppressedShare float64          `json:"suppressed_share"`
				MessagesPerUnit float64          `json:"messages_per_unit"`
			} `json:"arms"`
		} `json:"fatigue"`
	}
	waitUntil(t, time.Now(), 15*time.Second, func() string {
		c.mustCall(t, http.StatusOK, "GET", "/v1/experiments/fatigue-main/results", devReadKey, nil, &r)
		var sup, sent int64
		for _, a := range r.Fatigue.Arms {
			sup, sent = sup+a.SuppressedUnits, sent+a.MessagedUnits
		}
		if sup != n/2 || sent != n/2 { // both, as the flush may land one before the other
			return fmt.Sprintf("report counts %d suppressed and %d messaged units, want %d each", sup, sent, n/2)
		}
		return ""
	})
	var chi float64
	var arms int
	for _, a := range r.Fatigue.Arms {
		if a.Segment != "everyone" {
			continue
		}
		h := hand[a.Variant]
		if a.Suppressed["frequency_cap"] != h[0] || a.SuppressedUnits+a.MessagedUnits != h[1] {
			t.Errorf("arm %s: report %d suppressed of %d, hand count %d of %d", a.Variant, a.SuppressedUnits, a.SuppressedUnits+a.MessagedUnits, h[0], h[1])
		}
		if a.MessagedUnits > 0 && a.MessagesPerUnit != 1 {
			t.Errorf("arm %s: %v messages per unit, want 1", a.Variant, a.MessagesPerUnit)
		}
		// Chi-square of homogeneity, suppressed against sent, against
		// the pooled share of one half.
		exp := float64(h[1]) / 2
		chi += sq(float64(h[0])-exp)/exp + sq(float64(h[1]-h[0])-exp)/exp
		arms++
		t.Logf("arm %s: suppressed share %.3f of %d", a.Variant, a.SuppressedShare, h[1])
	}
	if arms != 4 {
		t.Fatalf("%d arms of segment everyone in the fatigue section, want 3 variants and the holdout", arms)
	}
	if p := 1 - (distuv.ChiSquared{K: float64(arms - 1)}).CDF(chi); p < 0.001 {
		t.Fatalf("suppressed shares differ across arms: chi-square %.2f, p = %.2g", chi, p)
	}
}

func sq(x float64) float64 { return x * x }

type snapshotJSON struct {
	Experiments []experiment.Experiment `json:"experiments"`
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/analytics/clickhouse/chserver"
)

// TestCrashLosesNothingAnswered runs a bulk assignment stream and a stream
// of POST /v1/events batches against a real `splitcast serve`, SIGKILLs
// the process at a random moment, starts it again on the same data folder,
// and checks that every exposure whose answer the client read, and every
// event of a batch answered 202, is in ClickHouse exactly once (one
// distinct event id per send, per event). It repeats this
// SPLITCAST_CRASH_RUNS times (5 by default; `make faulttest` runs 20).
func TestCrashLosesNothingAnswered(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash test takes about 5s a run")
	}
	runs := 5
	if n, err := strconv.Atoi(os.Getenv("SPLITCAST_CRASH_RUNS")); err == nil && n > 0 {
		runs = n
	}
	ctx := context.Background()
	dir := t.TempDir()
	bin := buildSplitcast(t, dir)
	ch, err := chserver.Start(ctx, chserver.Config{Dir: filepath.Join(dir, "clickhouse")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Stop() })
	p := &serveProcess{t: t, bin: bin, dir: dir, addr: freeAddr(t), chAddr: ch.Addr(), db: "crash"}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.kill)
	conn, err := clickhouse.Open(ctx, clickhouse.Options{Addr: ch.Addr(), Database: "crash"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := apiClient{base: "http://" + p.addr, http: &http.Client{Timeout: 30 * time.Second}}
	key := startExample(t, c)

	for run := range runs {
		prefix := fmt.Sprintf("r%d-", run)
		load := &crashLoad{base: c.base, key: key, prefix: prefix}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { load.bulk(stop) })
		for w := range 3 {
			wg.Go(func() { load.postEvents(stop, w) })
		}
		after := 300*time.Millisecond + rand.N(1500*time.Millisecond)
		time.Sleep(after)
		p.sigkill()
		close(stop)
		wg.Wait()
		sends, events := load.answered()
		if len(sends) == 0 || len(events) == 0 {
			t.Fatalf("run %d: killed after %v with %d exposures and %d events answered: the load did not get going", run, after, len(sends), len(events))
		}
		if err := p.start(); err != nil {
			t.Fatal(err)
		}
		// The restarted process moves the journal to the spool and
		// replays it; wait for it to land.
		var got map[string]uint64
		deadline := time.Now().Add(90 * time.Second)
		for {
			got = crashStored(t, conn, prefix)
			if crashMissing(got, sends, events) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Logf("run %d: SIGKILL after %v: %d exposures and %d events answered, %d stored", run, after.Round(time.Millisecond), len(sends), len(events), len(got))
		for _, k := range append(sends, events...) {
			if got[k] != 1 {
				t.Errorf("run %d: %s answered, %d distinct events in ClickHouse, want 1", run, k, got[k])
			}
		}
		if t.Failed() {
			t.Logf("serve log:\n%s", p.logTail())
			return
		}
	}
}

// crashStored returns, per send id of an exposure and per unit of a
// conversion of this run, how many distinct events ClickHouse holds.
func crashStored(tb testing.TB, conn driver.Conn, prefix string) map[string]uint64 {
	tb.Helper()
	rs, err := conn.Query(context.Background(), `SELECT if(kind = 'exposure', concat('x/', send_id), concat('e/', unit)) AS k, uniqExact(event_id)
		FROM events WHERE (kind = 'exposure' AND startsWith(send_id, ?)) OR (kind = 'conversion' AND startsWith(unit, ?)) GROUP BY k`, prefix, prefix)
	if err != nil {
		tb.Fatal(err)
	}
	defer rs.Close()
	out := map[string]uint64{}
	for rs.Next() {
		var k string
		var n uint64
		if err := rs.Scan(&k, &n); err != nil {
			tb.Fatal(err)
		}
		out[k] = n
	}
	return out
}

func crashMissing(got map[string]uint64, lists ...[]string) int {
	n := 0
	for _, l := range lists {
		for _, k := range l {
			if got[k] == 0 {
				n++
			}
		}
	}
	return n
}

// crashLoad is the two streams of one run and what the server answered.
type crashLoad struct {
	base, key, prefix string

	mu     sync.Mutex
	sends  []string // "x/" + send id of each answered exposure
	events []string // "e/" + unit of each event of an accepted batch
}

func (l *crashLoad) answered() (sends, events []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sends, l.events
}

// bulk streams send list lines until stop or the server dies, recording
// each answer it reads.
func (l *crashLoad) bulk(stop <-chan struct{}) {
	pr, pw := io.Pipe()
	go func() {
		defer pw.Close()
		var b bytes.Buffer
		for i := 0; ; i++ {
			fmt.Fprintf(&b, `{"unit_id":"%su%d","send_id":"%s%d","attributes":{"plan":"free"}}`+"\n", l.prefix, i, l.prefix, i)
			if i%64 == 63 {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := pw.Write(b.Bytes()); err != nil {
					return
				}
				b.Reset()
			}
		}
	}()
	req, _ := http.NewRequest("POST", l.base+"/v1/assign/bulk?experiment="+l.key, pr)
	req.Header.Set("Authorization", "Bearer "+devSDKKey)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		pr.CloseWithError(err)
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var a struct {
			SendID       string `json:"send_id"`
			InExperiment bool   `json:"in_experiment"`
		}
		if json.Unmarshal(sc.Bytes(), &a) == nil && a.InExperiment && a.SendID != "" {
			l.mu.Lock()
			l.sends = append(l.sends, "x/"+a.SendID)
			l.mu.Unlock()
		}
	}
	pr.CloseWithError(io.ErrClosedPipe)
}

// postEvents posts batches of 50 conversions until stop or the server dies,
// recording the events of every batch answered 202.
func (l *crashLoad) postEvents(stop <-chan struct{}, worker int) {
	client := &http.Client{Timeout: 10 * time.Second}
	for b := 0; ; b++ {
		select {
		case <-stop:
			return
		default:
		}
		var body bytes.Buffer
		var units []string
		body.WriteString(`{"events":[`)
		for j := range 50 {
			unit := fmt.Sprintf("%sw%d-b%d-%d", l.prefix, worker, b, j)
			if j > 0 {
				body.WriteByte(',')
			}
			fmt.Fprintf(&body, `{"id":%q,"kind":"conversion","experiment":%q,"unit_id":%q,"value":1}`, unit, l.key, unit)
			units = append(units, "e/"+unit)
		}
		body.WriteString(`]}`)
		req, _ := http.NewRequest("POST", l.base+"/v1/events", &body)
		req.Header.Set("Authorization", "Bearer "+devSDKKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return // the server is gone
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusAccepted {
			l.mu.Lock()
			l.events = append(l.events, units...)
			l.mu.Unlock()
		}
	}
}

package clickhouse

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics/results"
)

// A read of an experiment's units from the rollups (UnitReader without
// dimensions) counts its units alike: per arm, how many units had each
// distinct (outcomes, covariates), a few thousand entries for millions of
// units, which is all CUPED needs (stats.CUPEDArm.W). Counting every
// unit's latest row on every read would cost a row per unit, as the
// report's sums would (see statesums.go), so the reader keeps the counts
// the same way: as of a mark, with a read taking off and adding back only
// the units with rows written since. The counts are kept per experiment
// and window, and saved to report_sums (kind: the entries' name and the
// window) once a minute, like the report's sums: a reader new to them
// starts from the latest saved, and reads them whole only when none was.

// The same is done for the per-channel section (ChannelReader), where a
// unit stands for each channel it was reached on, its entry the channel,
// its arm there and what it did, and for the fatigue section's messages
// (FatigueReader.ArmFatigue), a unit's entry per arm its exposures there.

// unitSumsKey names one set of kept counts.
type unitSumsKey struct {
	experiment string
	window     uint32 // seconds
}

// unitSums are the counts of an experiment's units alike as of mark.
type unitSums[E comparable] struct {
	mark   time.Time
	counts map[E]int64
	saved  time.Time // the mark of the counts this reader last saved
}

// savedEntry is an entry and its count as report_sums holds them (JSON).
type savedEntry[E comparable] struct {
	E E     `json:"e"`
	N int64 `json:"n"`
}

// keptCounts are the counts a reader keeps, by experiment and window.
type keptCounts[E comparable] struct {
	mu   sync.Mutex // one read at a time
	sums map[unitSumsKey]*unitSums[E]
}

// entryQuery is how a kind of entry is read: its columns (entry, named
// keys) from columns of unit_state, and an ARRAY JOIN clause of them when
// a unit has several entries (else ""); fields are the destinations of
// keys in an entry.
type entryQuery[E comparable] struct {
	name      string // in report_sums' kind
	columns   []string
	compare   func(a, b E) int // orders entries, so that sums of them come out the same every read
	entry     string
	keys      string
	arrayJoin string
	fields    func(e *E) []any
}

// unitEntry is a kind of unit: its arm, outcomes and covariates.
type unitEntry struct {
	Arm    uint64
	Y, X   [5]uint8
	YV, XV float64
}

// unitColumns are unit_state's columns a units read takes, and
// channelColumns a channel read's.
var (
	unitColumns    = []string{"arm", "p", "uvalue", "pre", "pre_gaps", "pre_values"}
	channelColumns = []string{"p", "uvalue", "ch_names", "ch_arms", "ch_flags"}
)

// unitEntryColumns are a unitEntry's columns from unitColumns, for a
// window of w seconds: the outcomes from the unit's counts (p), the
// covariates as migration 0015 keeps them (a kind whose last event before
// the exposure is at most w before it; the conversions at most w before
// it).
func unitEntryColumns(w uint32) string {
	var y, x []string
	for i, k := range aggregateKinds {
		h := slices.Index(packedColumns(), "h_"+string(k)) + 1
		y = append(y, fmt.Sprintf("toUInt8(p[%d] > 0) AS y%d", h, i))
		x = append(x, fmt.Sprintf("toUInt8(pre[%[1]d] > 0 AND pre[%[1]d] <= %[2]d) AS x%[3]d", i+1, w, i))
	}
	return "arm, " + strings.Join(y, ", ") + ", uvalue AS yv, " + strings.Join(x, ", ") +
		fmt.Sprintf(", arraySum(arrayFilter((v, g) -> g <= %d, pre_values, pre_gaps)) AS xv", w)
}

// unitEntryKeys are unitEntryColumns' names.
const unitEntryKeys = "arm, y0, y1, y2, y3, y4, yv, x0, x1, x2, x3, x4, xv"

// touched counts, per tag, the entries of the experiment's units with rows
// written since the kept mark (touchedRows, and its parameters).
func (q entryQuery[E]) touched() string {
	return q.count(touchedRows(strings.Join(q.columns, ", "), q.columns))
}

// whole counts the entries of the experiment's units as of a mark, in
// wholeRows' tags (and with its parameters).
func (q entryQuery[E]) whole() string {
	return q.count(wholeRows(strings.Join(q.columns, ", "), q.columns))
}

// count counts the entries of rows, per tag.
func (q entryQuery[E]) count(rows string) string {
	return fmt.Sprintf(`SELECT tag, %s, count()
	FROM (
		SELECT tag, %s
		FROM (%s)
		%s
	)
	GROUP BY tag, %s`, q.keys, q.entry, rows, q.arrayJoin, q.keys) + localIn
}

// unitEntries reads unitEntry.
func unitEntries(w uint32) entryQuery[unitEntry] {
	return entryQuery[unitEntry]{name: "units", columns: unitColumns, compare: func(a, b unitEntry) int {
		return cmp.Or(cmp.Compare(a.Arm, b.Arm), slices.Compare(a.Y[:], b.Y[:]), cmp.Compare(a.YV, b.YV),
			slices.Compare(a.X[:], b.X[:]), cmp.Compare(a.XV, b.XV))
	}, entry: unitEntryColumns(w), keys: unitEntryKeys,
		fields: func(e *unitEntry) []any {
			d := []any{&e.Arm}
			for i := range e.Y {
				d = append(d, &e.Y[i])
			}
			d = append(d, &e.YV)
			for i := range e.X {
				d = append(d, &e.X[i])
			}
			return append(d, &e.XV)
		}}
}

// rolledUnits is Units without dimensions, from the rollups.
func (r *UnitReader) rolledUnits(ctx context.Context, key string, preDays int) ([]results.Unit, error) {
	w := uint32(preDays) * 86400
	counts, names, err := readKept(ctx, r.conn, r.Rollups, &r.kept, unitSumsKey{key, w}, unitEntries(w))
	if err != nil {
		return nil, fmt.Errorf("units: %w", err)
	}
	out := make([]results.Unit, 0, len(counts))
	for _, c := range counts {
		e, n := c.E, c.N
		name, ok := names[e.Arm]
		if !ok {
			return nil, fmt.Errorf("units: experiment %s has units in arm %d, which has no name", key, e.Arm)
		}
		out = append(out, results.Unit{Segment: name[0], Variant: name[1],
			Outcome: metricsOf(e.Y, e.YV), Pre: metricsOf(e.X, e.XV), N: n})
	}
	return out, nil
}

// readKept returns the counts of q's entries of the experiment k names in
// the rollups as last folded, in q's order, with the names of its arms,
// keeping them in kept for the next read. It does not fold: a report folds
// once, when it reads its aggregates (AggregateReader), and its sections
// then read what that fold wrote, so that all its numbers count the same
// events (a fold per section cost a report at 10M events three more folds
// of the same news).
func readKept[E comparable](ctx context.Context, conn driver.Conn, rollups *Rollups, kept *keptCounts[E], k unitSumsKey, q entryQuery[E]) ([]savedEntry[E], map[uint64][2]string, error) {
	kept.mu.Lock()
	defer kept.mu.Unlock()
	next, err := nextMarkOf(ctx, conn, "unit_state", rollups.Margin, rollups.FixedMargin)
	if err != nil {
		return nil, nil, err
	}
	next = next.Truncate(time.Second) // marks are whole seconds, like the rows' times
	sums := kept.sums[k]
	if sums == nil {
		if sums, err = savedEntries(ctx, conn, k, q); err != nil {
			return nil, nil, err
		}
	}
	if sums == nil {
		if sums, err = wholeEntries(ctx, conn, k.experiment, next, q); err != nil {
			return nil, nil, err
		}
	}
	if next.Before(sums.mark) {
		next = sums.mark // see AggregateReader.fromStates
	}
	var tagged [stateTagCount]map[E]int64
	old := uint32(sums.mark.Unix())
	args := []any{old, uint32(next.Unix()), k.experiment, k.experiment, old}
	err = readTail(ctx, conn, "unit_state", sums.mark, func(t tail) error {
		tagged = [stateTagCount]map[E]int64{}
		if t.empty() {
			return nil
		}
		return readEntries(ctx, conn, q, &tagged, strings.Replace(q.touched(), "{tail}", t.filter(), 1), args...)
	})
	if err != nil {
		return nil, nil, err
	}
	if kept.sums == nil {
		kept.sums = map[unitSumsKey]*unitSums[E]{}
	}
	kept.sums[k] = sums
	addEntries(sums.counts, tagged[tagOld], -1)
	addEntries(sums.counts, tagged[tagMid], 1)
	sums.mark = next
	if err := saveEntries(ctx, conn, k, q, sums); err != nil {
		return nil, nil, err
	}
	now := make(map[E]int64, len(sums.counts))
	addEntries(now, sums.counts, 1)
	addEntries(now, tagged[tagMid], -1)
	addEntries(now, tagged[tagNow], 1)
	// The arms' names after the rows: a fold names its arms before it
	// writes their units' rows, so every arm read has its name.
	names, err := armNames(ctx, conn, k.experiment)
	if err != nil {
		return nil, nil, err
	}
	return sortedEntries(now, q.compare), names, nil
}

// sortedEntries returns counts in the order of compare.
func sortedEntries[E comparable](counts map[E]int64, compare func(a, b E) int) []savedEntry[E] {
	out := make([]savedEntry[E], 0, len(counts))
	for e, n := range counts {
		out = append(out, savedEntry[E]{e, n})
	}
	slices.SortFunc(out, func(a, b savedEntry[E]) int { return compare(a.E, b.E) })
	return out
}

// maxSavedCounts bounds the counts saved to report_sums, in bytes of JSON:
// each distinct conversion value is an entry, so an experiment of many
// converters has many, and a row of tens of megabytes costs more to write
// each minute than a whole read after a restart.
const maxSavedCounts = 8 << 20

// sumsKind is report_sums' kind of q's counts for k.
func sumsKind[E comparable](k unitSumsKey, q entryQuery[E]) string {
	return fmt.Sprintf("%s/%d", q.name, k.window)
}

// savedEntries returns the latest counts any reader saved for k, nil if
// none.
func savedEntries[E comparable](ctx context.Context, conn driver.Conn, k unitSumsKey, q entryQuery[E]) (*unitSums[E], error) {
	var saved string
	var mark time.Time
	var n uint64
	sq := "SELECT argMax(sums, mark), max(mark), count() FROM report_sums WHERE experiment = ? AND kind = ?"
	if err := conn.QueryRow(ctx, sq, k.experiment, sumsKind(k, q)).Scan(&saved, &mark, &n); err != nil {
		return nil, fmt.Errorf("read saved counts: %w", translate(err))
	}
	if n == 0 {
		return nil, nil
	}
	var entries []savedEntry[E]
	if err := json.Unmarshal([]byte(saved), &entries); err != nil {
		return nil, fmt.Errorf("read saved counts: %w", err)
	}
	sums := &unitSums[E]{mark: mark, saved: mark, counts: make(map[E]int64, len(entries))}
	for _, e := range entries {
		sums.counts[e.E] += e.N
	}
	return sums, nil
}

// saveEntries writes sums to report_sums if the last save is older than
// saveEvery.
func saveEntries[E comparable](ctx context.Context, conn driver.Conn, k unitSumsKey, q entryQuery[E], sums *unitSums[E]) error {
	if sums.mark.Sub(sums.saved) < saveEvery {
		return nil
	}
	b, err := json.Marshal(sortedEntries(sums.counts, q.compare))
	if err != nil {
		return err
	}
	if len(b) > maxSavedCounts {
		// Kept in this process only; a reader new to them reads them whole.
		sums.saved = sums.mark
		return nil
	}
	// The counts are inlined in the query's text (18.16 has no binary
	// parameters), past ClickHouse's default limit of 256 KiB when many
	// units converted with distinct values (measured: 1.66M units at 6
	// events each).
	ctx = ch.Context(ctx, ch.WithSettings(ch.Settings{"max_query_size": len(b) + 1<<16}))
	iq := "INSERT INTO report_sums (experiment, kind, mark, sums) SELECT ?, ?, toDateTime(?), ?"
	if err := conn.Exec(ctx, iq, k.experiment, sumsKind(k, q), uint32(sums.mark.Unix()), string(b)); err != nil {
		return fmt.Errorf("save counts: %w", translate(err))
	}
	sums.saved = sums.mark
	return nil
}

// wholeEntries counts the experiment's entries as of mark.
func wholeEntries[E comparable](ctx context.Context, conn driver.Conn, key string, mark time.Time, q entryQuery[E]) (*unitSums[E], error) {
	// The units with several rows are grouped: past a GiB that goes to
	// disk rather than over ClickHouse's memory limit.
	ctx = ch.Context(ctx, ch.WithSettings(ch.Settings{"max_bytes_before_external_group_by": maxGroupByBytes}))
	m := uint32(mark.Unix())
	var tagged [stateTagCount]map[E]int64
	args := []any{key, m, key, m, key, m, key, m, key, m}
	if err := readEntries(ctx, conn, q, &tagged, q.whole(), args...); err != nil {
		return nil, err
	}
	sums := &unitSums[E]{mark: mark, counts: map[E]int64{}}
	addEntries(sums.counts, tagged[tagAll], 1)
	addEntries(sums.counts, tagged[tagSeveral], -1)
	addEntries(sums.counts, tagged[tagLatest], 1)
	return sums, nil
}

// readEntries adds the rows of query (tag, q's entry, count) to tagged.
func readEntries[E comparable](ctx context.Context, conn driver.Conn, q entryQuery[E], tagged *[stateTagCount]map[E]int64, query string, args ...any) error {
	rows, err := conn.Query(ctx, query, args...)
	if err != nil {
		return translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var tag uint8
		var n uint64
		var e E
		if err := rows.Scan(append(append([]any{&tag}, q.fields(&e)...), &n)...); err != nil {
			return fmt.Errorf("scan: %w", translate(err))
		}
		if int(tag) >= len(tagged) {
			return fmt.Errorf("a row of tag %d", tag)
		}
		if tagged[tag] == nil {
			tagged[tag] = map[E]int64{}
		}
		tagged[tag][e] += int64(n)
	}
	return translate(rows.Err())
}

// addEntries adds sign times the counts of from to to, dropping those
// that come to 0.
func addEntries[E comparable](to, from map[E]int64, sign int64) {
	for e, n := range from {
		to[e] += sign * n
		if to[e] == 0 {
			delete(to, e)
		}
	}
}

// armNames reads the names of the experiment's arms.
func armNames(ctx context.Context, conn driver.Conn, key string) (map[uint64][2]string, error) {
	rows, err := conn.Query(ctx, rollupArms, key)
	if err != nil {
		return nil, fmt.Errorf("arm names: %w", translate(err))
	}
	defer rows.Close()
	names := map[uint64][2]string{}
	for rows.Next() {
		var arm uint64
		var seg, variant string
		if err := rows.Scan(&arm, &seg, &variant); err != nil {
			return nil, fmt.Errorf("arm names: %w", translate(err))
		}
		names[arm] = [2]string{seg, variant}
	}
	return names, translate(rows.Err())
}

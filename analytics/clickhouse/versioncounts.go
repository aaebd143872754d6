package clickhouse

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/experiment"
)

// BanditAggregates is the results.AggregateReader of reports and loops
// when experiments may have bandit segments: Base's aggregates, and for an
// experiment with a bandit segment also its per-version counts
// (Aggregates.ByVersion, the strata of the phase-stratified estimates),
// read by VersionCounts. Experiments without one cost nothing more than a
// Store.Get.
type BanditAggregates struct {
	Base  results.AggregateReader
	Store experiment.Store
	conn  driver.Conn
}

var _ results.AggregateReader = (*BanditAggregates)(nil)

// NewBanditAggregates returns a reader of conn's database, adding per-version
// counts to base's aggregates of bandit experiments in store.
func NewBanditAggregates(conn driver.Conn, base results.AggregateReader, store experiment.Store) *BanditAggregates {
	return &BanditAggregates{Base: base, Store: store, conn: conn}
}

// Aggregates implements results.AggregateReader.
func (r *BanditAggregates) Aggregates(ctx context.Context, key string) (results.Aggregates, error) {
	agg, err := r.Base.Aggregates(ctx, key)
	if err != nil {
		return agg, err
	}
	e, err := r.Store.Get(ctx, key)
	if experiment.ErrorCode(err) == experiment.ENOTFOUND {
		return agg, nil
	}
	if err != nil {
		return agg, fmt.Errorf("aggregates of %s: %w", key, err)
	}
	for _, s := range e.Segments {
		if s.IsBandit() {
			agg.ByVersion, err = VersionCounts(ctx, r.conn, key)
			return agg, err
		}
	}
	return agg, nil
}

// versionCountsQuery is, per arm and version of first exposure, the human
// counts of the units first exposed with it, from the raw events, under
// the identity and intent-to-treat rules of results.Aggregates: one event
// per event_id (the copy received first), a unit's arm and version those
// of its first exposure (by time, ties broken by the low 32 bits of
// cityHash64(event_id)), every later event of the unit counted there.
// Machine-flagged events count nowhere here: the strata need only the
// human counts. It reads the raw events rather than the rollup because a
// bandit experiment's reports need it only for that experiment, and the
// rollup's layout is not this query's to depend on.
const versionCountsQuery = `
SELECT seg, var, fver, count() AS exposed, sum(multi) AS multi_arm,
	sum(h_open > 0), sum(h_open), sum(h_click > 0), sum(h_click),
	sum(h_conv > 0), sum(h_conv), sum(h_unsub > 0), sum(h_unsub), sum(h_compl > 0), sum(h_compl),
	sum(h_open > 0 AND h_click > 0), sum(uvalue), sum(uvalue * uvalue)
FROM (
	SELECT u,
		argMinIf(s, o, k = 'exposure') AS seg, argMinIf(v, o, k = 'exposure') AS var,
		argMinIf(ver, o, k = 'exposure') AS fver,
		minIf(a, k = 'exposure') != maxIf(a, k = 'exposure') AS multi,
		countIf(k = 'exposure') AS exposures,
		countIf(k = 'open' AND m = 0) AS h_open, countIf(k = 'click' AND m = 0) AS h_click,
		countIf(k = 'conversion' AND m = 0) AS h_conv, countIf(k = 'unsubscribe' AND m = 0) AS h_unsub,
		countIf(k = 'complaint' AND m = 0) AS h_compl,
		sumIf(val, k = 'conversion' AND m = 0) AS uvalue
	FROM (
		SELECT event_id, argMin(unit, received_at) AS u, argMin(kind, received_at) AS k,
			argMin(segment, received_at) AS s, argMin(variant, received_at) AS v,
			argMin(if(kind = 'exposure', cityHash64(segment, variant), 0), received_at) AS a,
			argMin(version, received_at) AS ver,
			argMin(toUInt64(time) * 4294967296 + cityHash64(event_id) % 4294967296, received_at) AS o,
			argMin(machine, received_at) AS m, argMin(value, received_at) AS val
		FROM events
		WHERE experiment = ?
		GROUP BY event_id
	)
	GROUP BY u
	HAVING exposures > 0
)
GROUP BY seg, var, fver
ORDER BY seg, var, fver`

// VersionCounts reads the per-version counts of experiment key from
// conn's events (see versionCountsQuery), ordered by segment, variant and
// version. Machine counts are left 0.
func VersionCounts(ctx context.Context, conn driver.Conn, key string) ([]results.VersionCounts, error) {
	rows, err := conn.Query(ctx, versionCountsQuery, key)
	if err != nil {
		return nil, fmt.Errorf("version counts of %s: %w", key, translate(err))
	}
	defer rows.Close()
	var out []results.VersionCounts
	for rows.Next() {
		var r struct {
			seg, v                                               string
			ver                                                  uint32
			exposed, multi                                       uint64
			ou, oe, cu, ce, vu, ve, uu, ue, pu, pe, openClickers uint64
			value, valueSq                                       float64
		}
		if err := rows.Scan(&r.seg, &r.v, &r.ver, &r.exposed, &r.multi, &r.ou, &r.oe, &r.cu, &r.ce,
			&r.vu, &r.ve, &r.uu, &r.ue, &r.pu, &r.pe, &r.openClickers, &r.value, &r.valueSq); err != nil {
			return nil, fmt.Errorf("version counts of %s: scan: %w", key, translate(err))
		}
		kc := func(units, events uint64) results.KindCounts {
			return results.KindCounts{Units: int64(units), Events: int64(events)}
		}
		out = append(out, results.VersionCounts{Segment: r.seg, Variant: r.v, Version: r.ver, Counts: results.Counts{
			Exposed: int64(r.exposed), MultiArm: int64(r.multi),
			Opens: kc(r.ou, r.oe), Clicks: kc(r.cu, r.ce), Conversions: kc(r.vu, r.ve),
			Unsubscribes: kc(r.uu, r.ue), Complaints: kc(r.pu, r.pe),
			OpenClickers: int64(r.openClickers), Value: r.value, ValueSumSq: r.valueSq,
		}})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("version counts of %s: %w", key, translate(err))
	}
	return out, nil
}

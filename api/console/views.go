package console

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
)

type listQuery struct{ Status, Channel, Search string }

type listPage struct {
	Query              listQuery
	Rows               []listRow
	Statuses, Channels []string
}

// listRow is one experiment in the list, with its report's headline
// numbers: all of them read from retire.Report, none recomputed here.
type listRow struct {
	E        experiment.Experiment
	Variants int
	Exposed  int64
	Leaders  []leader
	Warnings []string
	// ReportError says why there are no numbers (no event store, a draft).
	ReportError string
	LastRetired string
}

// leader is a segment's best arm on the primary metric (the retirement
// evaluation's Best) and whether the always-valid tests against every
// other active arm are all significant after Holm.
type leader struct {
	Segment, Variant string
	Significant      bool
}

type detailPage struct {
	E       experiment.Experiment
	Row     listRow
	Actions actions
}

type jsonPage struct{ Key, JSON string }

type formPage struct {
	F        draftForm
	New      bool
	Traits   []traitOption
	Ops      []struct{ Op, Label string }
	Metrics  []experiment.Metric
	Channels []string
}

// listRows lists the experiments that match q, each with its report
// summary (reports are read four at a time).
func (c *Console) listRows(ctx context.Context, q listQuery) ([]listRow, error) {
	f := experiment.Filter{Status: experiment.Status(q.Status), Channel: experiment.Channel(q.Channel)}
	if f.Status != "" && !f.Status.Valid() {
		f.Status = ""
	}
	exps, err := c.cfg.Store.List(ctx, f)
	if err != nil {
		return nil, err
	}
	search := strings.ToLower(q.Search)
	var rows []listRow
	for _, e := range exps {
		if search == "" || strings.Contains(strings.ToLower(e.Key), search) || strings.Contains(strings.ToLower(e.Name), search) {
			rows = append(rows, listRow{E: e})
		}
	}
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i := range rows {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			rows[i] = c.summarize(ctx, rows[i].E)
			<-sem
		}()
	}
	wg.Wait()
	return rows, nil
}

// summarize is an experiment's list row.
func (c *Console) summarize(ctx context.Context, e experiment.Experiment) listRow {
	row := listRow{E: e}
	for _, s := range e.Segments {
		row.Variants += len(s.Variants)
	}
	if e.Status == experiment.StatusDraft {
		row.ReportError = "draft: no data yet"
		return row
	}
	if c.cfg.Report == nil {
		row.ReportError = "no event store"
		return row
	}
	r, history, err := c.cfg.Report(ctx, e.Key)
	if err != nil {
		row.ReportError = experiment.ErrorMessage(err)
		return row
	}
	if r.SRM {
		row.Warnings = append(row.Warnings, "sample ratio mismatch: automatic retirement is blocked")
	}
	for _, s := range r.Segments {
		for _, a := range s.Arms {
			row.Exposed += a.Counts.Exposed
		}
		for _, b := range s.Retirement.Blocked {
			if strings.HasPrefix(b, "guardrail breach") || strings.HasPrefix(b, "sample ratio mismatch") {
				row.Warnings = append(row.Warnings, s.Key+": "+b)
			}
		}
		if s.Retirement.Best != "" {
			row.Leaders = append(row.Leaders, leader{Segment: s.Key, Variant: s.Retirement.Best, Significant: significant(s, r.Alpha)})
		}
	}
	for i := len(history) - 1; i >= 0; i-- {
		if v := history[i]; v.Action == experiment.ActionRetire {
			row.LastRetired = fmt.Sprintf("v%d %s by %s: %s", v.Version, v.CreatedAt.Format("2006-01-02 15:04"), v.Author, firstLine(v.Reason))
			break
		}
	}
	return row
}

// significant reports whether the segment's best arm beats every other
// active arm under the always-valid test, Holm-adjusted, at alpha.
func significant(s results.SegmentReport, alpha float64) bool {
	best, n := s.Retirement.Best, 0
	for _, p := range s.Retirement.Pairs {
		if p.A != best && p.B != best {
			continue
		}
		n++
		if !p.Look.Defined || p.PValueHolm >= alpha {
			return false
		}
	}
	return n > 0
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

type historyPage struct {
	Key      string
	Versions []historyRow
}

type historyRow struct {
	experiment.Version
	Changes []change
}

type change struct{ Field, Old, New string }

// historyOf is every version, newest first, with its changes from the one
// before (experiment.Diff).
func historyOf(key string, vs []experiment.Version) historyPage {
	p := historyPage{Key: key}
	for i := len(vs) - 1; i >= 0; i-- {
		row := historyRow{Version: vs[i]}
		if i > 0 {
			for _, ch := range experiment.Diff(vs[i-1].Definition, vs[i].Definition) {
				row.Changes = append(row.Changes, change{Field: ch.Field, Old: rawText(ch.Old), New: rawText(ch.New)})
			}
		}
		p.Versions = append(p.Versions, row)
	}
	return p
}

type previewPage struct {
	E      experiment.Experiment
	Health results.Health
	Rows   []previewRow
}

type previewRow struct {
	results.SegmentHealth
	Days string
	// Units is how many units of the window fall in the segment, "" when
	// that cannot be known.
	Units string
}

// previewOf shows results.SegmentHealthOf: the units per day of each
// segment from the traits of the last 30 days, the sample per arm for the
// policy's MDE (stats' power function) and the days to a decision.
func previewOf(e experiment.Experiment, h results.Health) previewPage {
	p := previewPage{E: e, Health: h}
	for _, s := range h.Segments {
		row := previewRow{SegmentHealth: s, Days: "cannot know", Units: "cannot know"}
		if !strings.HasPrefix(s.TrafficSource, "unknown") {
			row.Units = fmt.Sprintf("%.0f", s.UnitsPerDay*previewDays)
		}
		if s.DaysNeeded != nil {
			row.Days = fmt.Sprintf("%.1f", *s.DaysNeeded)
		}
		p.Rows = append(p.Rows, row)
	}
	return p
}

type lookupPage struct {
	E          experiment.Experiment
	Unit       string
	Attributes string
	Error      string
	X          *assign.Explanation
	// Draft is set when the lookup ran on the definition, not the
	// running snapshot (a draft or paused experiment assigns nobody).
	Draft bool
	// UnitTraits are all the unit's computed traits, read or not.
	UnitTraits map[string]any
}

// explainUnit runs the dry-run assignment of a unit: on the running
// snapshot when e is running, else on e compiled (what it would do once
// started).
func explainUnit(snap *assign.Snapshot, src Traits, e experiment.Experiment, unit, attrs string) lookupPage {
	p := lookupPage{E: e, Unit: unit, Attributes: attrs}
	var a assign.Attributes
	if s := strings.TrimSpace(attrs); s != "" {
		if err := json.Unmarshal([]byte(s), &a); err != nil {
			p.Error = "attributes: want a JSON object, like {\"plan\": \"pro\"}: " + err.Error()
			return p
		}
	}
	var traits assign.TraitSource
	if src != nil {
		traits = src
		if unit != "" {
			p.UnitTraits = src.Traits(unit).Attributes()
		}
	}
	var x assign.Explanation
	var err error
	if e.Status == experiment.StatusRunning {
		x, err = snap.Explain(e.Key, unit, a, traits)
	} else {
		p.Draft = true
		var comp *assign.Compiled
		if comp, err = assign.Compile(e); err == nil {
			x, err = comp.Explain(unit, a, traits)
		}
	}
	if err != nil {
		p.Error = experiment.ErrorMessage(err)
		if f := experiment.ErrorField(err); f != "" {
			p.Error = label(f) + ": " + p.Error
		}
		return p
	}
	p.X = &x
	return p
}

package main

import (
	"context"
	"encoding/json"

	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/analytics/fatigue"
	"github.com/splitcast/splitcast/analytics/ingest"
	"github.com/splitcast/splitcast/experiment"
)

// fatiguePolicy is the deployment's fatigue policy from the config.
func (c Config) fatiguePolicy() (fatigue.Policy, error) {
	var p fatigue.Policy
	var err error
	if p.Total, err = fatigue.ParseCap(c.CapTotal); err != nil {
		return p, bad("SPLITCAST_CAP_TOTAL (-cap-total)", "%v", err)
	}
	if p.PerChannel, err = fatigue.ParseCap(c.CapPerChannel); err != nil {
		return p, bad("SPLITCAST_CAP_PER_CHANNEL (-cap-per-channel)", "%v", err)
	}
	if err := json.Unmarshal([]byte(c.GlobalControl), &p.GlobalControl); err != nil {
		return p, bad("SPLITCAST_GLOBAL_CONTROL (-global-control)", "%q: want a percent with at most two decimals", c.GlobalControl)
	}
	p.GlobalControlSalt = c.GlobalControlSalt
	if err := p.Validate(); err != nil {
		return p, bad("SPLITCAST_CAP_*/SPLITCAST_GLOBAL_CONTROL", "%s: %s", experiment.ErrorField(err), experiment.ErrorMessage(err))
	}
	return p, nil
}

func (c Config) validateFatigue() error {
	_, err := c.fatiguePolicy()
	return err
}

// startFatigue makes the server's fatigue gate, loads its state once (an
// outage leaves it to the background refresh: the server's own answers
// still count meanwhile) and refreshes it on the trait refresh's schedule.
func (m *Main) startFatigue(ctx, bg context.Context) (*fatigue.Gate, error) {
	p, err := m.Config.fatiguePolicy()
	if err != nil {
		return nil, err
	}
	reader := clickhouse.NewFatigueReader(m.conn)
	if m.Config.ClickHouseCluster != "" {
		reader.FixedMargin, reader.Margin = true, clickhouse.TraitMargin(ingest.DefaultWriteTimeout)
	}
	g := fatigue.NewGate(fatigue.Config{Policy: p, Reader: reader, Interval: m.Config.TraitRefresh, Logger: m.logger, Now: m.now})
	if err := g.Refresh(ctx); err != nil {
		m.logger.Warn("load fatigue state: refreshing in the background", "err", err)
	}
	go g.Run(bg)
	return g, nil
}

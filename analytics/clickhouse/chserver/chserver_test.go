package chserver_test

import (
	"context"
	"testing"

	"github.com/splitcast/splitcast/analytics/clickhouse/chserver"
)

func TestStartStopRestart(t *testing.T) {
	ctx := context.Background()
	s, err := chserver.Start(ctx, chserver.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer s.Stop()
	if err := chserver.Ping(ctx, s.HTTPAddr()); err != nil {
		t.Fatalf("Ping after Start: %v", err)
	}
	if err := s.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if err := chserver.Ping(ctx, s.HTTPAddr()); err == nil {
		t.Fatalf("Ping after Kill succeeded, want an error")
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if err := chserver.Ping(ctx, s.HTTPAddr()); err != nil {
		t.Fatalf("Ping after Restart: %v", err)
	}
}

func TestStopPIDFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := chserver.Start(ctx, chserver.Config{Dir: dir, Detached: true})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer s.Stop()
	if err := chserver.StopPIDFile(dir, 0); err != nil {
		t.Fatalf("StopPIDFile: %v", err)
	}
	if err := chserver.Ping(ctx, s.HTTPAddr()); err == nil {
		t.Fatalf("Ping after StopPIDFile succeeded, want an error")
	}
}

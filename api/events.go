package api

import (
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/experiment"
)

// eventIn is one server-side event: a conversion, an unsubscribe, a
// complaint or a custom event. ID or IdempotencyKey makes a retried event
// count once; the arm comes from Token when given, and otherwise from the
// unit's first exposure when the report is built.
type eventIn struct {
	ID             string     `json:"id"`
	IdempotencyKey string     `json:"idempotency_key"`
	Kind           string     `json:"kind"`
	Experiment     string     `json:"experiment"`
	UnitID         string     `json:"unit_id"`
	Token          string     `json:"token"`
	Name           string     `json:"name"`
	Value          *float64   `json:"value"`
	Time           *time.Time `json:"time"`
}

type eventsRequest struct {
	Events []eventIn `json:"events"`
}

// maxSkew bounds how far in the future a client's event time may be.
const maxSkew = 5 * time.Minute

// events accepts a batch all or nothing: a batch with one bad event is
// refused whole, with the field of the first problem, so that a client can
// fix and resend it without duplicating the good ones.
func (s *Server) events(c *fiber.Ctx) error {
	out, err := s.parseEvents(c.Body())
	if err != nil {
		return err
	}
	if err := s.cfg.Events.Log(c.UserContext(), out...); err != nil {
		return err
	}
	// What c.JSON(fiber.Map{"accepted": n}) writes, without a map and an encoder.
	c.Status(fiber.StatusAccepted).Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	body := strconv.AppendInt(append(make([]byte, 0, 24), `{"accepted":`...), int64(len(out)), 10)
	return c.Send(append(body, '}'))
}

// parseEvents decodes and checks a POST /v1/events body.
func (s *Server) parseEvents(body []byte) ([]analytics.Event, error) {
	var req eventsRequest
	if err := decodeEvents(body, &req); err != nil {
		return nil, err
	}
	return s.checkEvents(req.Events)
}

// checkEvents checks a decoded batch and makes its events.
func (s *Server) checkEvents(in []eventIn) ([]analytics.Event, error) {
	if len(in) == 0 {
		return nil, experiment.Invalid("events", "want at least one event")
	}
	if len(in) > s.cfg.MaxEventsPerRequest {
		return nil, &experiment.Error{Code: experiment.ETOOLARGE, Field: "events",
			Message: "at most " + strconv.Itoa(s.cfg.MaxEventsPerRequest) + " events per request"}
	}
	now := s.cfg.Now().UTC()
	out := make([]analytics.Event, len(in))
	for i := range in {
		ev, err := s.event(&in[i], now)
		if err != nil {
			// The prefix is built only for an error: an allocation per
			// event otherwise.
			var e *experiment.Error
			if errors.As(err, &e) {
				e.Field = "events[" + strconv.Itoa(i) + "]." + e.Field
			}
			return nil, err
		}
		out[i] = ev
	}
	return out, nil
}

// event checks one event of a batch and makes it an analytics.Event. Its
// errors are *experiment.Error naming the field within the event (kind,
// unit_id); the caller puts the event's place before it.
func (s *Server) event(in *eventIn, now time.Time) (analytics.Event, error) {
	kind := analytics.Kind(in.Kind)
	switch kind {
	case analytics.KindConversion, analytics.KindUnsubscribe, analytics.KindComplaint, analytics.KindCustom:
	case "":
		return analytics.Event{}, experiment.Invalid("kind", "required: conversion, unsubscribe, complaint or custom")
	default:
		return analytics.Event{}, experiment.Invalid("kind", "unknown kind %q: want conversion, unsubscribe, complaint or custom", in.Kind)
	}
	ev := analytics.Event{Kind: kind, Experiment: in.Experiment, Unit: in.UnitID, Name: in.Name, Time: now.Truncate(time.Second)}
	if in.Token != "" {
		claims, err := s.openClaims(in.Token)
		if err != nil {
			return analytics.Event{}, experiment.Invalid("token", "%s", experiment.ErrorMessage(err))
		}
		if ev.Experiment != "" && ev.Experiment != claims.Experiment {
			return analytics.Event{}, experiment.Invalid("experiment", "differs from the token's experiment %q", claims.Experiment)
		}
		if ev.Unit != "" && ev.Unit != claims.Unit {
			return analytics.Event{}, experiment.Invalid("unit_id", "differs from the token's unit")
		}
		ev.Experiment, ev.Unit, ev.Version, ev.Segment, ev.Variant, ev.SendID =
			claims.Experiment, claims.Unit, claims.Version, claims.Segment, claims.Variant, claims.SendID
	}
	if ev.Experiment == "" {
		return analytics.Event{}, experiment.Invalid("experiment", "required (or a token)")
	}
	if !experiment.ValidKey(ev.Experiment) {
		return analytics.Event{}, experiment.Invalid("experiment", "not a valid experiment key")
	}
	if err := checkUnit("unit_id", ev.Unit); err != nil {
		return analytics.Event{}, err
	}
	if len(in.Name) > maxIDLen {
		return analytics.Event{}, experiment.Invalid("name", "longer than %d bytes", maxIDLen)
	}
	if in.Value != nil {
		if math.IsNaN(*in.Value) || math.IsInf(*in.Value, 0) || math.Abs(*in.Value) > 1e12 {
			return analytics.Event{}, experiment.Invalid("value", "want a finite number within ±1e12")
		}
		ev.Value = *in.Value
	}
	if in.Time != nil {
		if in.Time.After(now.Add(maxSkew)) {
			return analytics.Event{}, experiment.Invalid("time", "in the future")
		}
		if in.Time.Year() < 2000 {
			return analytics.Event{}, experiment.Invalid("time", "before 2000")
		}
		ev.Time = in.Time.UTC().Truncate(time.Second)
	}
	key := in.ID
	if key == "" {
		key = in.IdempotencyKey
	} else if in.IdempotencyKey != "" && in.IdempotencyKey != in.ID {
		return analytics.Event{}, experiment.Invalid("idempotency_key", "differs from id: send one of them")
	}
	switch {
	case len(key) > maxIDLen:
		return analytics.Event{}, experiment.Invalid("id", "longer than %d bytes", maxIDLen)
	case key == "":
		// Without a key a retry counts twice; accepted, as callers asked.
		ev.ID = s.ids.next("e:")
	default:
		ev.ID = prefixedDigest("e:", ev.Experiment, key)
	}
	return ev, nil
}

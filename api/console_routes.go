package api

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/splitcast/splitcast/api/console"
	"github.com/splitcast/splitcast/experiment"
	"github.com/splitcast/splitcast/experiment/apikey"
)

// consoleRoutes mounts api/console under /console; its session key derives
// from the tracking keys, so servers that share them share sessions.
func (s *Server) consoleRoutes() {
	if s.cfg.Tokens == nil {
		return // no key to sign sessions with (handler tests that need no tokens)
	}
	console.Mount(s.app, console.Config{Store: s.cfg.Store, Snapshot: s.cfg.Snapshots.Snapshot, Traits: s.cfg.Traits,
		Recent: s.cfg.Traits, Report: s.buildReport, SignIn: s.consoleSignIn, Changed: s.refresh,
		SessionKey: s.cfg.Tokens.Derive("splitcast console session v1"), Secure: strings.HasPrefix(s.cfg.BaseURL, "https://"),
		Now: s.cfg.Now})
}

// consoleSignIn checks a signing-in key as require does, failed-attempt limit included.
func (s *Server) consoleSignIn(c *fiber.Ctx, secret string) (console.Principal, error) {
	key, ok, wait := s.lookupKey(c, secret)
	if wait > 0 {
		return console.Principal{}, experiment.Errorf(experiment.EUNAUTHORIZED, "too many failed sign-ins from this address: try again in %s", wait.Round(time.Second))
	}
	if !ok || !key.has(apikey.ScopeAdmin) && !key.has(apikey.ScopeRead) {
		return console.Principal{}, experiment.Errorf(experiment.EUNAUTHORIZED, "unknown or revoked API key, or an sdk key: only read and admin keys sign in")
	}
	return console.Principal{Name: key.Name, Admin: key.has(apikey.ScopeAdmin)}, nil
}

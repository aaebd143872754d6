package console

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/splitcast/splitcast/experiment"
)

// signInPage shows the sign-in form. Its CSRF token is bound to a nonce
// cookie of its own, so that another site cannot sign a browser in with
// the other site's key (login CSRF).
func (c *Console) signInPage(ctx *fiber.Ctx) error {
	return c.renderSignIn(ctx, fiber.StatusOK, "")
}

func (c *Console) renderSignIn(ctx *fiber.Ctx, status int, problem string) error {
	pre := nonce()
	ctx.Cookie(c.cookie(preCookie, pre, c.cfg.Now().Add(c.cfg.SessionLifetime)))
	ctx.Locals(localSession, view{CSRF: c.sess.csrf(pre), Error: problem})
	ctx.Status(status)
	return c.render(ctx, "signin.html", "Sign in", nil)
}

func (c *Console) signIn(ctx *fiber.Ctx) error {
	if !c.sess.checkCSRF(ctx.Cookies(preCookie), ctx.FormValue("csrf")) {
		return c.renderSignIn(ctx, fiber.StatusForbidden, "The form expired or did not come from this page: try again.")
	}
	p, err := c.cfg.SignIn(ctx, strings.TrimSpace(ctx.FormValue("key")))
	if err != nil {
		return c.renderSignIn(ctx, fiber.StatusUnauthorized, experiment.ErrorMessage(err))
	}
	now := c.cfg.Now()
	exp := now.Add(c.cfg.SessionLifetime)
	s := Session{Name: p.Name, Admin: p.Admin, Expiry: exp.Unix(), Nonce: nonce()}
	ctx.Cookie(c.cookie(CookieName, c.sess.encode(s), exp))
	ctx.ClearCookie(preCookie)
	return ctx.Redirect("/console", fiber.StatusSeeOther)
}

func (c *Console) signOut(ctx *fiber.Ctx) error {
	// Expire it in the browser. The signed value itself stays valid until
	// its expiry: sessions are stateless (see the package doc).
	ctx.Cookie(c.cookie(CookieName, "", c.cfg.Now().Add(-time.Hour)))
	return ctx.Redirect("/console/signin?notice=signedout", fiber.StatusSeeOther)
}

func (c *Console) cookie(name, value string, expires time.Time) *fiber.Cookie {
	return &fiber.Cookie{Name: name, Value: value, Path: "/console", HTTPOnly: true, Secure: c.cfg.Secure,
		SameSite: fiber.CookieSameSiteStrictMode, Expires: expires}
}

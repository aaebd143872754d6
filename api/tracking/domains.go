package tracking

import (
	"net"
	"strings"

	"golang.org/x/net/idna"

	"github.com/splitcast/splitcast/experiment"
)

// Domains is an allow-list of link hosts: a link may go to one of them or
// to a subdomain of one. The zero Domains allows every host. Hosts are
// compared in their IDNA ASCII form (punycode, lower case), so that
// "bücher.example" and "xn--bcher-kva.example" are one host, and a
// look-alike spelled in another script is not an allowed one.
type Domains struct{ hosts []string }

// NewDomains returns the allow-list of hosts; an empty list allows all.
func NewDomains(hosts []string) (Domains, error) {
	var d Domains
	for _, h := range hosts {
		h = strings.TrimPrefix(strings.TrimSpace(h), ".")
		if h == "" {
			continue
		}
		a, err := asciiHost(h)
		if err != nil {
			return Domains{}, experiment.Invalid("link_domains", "%q is not a domain name", h)
		}
		d.hosts = append(d.hosts, a)
	}
	return d, nil
}

// Allows reports whether dest, a URL that passed CheckURL, goes to an
// allowed host.
func (d Domains) Allows(dest string) bool {
	if len(d.hosts) == 0 {
		return true
	}
	n, err := NormalizeURL(dest)
	if err != nil {
		return false
	}
	start, end := hostSpan(n)
	host := n[start:end]
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	for _, a := range d.hosts {
		if host == a || strings.HasSuffix(host, "."+a) {
			return true
		}
	}
	return false
}

// Check is Allows as an EINVALID error naming field.
func (d Domains) Check(field, dest string) error {
	if !d.Allows(dest) {
		return experiment.Invalid(field, "goes to a host that is not among the allowed link domains")
	}
	return nil
}

// NormalizeURL returns dest, a URL that passed CheckURL, with its host in
// IDNA ASCII form and lower case: the one spelling that is compared with
// the allow-list, bound into click tokens and written into Location. The
// rest of the URL is kept byte for byte.
func NormalizeURL(dest string) (string, error) {
	start, end := hostSpan(dest)
	authority := dest[start:end]
	host, port := authority, ""
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && !strings.HasSuffix(authority, "]") {
		host, port = authority[:i], authority[i:]
	}
	if plainHost(host) {
		return dest, nil // the common case, on every click: nothing to fold
	}
	if strings.HasPrefix(host, "[") || net.ParseIP(host) != nil {
		return dest, nil // an IP literal has no other spelling to fold
	}
	a, err := asciiHost(host)
	if err != nil {
		return "", experiment.Invalid("url", "host %q is not a valid domain name", host)
	}
	if a+port == authority {
		return dest, nil
	}
	return dest[:start] + a + port + dest[end:], nil
}

// asciiHost is host's IDNA ASCII form, lower case.
func asciiHost(host string) (string, error) {
	if strings.Contains(host, "%") {
		return "", experiment.Invalid("url", "percent-encoded host")
	}
	return idna.Lookup.ToASCII(strings.ToLower(host))
}

// hostSpan returns where the authority (host and port: CheckURL refuses
// user info) of an absolute http(s) URL starts and ends.
func hostSpan(u string) (start, end int) {
	start = strings.Index(u, "://") + 3
	end = start
	for end < len(u) && u[end] != '/' && u[end] != '?' && u[end] != '#' {
		end++
	}
	return start, end
}

// plainHost reports whether host is already in its ASCII lower-case form
// with no label idna would change: letters, digits, dots and hyphens, and
// no "xn--" label, which idna would check.
func plainHost(host string) bool {
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return host != "" && !strings.Contains(host, "xn--")
}

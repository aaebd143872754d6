package main

import (
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/splitcast/splitcast/analytics/fatigue"
	"github.com/splitcast/splitcast/analytics/traits"
	"github.com/splitcast/splitcast/api/tracking"
	"github.com/splitcast/splitcast/experiment"
)

// Config is every setting of the splitcast binary. Each field has a flag and
// a SPLITCAST_* environment variable; a flag wins over the variable, and the
// variable over the default.
type Config struct {
	Addr    string // SPLITCAST_ADDR: where serve listens
	BaseURL string // SPLITCAST_BASE_URL: public URL of this server, for pixel and click links
	DataDir string // SPLITCAST_DATA_DIR: local ClickHouse, spool

	// ClickHouse names an external server. Empty Addr means: start the
	// project's own ClickHouse under DataDir (development and tests).
	ClickHouseAddr     string // SPLITCAST_CLICKHOUSE_ADDR
	ClickHouseUser     string // SPLITCAST_CLICKHOUSE_USER
	ClickHousePassword string // SPLITCAST_CLICKHOUSE_PASSWORD
	ClickHouseDatabase string // SPLITCAST_CLICKHOUSE_DATABASE
	// ClickHouseCluster names a cluster of the server's remote_servers
	// config: migrations shard every table over it (see package migrations).
	ClickHouseCluster string // SPLITCAST_CLICKHOUSE_CLUSTER
	// Local ClickHouse ports, away from a system server's 9000 and 8123.
	LocalClickHouseTCPPort  int // SPLITCAST_LOCAL_CLICKHOUSE_TCP_PORT
	LocalClickHouseHTTPPort int // SPLITCAST_LOCAL_CLICKHOUSE_HTTP_PORT

	AdminKey string // SPLITCAST_ADMIN_KEY
	SDKKey   string // SPLITCAST_SDK_KEY
	ReadKey  string // SPLITCAST_READ_KEY
	// TokenKeys are the tracking-token keys as "id:hex,id:hex"; the
	// signing key is TokenSigningKey, the others only verify (rotation).
	TokenKeys       string // SPLITCAST_TOKEN_KEYS
	TokenSigningKey int    // SPLITCAST_TOKEN_SIGNING_KEY

	SnapshotRefresh time.Duration // SPLITCAST_SNAPSHOT_REFRESH
	TraitRefresh    time.Duration // SPLITCAST_TRAIT_REFRESH: how stale behavioural traits may be, less the flush interval
	// TraitMaxUnits bounds the units whose traits a server holds; the least
	// recently active beyond it get default traits.
	TraitMaxUnits int // SPLITCAST_TRAIT_MAX_UNITS
	// TraitCatalogue is the JSON file of computed traits; empty loads
	// the embedded default (analytics/traits/catalogue.json).
	TraitCatalogue string // SPLITCAST_TRAIT_CATALOGUE
	// KeyRefresh is how often issued API keys are reloaded: a revoked key
	// works at most this long after `splitcast keys revoke`.
	KeyRefresh time.Duration // SPLITCAST_KEY_REFRESH
	// RatePerKey and RatePerIP are requests per second (burst: twice
	// that); 0 turns the limit off.
	RatePerKey float64 // SPLITCAST_RATE_PER_KEY
	RatePerIP  float64 // SPLITCAST_RATE_PER_IP
	// RateFailedAuthPerIP bounds failed authentications per second of one
	// address, on every route (burst: twice that).
	RateFailedAuthPerIP float64 // SPLITCAST_RATE_FAILED_AUTH_PER_IP
	// CORSOrigins may call the SDK routes from browsers, comma-separated
	// ("*" for any); empty: none.
	CORSOrigins string // SPLITCAST_CORS_ORIGINS
	// LinkDomains are the hosts (and their subdomains) that click URLs
	// may go to, comma-separated; empty: any.
	LinkDomains string // SPLITCAST_LINK_DOMAINS
	// TrustedProxies are load balancer addresses or CIDRs whose
	// X-Forwarded-For is believed, comma-separated.
	TrustedProxies string // SPLITCAST_TRUSTED_PROXIES

	// BulkIdleTimeout closes a bulk assignment stream idle this long;
	// BulkStreamsPerKey bounds one key's open bulk streams.
	BulkIdleTimeout   time.Duration // SPLITCAST_BULK_IDLE_TIMEOUT
	BulkStreamsPerKey int           // SPLITCAST_BULK_STREAMS_PER_KEY

	// Fatigue: the deployment's frequency caps as LIMIT/WINDOW ("3/168h";
	// empty: none), and the global control group's share in percent (0:
	// none) and salt (see analytics/fatigue).
	CapTotal          string // SPLITCAST_CAP_TOTAL
	CapPerChannel     string // SPLITCAST_CAP_PER_CHANNEL
	GlobalControl     string // SPLITCAST_GLOBAL_CONTROL
	GlobalControlSalt string // SPLITCAST_GLOBAL_CONTROL_SALT

	// Dev allows the development defaults (published keys) on an address
	// other than loopback; without it such a server refuses to start.
	Dev bool // SPLITCAST_DEV

	FlushInterval   time.Duration // SPLITCAST_FLUSH_INTERVAL
	ShutdownTimeout time.Duration // SPLITCAST_SHUTDOWN_TIMEOUT
	Retire          bool          // SPLITCAST_RETIRE: run the retirement loop in this server
	Bandit          bool          // SPLITCAST_BANDIT: run the bandit loop in this server
	LogLevel        string        // SPLITCAST_LOG_LEVEL: debug, info, warn, error

	// dev records which settings fell back to development defaults, to be
	// printed at start.
	dev []string
}

// Development defaults: printed when used, never fit for production.
const (
	devAdminKey = "dev-admin-key"
	devSDKKey   = "dev-sdk-key"
	devReadKey  = "dev-read-key"
	devTokenKey = "1:73706c6974636173742d6465762d746f6b656e2d6b65792d6e6f742d666f722d70726f64756374696f6e21"
)

// ParseConfig reads the environment and then the flags in args.
func ParseConfig(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, error) {
	env := func(name, def string) string {
		if v := getenv("SPLITCAST_" + name); v != "" {
			return v
		}
		return def
	}
	var c Config
	var errs []string
	dur := func(p *time.Duration, flagName, name, def string) {
		s := env(name, def)
		d, err := time.ParseDuration(s)
		if err != nil {
			errs = append(errs, fmt.Sprintf("SPLITCAST_%s=%q: not a duration (e.g. 2s)", name, s))
		}
		fs.DurationVar(p, flagName, d, "env SPLITCAST_"+name)
	}
	integer := func(p *int, flagName, name, def string) {
		s := env(name, def)
		n, err := strconv.Atoi(s)
		if err != nil {
			errs = append(errs, fmt.Sprintf("SPLITCAST_%s=%q: not an integer", name, s))
		}
		fs.IntVar(p, flagName, n, "env SPLITCAST_"+name)
	}
	str := func(p *string, flagName, name, def, usage string) {
		fs.StringVar(p, flagName, env(name, def), usage+" (env SPLITCAST_"+name+")")
	}
	str(&c.Addr, "addr", "ADDR", "127.0.0.1:8080", "listen address")
	str(&c.BaseURL, "base-url", "BASE_URL", "", "public base URL for tracking links (default http://ADDR)")
	str(&c.DataDir, "data-dir", "DATA_DIR", ".data", "folder for the local ClickHouse and the spool")
	str(&c.ClickHouseAddr, "clickhouse-addr", "CLICKHOUSE_ADDR", "", "external ClickHouse host:port (native protocol); empty starts a local one")
	str(&c.ClickHouseUser, "clickhouse-user", "CLICKHOUSE_USER", "default", "ClickHouse user")
	str(&c.ClickHousePassword, "clickhouse-password", "CLICKHOUSE_PASSWORD", "", "ClickHouse password")
	str(&c.ClickHouseDatabase, "clickhouse-database", "CLICKHOUSE_DATABASE", "splitcast", "ClickHouse database")
	str(&c.ClickHouseCluster, "clickhouse-cluster", "CLICKHOUSE_CLUSTER", "", "ClickHouse cluster (remote_servers) to shard the tables over; empty for one server")
	integer(&c.LocalClickHouseTCPPort, "local-clickhouse-tcp-port", "LOCAL_CLICKHOUSE_TCP_PORT", "19000")
	integer(&c.LocalClickHouseHTTPPort, "local-clickhouse-http-port", "LOCAL_CLICKHOUSE_HTTP_PORT", "18123")
	str(&c.AdminKey, "admin-key", "ADMIN_KEY", "", "API key with the admin scope (dev default when empty)")
	str(&c.SDKKey, "sdk-key", "SDK_KEY", "", "API key with the sdk scope (dev default when empty)")
	str(&c.ReadKey, "read-key", "READ_KEY", "", "API key with the read scope (dev default when empty)")
	str(&c.TokenKeys, "token-keys", "TOKEN_KEYS", "", "tracking token keys, id:hex[,id:hex] (dev default when empty)")
	integer(&c.TokenSigningKey, "token-signing-key", "TOKEN_SIGNING_KEY", "0")
	dur(&c.SnapshotRefresh, "snapshot-refresh", "SNAPSHOT_REFRESH", "2s")
	dur(&c.TraitRefresh, "trait-refresh", "TRAIT_REFRESH", "5s")
	integer(&c.TraitMaxUnits, "trait-max-units", "TRAIT_MAX_UNITS", strconv.Itoa(traits.DefaultMaxUnits))
	str(&c.TraitCatalogue, "trait-catalogue", "TRAIT_CATALOGUE", "", "JSON file of computed traits (empty: the embedded default)")
	dur(&c.KeyRefresh, "key-refresh", "KEY_REFRESH", "10s")
	float := func(p *float64, flagName, name, def string) {
		s := env(name, def)
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 0 {
			errs = append(errs, fmt.Sprintf("SPLITCAST_%s=%q: not a number >= 0", name, s))
		}
		fs.Float64Var(p, flagName, f, "requests per second, 0 for no limit (env SPLITCAST_"+name+")")
	}
	float(&c.RatePerKey, "rate-per-key", "RATE_PER_KEY", "1000")
	float(&c.RatePerIP, "rate-per-ip", "RATE_PER_IP", "1000")
	float(&c.RateFailedAuthPerIP, "rate-failed-auth-per-ip", "RATE_FAILED_AUTH_PER_IP", "5")
	str(&c.CORSOrigins, "cors-origins", "CORS_ORIGINS", "", "origins allowed to call the SDK routes from browsers, comma-separated")
	str(&c.LinkDomains, "link-domains", "LINK_DOMAINS", "", "hosts click URLs may go to, comma-separated (subdomains included); empty allows any")
	str(&c.TrustedProxies, "trusted-proxies", "TRUSTED_PROXIES", "", "proxies whose X-Forwarded-For is believed, comma-separated IPs or CIDRs")
	dur(&c.BulkIdleTimeout, "bulk-idle-timeout", "BULK_IDLE_TIMEOUT", "30s")
	integer(&c.BulkStreamsPerKey, "bulk-streams-per-key", "BULK_STREAMS_PER_KEY", "8")
	str(&c.CapTotal, "cap-total", "CAP_TOTAL", "", "at most LIMIT messages per unit per WINDOW across every experiment and channel, e.g. 3/168h; empty: no cap")
	str(&c.CapPerChannel, "cap-per-channel", "CAP_PER_CHANNEL", "", "at most LIMIT messages per unit per WINDOW on each channel, e.g. 1/24h; empty: no cap")
	str(&c.GlobalControl, "global-control", "GLOBAL_CONTROL", "0", "percent of units that no experiment messages (the global control group)")
	str(&c.GlobalControlSalt, "global-control-salt", "GLOBAL_CONTROL_SALT", fatigue.DefaultGlobalControlSalt, "salt of the global control group's hash; changing it draws a new group")
	dev, _ := strconv.ParseBool(env("DEV", "false"))
	fs.BoolVar(&c.Dev, "dev", dev, "allow the development keys on any address (env SPLITCAST_DEV); without it they are refused unless -addr is loopback")
	dur(&c.FlushInterval, "flush-interval", "FLUSH_INTERVAL", "1s")
	dur(&c.ShutdownTimeout, "shutdown-timeout", "SHUTDOWN_TIMEOUT", "20s")
	retire, _ := strconv.ParseBool(env("RETIRE", "false"))
	fs.BoolVar(&c.Retire, "retire", retire, "run the retirement loop in this server (env SPLITCAST_RETIRE)")
	bnd, _ := strconv.ParseBool(env("BANDIT", "false"))
	fs.BoolVar(&c.Bandit, "bandit", bnd, "run the bandit loop, which reweights bandit segments, in this server (env SPLITCAST_BANDIT)")
	str(&c.LogLevel, "log-level", "LOG_LEVEL", "info", "debug, info, warn or error")
	if len(errs) > 0 {
		return c, fmt.Errorf("config: %s", strings.Join(errs, "; "))
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.applyDevDefaults()
	return c, c.Validate()
}

func (c *Config) applyDevDefaults() {
	for _, d := range []struct {
		p    *string
		def  string
		name string
	}{{&c.AdminKey, devAdminKey, "SPLITCAST_ADMIN_KEY"}, {&c.SDKKey, devSDKKey, "SPLITCAST_SDK_KEY"},
		{&c.ReadKey, devReadKey, "SPLITCAST_READ_KEY"}, {&c.TokenKeys, devTokenKey, "SPLITCAST_TOKEN_KEYS"}} {
		if *d.p == "" {
			*d.p = d.def
			c.dev = append(c.dev, d.name+"="+d.def)
		}
	}
	if c.BaseURL == "" {
		c.BaseURL = "http://" + c.Addr
	}
}

// Validate returns an error naming the first setting that cannot work.
func (c Config) Validate() error {
	for _, check := range []func() error{c.validateAddresses, c.validateSecrets, c.validateLimits, c.validateLists, c.validateFatigue} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// bad is the error of an invalid setting, named as its variable and flag.
func bad(name, format string, args ...any) error {
	return fmt.Errorf("invalid %s: %s", name, fmt.Sprintf(format, args...))
}

// validateAddresses checks where serve listens, links point and ClickHouse
// is, and the data folder.
func (c Config) validateAddresses() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return bad("SPLITCAST_ADDR (-addr)", "%q is not host:port", c.Addr)
	}
	if !strings.HasPrefix(c.BaseURL, "http://") && !strings.HasPrefix(c.BaseURL, "https://") {
		return bad("SPLITCAST_BASE_URL (-base-url)", "%q must start with http:// or https://", c.BaseURL)
	}
	if c.ClickHouseAddr != "" {
		if _, _, err := net.SplitHostPort(c.ClickHouseAddr); err != nil {
			return bad("SPLITCAST_CLICKHOUSE_ADDR (-clickhouse-addr)", "%q is not host:port", c.ClickHouseAddr)
		}
	}
	if c.ClickHouseCluster != "" && c.ClickHouseAddr == "" {
		return bad("SPLITCAST_CLICKHOUSE_CLUSTER (-clickhouse-cluster)", "needs an external ClickHouse (SPLITCAST_CLICKHOUSE_ADDR): the local one has no cluster")
	}
	if c.ClickHouseDatabase == "" {
		return bad("SPLITCAST_CLICKHOUSE_DATABASE (-clickhouse-database)", "must not be empty")
	}
	for name, p := range map[string]int{"SPLITCAST_LOCAL_CLICKHOUSE_TCP_PORT (-local-clickhouse-tcp-port)": c.LocalClickHouseTCPPort,
		"SPLITCAST_LOCAL_CLICKHOUSE_HTTP_PORT (-local-clickhouse-http-port)": c.LocalClickHouseHTTPPort} {
		if p <= 0 || p > 65535 {
			return bad(name, "%d is not a port", p)
		}
	}
	if c.DataDir == "" {
		return bad("SPLITCAST_DATA_DIR (-data-dir)", "must not be empty")
	}
	return nil
}

// validateSecrets checks the keys, and that published development defaults
// are not used off loopback without -dev.
func (c Config) validateSecrets() error {
	if len(c.dev) > 0 && !c.Dev && !loopback(c.Addr) {
		return bad(strings.Join(c.dev, ", "), "development defaults are published: set them, listen on loopback, or pass -dev (SPLITCAST_DEV=1) to use them on %s anyway", c.Addr)
	}
	keys := map[string]string{"SPLITCAST_ADMIN_KEY (-admin-key)": c.AdminKey, "SPLITCAST_SDK_KEY (-sdk-key)": c.SDKKey, "SPLITCAST_READ_KEY (-read-key)": c.ReadKey}
	for name, k := range keys {
		if len(k) < 8 {
			return bad(name, "must be at least 8 characters")
		}
	}
	if _, _, err := c.tokenKeys(); err != nil {
		return bad("SPLITCAST_TOKEN_KEYS (-token-keys)", "%v", err)
	}
	return nil
}

// validateLimits checks the intervals, timeouts and rates.
func (c Config) validateLimits() error {
	if c.BulkStreamsPerKey <= 0 {
		return bad("SPLITCAST_BULK_STREAMS_PER_KEY (-bulk-streams-per-key)", "must be positive, got %d", c.BulkStreamsPerKey)
	}
	for name, d := range map[string]time.Duration{"SPLITCAST_SNAPSHOT_REFRESH (-snapshot-refresh)": c.SnapshotRefresh,
		"SPLITCAST_TRAIT_REFRESH (-trait-refresh)":   c.TraitRefresh,
		"SPLITCAST_FLUSH_INTERVAL (-flush-interval)": c.FlushInterval, "SPLITCAST_BULK_IDLE_TIMEOUT (-bulk-idle-timeout)": c.BulkIdleTimeout, "SPLITCAST_KEY_REFRESH (-key-refresh)": c.KeyRefresh, "SPLITCAST_SHUTDOWN_TIMEOUT (-shutdown-timeout)": c.ShutdownTimeout} {
		if d <= 0 {
			return bad(name, "must be positive, got %v", d)
		}
	}
	if c.TraitMaxUnits <= 0 {
		return bad("SPLITCAST_TRAIT_MAX_UNITS (-trait-max-units)", "must be positive, got %d", c.TraitMaxUnits)
	}
	if c.RatePerKey < 0 || c.RatePerIP < 0 {
		return bad("SPLITCAST_RATE_PER_KEY/SPLITCAST_RATE_PER_IP", "must not be negative")
	}
	return nil
}

// validateLists checks the comma-separated settings and the log level.
func (c Config) validateLists() error {
	for _, o := range list(c.CORSOrigins) {
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			return bad("SPLITCAST_CORS_ORIGINS (-cors-origins)", "%q is not * or an http(s) origin", o)
		}
	}
	if _, err := tracking.NewDomains(list(c.LinkDomains)); err != nil {
		return bad("SPLITCAST_LINK_DOMAINS (-link-domains)", "%s", experiment.ErrorMessage(err))
	}
	for _, p := range list(c.TrustedProxies) {
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				return bad("SPLITCAST_TRUSTED_PROXIES (-trusted-proxies)", "%q is not an IP or a CIDR", p)
			}
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return bad("SPLITCAST_LOG_LEVEL (-log-level)", "%q is not debug, info, warn or error", c.LogLevel)
	}
	return nil
}

// list splits a comma-separated setting, dropping empty items.
func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// tokenKeys parses TokenKeys into key ids and secrets and picks the signing
// key: TokenSigningKey, or the highest id when it is 0.
func (c Config) tokenKeys() (map[uint8][]byte, uint8, error) {
	keys := map[uint8][]byte{}
	var highest uint8
	for _, part := range strings.Split(c.TokenKeys, ",") {
		id, secret, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return nil, 0, fmt.Errorf("%q is not id:hex", part)
		}
		n, err := strconv.Atoi(id)
		if err != nil || n < 1 || n > 255 {
			return nil, 0, fmt.Errorf("key id %q is not 1..255", id)
		}
		b, err := hex.DecodeString(secret)
		if err != nil || len(b) < 32 {
			return nil, 0, fmt.Errorf("key %d must be at least 32 bytes of hex", n)
		}
		keys[uint8(n)] = b
		highest = max(highest, uint8(n))
	}
	signing := uint8(c.TokenSigningKey)
	if c.TokenSigningKey == 0 {
		signing = highest
	}
	if _, ok := keys[signing]; !ok {
		return nil, 0, fmt.Errorf("signing key %d is not among the keys", signing)
	}
	return keys, signing, nil
}

// loopback reports whether addr (host:port) listens on loopback only: a
// host that is a loopback address or "localhost". An empty host listens
// everywhere.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

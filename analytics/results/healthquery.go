package results

import (
	"time"

	"github.com/splitcast/splitcast/analytics/stats"
	"github.com/splitcast/splitcast/experiment"
)

// HealthTrafficNote says how segment health estimates traffic (its 7 days
// are the API's window).
const HealthTrafficNote = "units per day are the units seen (any event, exposures included) in the last 7 days whose traits " +
	"match the segment's rule, in rule order; a rule on caller attributes cannot be evaluated from traits, so its " +
	"segment's traffic is unknown and later segments' estimates are upper bounds. MDE and runtime are not part of " +
	"an experiment: pass ?mde=0.1 (relative lift) and ?runtime_days=14, the defaults"

// HealthConfigOf reads the sizing parameters of a health request from its
// query parameters (get returns "" for an absent one): mde, runtime_days
// and power, each an EINVALID error naming it when out of range. (Moved
// from api, whose size is bounded.)
func HealthConfigOf(get func(string) string) (HealthConfig, error) {
	var cfg HealthConfig
	if v := get("mde"); v != "" {
		f, ok := experiment.ParseNumber(v)
		if !ok || f <= -1 || f == 0 || f > 10 {
			return cfg, experiment.Invalid("mde", "want a relative lift such as 0.1 for 10%%")
		}
		cfg.MDE = stats.RelativeEffect(f)
	}
	if v := get("runtime_days"); v != "" {
		f, ok := experiment.ParseNumber(v)
		if !ok || f <= 0 || f > 3650 {
			return cfg, experiment.Invalid("runtime_days", "want a number of days such as 14")
		}
		cfg.Runtime = time.Duration(f * 24 * float64(time.Hour))
	}
	if v := get("power"); v != "" {
		f, ok := experiment.ParseNumber(v)
		if !ok || f <= 0 || f >= 1 {
			return cfg, experiment.Invalid("power", "want a power in (0, 1) such as 0.8")
		}
		cfg.Power = f
	}
	return cfg, nil
}

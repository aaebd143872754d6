package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/experiment/apikey"
)

// keysFlags are the flags of the keys commands beyond the shared config.
type keysFlags struct {
	name   *string
	scopes *string
}

func addKeysFlags(fs *flag.FlagSet, cmd string) keysFlags {
	var f keysFlags
	if cmd == "keys create" {
		f.name = fs.String("name", "", "who holds the key: recorded as the author of the changes it makes")
		f.scopes = fs.String("scopes", "", "comma-separated scopes: sdk, admin, read")
	}
	return f
}

// Keys runs `splitcast keys create|list|revoke` against the configured
// ClickHouse. A running server sees a new or revoked key within its
// SPLITCAST_KEY_REFRESH interval.
func (m *Main) Keys(ctx context.Context, cmd string, f keysFlags, args []string) error {
	if err := m.connectForCommand(ctx); err != nil {
		return err
	}
	if err := m.migrate(ctx); err != nil {
		return err
	}
	store := clickhouse.NewKeyStore(m.conn)
	switch cmd {
	case "keys create":
		if len(args) > 0 {
			return fmt.Errorf("keys create takes no arguments, got %q (use -name and -scopes)", args)
		}
		scopes, err := apikey.ParseScopes(*f.scopes)
		if err != nil {
			return fmt.Errorf("-scopes: %w", err)
		}
		secret, rec, err := apikey.New(*f.name, scopes, time.Now())
		if err != nil {
			return fmt.Errorf("-name: %w", err)
		}
		if err := store.CreateKey(ctx, rec); err != nil {
			return err
		}
		fmt.Fprintf(m.stdout, "id:     %s\nname:   %s\nscopes: %s\nkey:    %s\n\n", rec.ID, rec.Name, joinScopes(rec.Scopes), secret)
		fmt.Fprintf(m.stdout, "The key is shown only now: only its hash is stored. Servers accept it within %s.\n", m.Config.KeyRefresh)
		return nil
	case "keys list":
		recs, err := store.ListKeys(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(m.stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tPREFIX\tNAME\tSCOPES\tCREATED\tREVOKED")
		for _, r := range recs {
			revoked := "-"
			if r.Revoked() {
				revoked = r.RevokedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%s\tsc_%s_…\t%s\t%s\t%s\t%s\n", r.ID, r.ID, r.Name, joinScopes(r.Scopes), r.CreatedAt.Format(time.RFC3339), revoked)
		}
		return w.Flush()
	case "keys revoke":
		if len(args) != 1 {
			return errors.New("usage: splitcast keys revoke ID")
		}
		r, err := store.RevokeKey(ctx, strings.TrimPrefix(args[0], "sc_"), time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(m.stdout, "revoked %s (%s) at %s; servers refuse it within %s\n", r.ID, r.Name, r.RevokedAt.Format(time.RFC3339), m.Config.KeyRefresh)
		return nil
	}
	return fmt.Errorf("unknown command %q", cmd)
}

// connectForCommand connects as serve does, except that with no external
// ClickHouse it first tries the local one a running serve or `clickhouse
// start` left listening: starting another would stop that one.
func (m *Main) connectForCommand(ctx context.Context) error {
	if m.Config.ClickHouseAddr == "" {
		addr := fmt.Sprintf("127.0.0.1:%d", m.Config.LocalClickHouseTCPPort)
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		conn, err := clickhouse.Open(pctx, clickhouse.Options{
			Addr: addr, User: m.Config.ClickHouseUser, Password: m.Config.ClickHousePassword, Database: m.Config.ClickHouseDatabase,
		})
		if err == nil {
			m.conn = conn
			return nil
		}
	}
	if err := m.connect(ctx); err != nil {
		return err
	}
	return m.prepare(ctx)
}

func joinScopes(ss []apikey.Scope) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return strings.Join(out, ",")
}

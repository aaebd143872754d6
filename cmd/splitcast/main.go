// Command splitcast is the one Splitcast binary: serve, migrate, and the
// local ClickHouse helpers. main only handles signals and exit codes; Main
// does the wiring.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: splitcast <command> [flags]

commands:
  serve               run the HTTP API (migrates first)
  migrate             apply the ClickHouse migrations and exit
  clickhouse start    start the project's local ClickHouse in the background
  clickhouse stop     stop it
  keys create -name N -scopes sdk,read
                      issue an API key (printed once; stored hashed)
  keys list           list issued keys
  keys revoke ID      revoke a key (servers refuse it within SPLITCAST_KEY_REFRESH)
  report [-url U] [-key K] EXPERIMENT
                      print an experiment's report from a running server
  import -experiment KEY [-url U] [-key K] FILE
                      import a campaign sent elsewhere (CSV or NDJSON of its
                      events, docs/examples/import.csv) into a running server
  retire-once         one pass of the retirement loop; prints its decisions
  demo [-units N] [-days D] [-seed S] [-exit]
                      serve, replay days of a simulated experiment through the
                      API, retire the loser, print the report, keep serving

Run "splitcast <command> -h" for the flags; every flag also has a SPLITCAST_* variable.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "splitcast:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	cmd, args := args[0], args[1:]
	if (cmd == "clickhouse" || cmd == "keys") && len(args) > 0 {
		cmd, args = cmd+" "+args[0], args[1:]
	}
	fs := flag.NewFlagSet("splitcast "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	switch cmd {
	case "serve", "migrate", "clickhouse start", "clickhouse stop", "keys create", "keys list", "keys revoke",
		"report", "retire-once", "demo", "import":
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
	kf := addKeysFlags(fs, cmd)
	rf := addReportFlags(fs, cmd)
	imf := addImportFlags(fs, cmd)
	df := addDemoFlags(fs, cmd, getenv)
	cfg, err := ParseConfig(fs, args, getenv)
	if err != nil {
		return err
	}
	m := NewMain(cfg, stdout, stderr)
	switch cmd {
	case "serve":
		if err := m.Run(ctx); err != nil {
			m.Close()
			return err
		}
		<-ctx.Done()
		m.logger.Info("shutting down")
		return m.Close()
	case "migrate":
		defer m.Close()
		return m.Migrate(ctx)
	case "clickhouse start":
		return m.StartLocalClickHouse(ctx)
	case "clickhouse stop":
		return m.StopLocalClickHouse()
	case "keys create", "keys list", "keys revoke":
		defer m.Close()
		return m.Keys(ctx, cmd, kf, fs.Args())
	case "report":
		return m.Report(ctx, rf, fs.Args())
	case "import":
		return m.Import(ctx, imf, fs.Args())
	case "retire-once":
		defer m.Close()
		return m.RetireOnce(ctx)
	case "demo":
		err := m.Demo(ctx, df, stderr)
		return errors.Join(err, m.Close())
	}
	return nil
}

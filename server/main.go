// Command wicketd is the Wicket server: the Connect-RPC API, the web pages,
// the embedded store and the embedded WireGuard gateway.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wicket-vpn/wicket/shared/version"
)

func main() {
	root := &cobra.Command{
		Use:           "wicketd",
		Short:         "Wicket VPN server",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCmd(), gatewayCmd(), userCmd(), demoCmd(), versionCmd())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "wicketd:", err)
		os.Exit(1)
	}
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Run: func(cmd *cobra.Command, args []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "wicketd", version.String())
		},
	}
}

// bindEnv fills every flag the command line did not set from its
// WICKET_… environment variable (--data-dir ← WICKET_DATA_DIR).
func bindEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		name := "WICKET_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("environment variable %s: %w", name, e)
			}
		}
	})
	return err
}

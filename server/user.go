package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wicket-vpn/wicket/server/internal/daemon"
	"github.com/wicket-vpn/wicket/server/internal/service"
)

func userCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage users from the server's host"}
	var dataDir, database, email, groups string
	var admin bool
	add := &cobra.Command{
		Use:   "add USERNAME",
		Short: "Create a user; the password is read from standard input (one line)",
		Long: "Create a user; the password is read from standard input (one line).\n" +
			"This is how the first admin is made, and it works while the server runs:\n\n" +
			"  printf '%s\\n' \"$PASSWORD\" | wicketd user add alice --email alice@example.com --admin",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnv(cmd.Flags()); err != nil {
				return err
			}
			pw, err := readPassword(cmd.InOrStdin())
			if err != nil {
				return err
			}
			ctx := context.Background()
			local, err := daemon.OpenLocal(ctx, dataDir, database, envMasterKey())
			if err != nil {
				return err
			}
			defer local.Close()
			svc := local.Service
			var gs []string
			if groups != "" {
				gs = strings.Split(groups, ",")
			}
			u, err := svc.CreateUser(ctx, service.Actor{Username: "local-admin", Admin: true, Remote: "local"},
				service.NewUser{Username: args[0], Email: email, Password: pw, Admin: admin, Groups: gs})
			if err != nil {
				return err
			}
			role := "user"
			if u.Admin {
				role = "admin"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s %s (%s)\n", role, u.Username, u.Email)
			return nil
		},
	}
	add.Flags().StringVar(&dataDir, "data-dir", "wicket-data", "the server's data directory")
	add.Flags().StringVar(&database, "database", "", "the server's PostgreSQL database, postgres://… (default: SQLite in the data directory)")
	add.Flags().StringVar(&email, "email", "", "the user's email address (email codes go there)")
	add.Flags().BoolVar(&admin, "admin", false, "make the user an admin")
	add.Flags().StringVar(&groups, "groups", "", "comma-separated groups, e.g. staff,ops")
	add.MarkFlagRequired("email")
	cmd.AddCommand(add)
	return cmd
}

func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", fmt.Errorf("no password on standard input; pipe it in, e.g. printf '%%s\\n' \"$PASSWORD\" | wicketd user add …")
	}
	return pw, nil
}

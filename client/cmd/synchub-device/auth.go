package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func (a *app) loginCmd() *cobra.Command {
	var fromStdin bool
	cmd := &cobra.Command{
		Use:   "login URL USER",
		Short: "Log in to a hub (the password is asked for, or read with --password-stdin)",
		Example: `  synchub-device login http://127.0.0.1:8080 alice
  echo "$PASSWORD" | synchub-device login --password-stdin https://hub.example.com alice`,
		Args: exactArgs(2, "login URL USER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := a.password(fromStdin)
			if err != nil {
				return err
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			if err := c.Login(cmd.Context(), args[0], args[1], pw); err != nil {
				return err
			}
			acct, err := c.Account(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.io.out, "logged in as %s at %s (device %s); next: synchub-device sync\n", acct.Username, acct.HubURL, acct.DeviceID)
			return nil
		},
	}
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of stdin")
	return cmd
}

func (a *app) password(fromStdin bool) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(a.io.in).ReadString('\n')
		if err != nil && line == "" {
			return "", errors.New("--password-stdin: no password on stdin")
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	f, ok := a.io.in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("no terminal to ask for the password; pipe it in with --password-stdin")
	}
	fmt.Fprint(a.io.err, "Password: ")
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(a.io.err)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	return string(b), nil
}

func (a *app) logoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Forget the saved credentials (local records and pending edits stay)",
		Args:  exactArgs(0, "logout"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			if err := c.Logout(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintln(a.io.out, "logged out")
			return nil
		},
	}
}

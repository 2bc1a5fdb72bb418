// Package cli wires hookctl's commands: one constructor per command, a
// Factory with the process's streams, environment and clock, and Main, which
// runs a command and maps its error to an exit code. Only this package
// touches the process; everything below receives what it needs.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hookctl/hookctl/fixtures"
)

// Exit codes.
const (
	ExitOK    = 0
	ExitError = 1 // the command failed (or, for verify/check/fire, the verdict is negative)
	ExitUsage = 2 // bad flags or arguments
	ExitInt   = 130
)

// Main runs hookctl with the process's arguments and streams and returns the
// exit code.
func Main() int {
	return Run(context.Background(), os.Args[1:], SystemFactory())
}

// Run runs hookctl with args and f. Tests call it with their own Factory.
func Run(ctx context.Context, args []string, f *Factory) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	root := NewCmdRoot(f)
	root.SetArgs(args)
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	err := root.ExecuteContext(ctx)
	return f.exitCode(ctx, err)
}

// exitCode prints err once, with its hint, and maps it to an exit code.
func (f *Factory) exitCode(ctx context.Context, err error) int {
	if err == nil {
		return ExitOK
	}
	var exit *ExitCodeError
	if errors.As(err, &exit) {
		if exit.Err != nil {
			f.printError(exit.Err)
		}
		return exit.Code
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return ExitInt
	}
	f.printError(err)
	// An unknown provider or event is a name the user typed: usage.
	var flagErr *FlagError
	var unknown *fixtures.NotFoundError
	if errors.As(err, &flagErr) || errors.As(err, &unknown) {
		return ExitUsage
	}
	return ExitError
}

// printError writes err and its hint to stderr, coloured by stderr's own
// decision (stderr a terminal, NO_COLOR unset), never stdout's.
func (f *Factory) printError(err error) {
	cs := f.IO.ErrColorScheme()
	fmt.Fprintf(f.IO.ErrOut, "%s %s\n", cs.Red.Sprint("Error:"), err)
	var hinted interface{ Hint() string }
	if errors.As(err, &hinted) && hinted.Hint() != "" {
		fmt.Fprintf(f.IO.ErrOut, "%s %s\n", cs.Yellow.Sprint("Hint:"), hinted.Hint())
	}
}

// ExitCodeError ends the command with Code. Err, when set, is printed once.
// A command whose verdict is negative (invalid signature, failed check) but
// whose output already says so returns it with a nil Err.
type ExitCodeError struct {
	Code int
	Err  error
}

func (e *ExitCodeError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitCodeError) Unwrap() error { return e.Err }

// FlagError is a usage mistake; it exits with ExitUsage.
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// HintError carries a one-line suggestion printed under the error.
type HintError struct {
	Err      error
	HintText string
}

func (e *HintError) Error() string { return e.Err.Error() }
func (e *HintError) Unwrap() error { return e.Err }
func (e *HintError) Hint() string  { return e.HintText }

// WithHint wraps err with a hint.
func WithHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &HintError{Err: err, HintText: hint}
}

// flagErrorFunc turns cobra's flag parsing errors into FlagErrors.
func flagErrorFunc(_ *cobra.Command, err error) error {
	return &FlagError{Err: err}
}

package main

import (
	"errors"
	"io"
)

// runTrace replays an access trace (-trace). Placeholder: being written.
func runTrace(cfg config, w io.Writer) error { return errors.New("-trace is not implemented yet") }

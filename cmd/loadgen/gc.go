package main

import (
	"errors"
	"io"
)

// runGC measures memory and GC cost (-gc). Placeholder: being written.
func runGC(cfg config, w io.Writer) error { return errors.New("-gc is not implemented yet") }

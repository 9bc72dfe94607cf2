package velo

// loader holds GetOrLoad's calls in flight and background refreshes.
// (Being written: see GetOrLoad.)
type loader struct{}

func (l *loader) init()  {}
func (l *loader) close() {}

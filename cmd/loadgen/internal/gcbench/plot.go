package gcbench

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/velocache/velo/cmd/loadgen/internal/report"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// writePlot draws a -gc run as three panels against the entry count, one
// line per cache: the memory each entry costs beyond its key and value
// (from RSS, which also sees memory mapped outside the Go heap), the work
// of a forced collection at GOMAXPROCS 1, and the p99.9 of a Get while the
// collector runs. The last two span five orders of magnitude between the
// byte caches and the pointer-based ones, so their axes are logarithmic.
func writePlot(path string, rows []gcRow) error {
	var targets []string
	var counts []int
	for _, r := range rows {
		if r.Skipped != "" || r.Error != "" {
			continue
		}
		if !slices.Contains(targets, r.Target) {
			targets = append(targets, r.Target)
		}
		if !slices.Contains(counts, r.Entries) {
			counts = append(counts, r.Entries)
		}
	}
	if len(targets) == 0 {
		return fmt.Errorf("-plot: no -gc measurement to draw")
	}
	slices.Sort(counts)
	panels := []struct {
		title string
		logY  bool
		value func(gcRow) float64
	}{
		{"bytes per entry beyond key and value (RSS)", false, func(r gcRow) float64 { return r.RSSOverhead }},
		{"forced GC at GOMAXPROCS 1 (ms)", true, func(r gcRow) float64 { return float64(r.GCMedian1PNs) / 1e6 }},
		{"Get p99.9 under load, GC running (µs)", true, func(r gcRow) float64 { return float64(r.GetP999ns) / 1e3 }},
	}
	plots := [][]*plot.Plot{make([]*plot.Plot, len(panels))}
	for i, pn := range panels {
		p := plot.New()
		p.Title.Text = pn.title
		p.X.Label.Text = "entries"
		p.Add(plotter.NewGrid())
		if len(counts) > 1 {
			p.X.Scale = plot.LogScale{}
		}
		var ticks []plot.Tick
		for _, n := range counts {
			ticks = append(ticks, plot.Tick{Value: float64(n), Label: entryLabel(n)})
		}
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
		if pn.logY {
			p.Y.Scale = plot.LogScale{}
			p.Y.Tick.Marker = ticks125{}
		} else {
			p.Y.Min = 0
		}
		top := 0.0
		for j, t := range targets {
			var pts plotter.XYs
			for _, r := range rows {
				// A log axis cannot show 0 or less (a sub-nanosecond GC
				// rounds to 0); such points are left out.
				if v := pn.value(r); r.Target == t && r.Skipped == "" && r.Error == "" && (v > 0 || !pn.logY) {
					pts = append(pts, plotter.XY{X: float64(r.Entries), Y: v})
					top = max(top, v)
				}
			}
			if len(pts) == 0 {
				continue
			}
			line, points, err := report.CacheLine(pts, j, t)
			if err != nil {
				return err
			}
			p.Add(line, points)
			if i == 0 {
				p.Legend.Add(t, line, points)
			}
		}
		if i == 0 {
			// Room above the lines for the legend.
			p.Legend.Top = true
			p.Y.Max = top * 2.2
		}
		plots[0][i] = p
	}
	const panelW, panelH = 4 * vg.Inch, 3.2 * vg.Inch
	return report.SavePlot(path, panelW*vg.Length(len(panels)), panelH, func(dc draw.Canvas) {
		tiles := draw.Tiles{Rows: 1, Cols: len(panels), PadX: vg.Millimeter * 6,
			PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
		for j, row := range plot.Align(plots, tiles, dc) {
			for i, c := range row {
				plots[j][i].Draw(c)
			}
		}
	})
}

// entryLabel writes an entry count for an axis: 1M, 50M, 500k, 1000.
func entryLabel(n int) string {
	switch {
	case n >= 1e6 && n%1e6 == 0:
		return strconv.Itoa(n/1e6) + "M"
	case n >= 1e3 && n%1e3 == 0:
		return strconv.Itoa(n/1e3) + "k"
	}
	return strconv.Itoa(n)
}

// ticks125 marks a log axis at 1, 2 and 5 times each power of ten in its
// range, so that an axis spanning a decade or two still has labels, or
// at the powers of ten alone when it spans more.
type ticks125 struct{}

func (ticks125) Ticks(min, max float64) []plot.Tick {
	steps := []float64{1, 2, 5}
	if max > 200*min {
		steps = steps[:1]
	}
	var ts []plot.Tick
	for d := math.Pow(10, math.Floor(math.Log10(min))); d <= max; d *= 10 {
		for _, m := range steps {
			if v := d * m; v >= min && v <= max {
				ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
			}
		}
	}
	return ts
}

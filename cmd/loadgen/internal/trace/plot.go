package trace

import (
	"cmp"
	"fmt"
	"image/color"
	"slices"

	"github.com/velocache/velo/cmd/loadgen/internal/report"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// writePlot draws the hit-ratio curves of a -trace run: hit ratio
// against capacity, one line per cache and reference policy. Read from
// the top, it is the miss-ratio curve a user draws from an access log to
// choose a cache size: where the curves flatten, more memory buys little.
// The x axis is in the report's unit, entries or bytes; -target-hit adds
// a horizontal line at the target and the bisection's points for velo.
func writePlot(path string, rep *traceReport) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s (%d accesses, %d keys)", rep.Trace, rep.Accesses, rep.DistinctKeys)
	p.X.Label.Text = "capacity (" + rep.CapacityUnit + ")"
	if rep.CapacityUnit == "" {
		p.X.Label.Text = "capacity (entries)"
	}
	p.Y.Label.Text = "hit ratio (%)"
	p.Y.Min = 0
	// Top left: curves rise with capacity, so that corner is the emptiest;
	// unless every hit ratio is high, when the bottom right is.
	p.Legend.Left = true
	p.Legend.Top = true
	if len(rep.Results) > 0 && !slices.ContainsFunc(rep.Results, func(r traceResult) bool { return r.HitRatio < 50 }) {
		p.Legend.Left, p.Legend.Top = false, false
	}
	p.Add(plotter.NewGrid())
	// Capacities in the traces' README span up to three orders of
	// magnitude: a log axis keeps the small ones apart.
	if len(rep.Capacities) > 1 && rep.Capacities[len(rep.Capacities)-1] >= 10*rep.Capacities[0] {
		p.X.Scale = plot.LogScale{}
	}
	var ticks []plot.Tick
	for _, c := range rep.Capacities {
		ticks = append(ticks, plot.Tick{Value: float64(c), Label: rep.capLabel(c)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	for i, name := range rep.Caches {
		var pts plotter.XYs
		for _, c := range rep.Capacities {
			for _, r := range rep.Results {
				if r.Cache == name && r.Capacity == c {
					pts = append(pts, plotter.XY{X: float64(c), Y: r.HitRatio})
				}
			}
		}
		if name == "velo" && len(rep.Refined) > 0 {
			for _, r := range rep.Refined {
				pts = append(pts, plotter.XY{X: float64(r.Capacity), Y: r.HitRatio})
			}
			slices.SortFunc(pts, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
		}
		if len(pts) == 0 {
			continue
		}
		line, points, err := report.CacheLine(pts, i, name)
		if err != nil {
			return err
		}
		switch name {
		case "lru", "clock", "optimal":
			line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(line, points)
		p.Legend.Add(name, line, points)
	}
	if rep.TargetHit > 0 && len(rep.Capacities) > 0 {
		lo, hi := float64(slices.Min(rep.Capacities)), float64(slices.Max(rep.Capacities))
		target, err := plotter.NewLine(plotter.XYs{{X: lo, Y: 100 * rep.TargetHit}, {X: hi, Y: 100 * rep.TargetHit}})
		if err != nil {
			return err
		}
		target.Color = color.Gray{Y: 96}
		target.Dashes = []vg.Length{vg.Points(1), vg.Points(2)}
		p.Add(target)
		p.Legend.Add(fmt.Sprintf("target %.4g%%", 100*rep.TargetHit), target)
	}
	p.Legend.TextStyle.Color = color.Black

	return report.SavePlot(path, 16*vg.Centimeter, 11*vg.Centimeter, func(dc draw.Canvas) { p.Draw(dc) })
}

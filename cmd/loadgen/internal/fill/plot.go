package fill

import (
	"fmt"
	"strconv"

	"github.com/velocache/velo/cmd/loadgen/internal/report"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// writePlot draws a -fill run: one column per value distribution, the
// kept fraction on top and the peak heap over MaxBytes below, against the
// overwrite share, one line per cache. The x axis is the Sets per live
// key, 1/(1-p), on a log scale (so 0, 50, 90 and 99% are about evenly
// spaced), labelled with p.
func writePlot(path string, rep *fillReport) error {
	if len(rep.Dists) == 0 || len(rep.Rows) == 0 {
		return fmt.Errorf("-fill-plot: no -fill measurement to draw")
	}
	panels := []struct {
		title string
		value func(fillRow) float64
	}{
		{"kept fraction", func(r fillRow) float64 { return r.KeptFraction }},
		{"peak heap / MaxBytes", func(r fillRow) float64 { return r.PeakRatio }},
	}
	logX := len(rep.Overwrites) > 1
	var ticks []plot.Tick
	for _, p := range rep.Overwrites {
		ticks = append(ticks, plot.Tick{Value: fillX(p), Label: strconv.Itoa(p) + "%"})
	}
	plots := make([][]*plot.Plot, len(panels))
	for i, pn := range panels {
		plots[i] = make([]*plot.Plot, len(rep.Dists))
		for j, d := range rep.Dists {
			p := plot.New()
			p.Title.Text = fmt.Sprintf("%s: %s (K=%d)", pn.title, d.Name, d.Keys)
			p.X.Label.Text = "overwrite share"
			p.Add(plotter.NewGrid())
			if logX {
				p.X.Scale = plot.LogScale{}
			}
			p.X.Tick.Marker = plot.ConstantTicks(ticks)
			p.Y.Min = 0
			if i == 0 {
				p.Y.Max = 1.05
			}
			for ti, t := range rep.Targets {
				var pts plotter.XYs
				for _, r := range rep.Rows {
					if r.Values == d.Name && r.Target == t && r.Error == "" {
						pts = append(pts, plotter.XY{X: fillX(r.Overwrite), Y: pn.value(r)})
					}
				}
				if len(pts) == 0 {
					continue
				}
				line, points, err := report.CacheLine(pts, ti, t)
				if err != nil {
					return err
				}
				p.Add(line, points)
				// One legend, in the first kept panel's bottom left
				// corner: few caches lose most keys of small values.
				if i == 0 && j == 0 {
					p.Legend.Add(t, line, points)
				}
			}
			p.Legend.Left = true
			plots[i][j] = p
		}
	}
	const panelW, panelH = 3.6 * vg.Inch, 3 * vg.Inch
	return report.SavePlot(path, panelW*vg.Length(len(rep.Dists)), panelH*vg.Length(len(panels)), func(dc draw.Canvas) {
		tiles := draw.Tiles{Rows: len(panels), Cols: len(rep.Dists), PadX: vg.Millimeter * 5, PadY: vg.Millimeter * 5,
			PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
		for i, row := range plot.Align(plots, tiles, dc) {
			for j, c := range row {
				plots[i][j].Draw(c)
			}
		}
	})
}

// fillX is the x position of overwrite share p: Sets per live key.
func fillX(p int) float64 { return 100 / float64(100-p) }

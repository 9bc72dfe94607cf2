package throughput

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"image/color"
	"io"
	"os"
	"slices"
	"strconv"

	"github.com/velocache/velo/cmd/loadgen/internal/config"
	"github.com/velocache/velo/cmd/loadgen/internal/report"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// writeCSV writes one row per cell, with the run's metadata repeated on
// every row so that rows from several runs can be concatenated. Over -count
// runs a cell's rate and latencies are the runs' medians, its counts their
// sums (see cell), and count, mops_min and mops_max say so.
func writeCSV(path string, rep *runReport) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", path, err)
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"read_percent", "procs", "target", "goroutines", "ops", "seconds", "mops_per_sec",
		"reads", "read_hits", "latency_samples", "p50_ns", "p99_ns", "p999_ns",
		"count", "mops_min", "mops_max", "go_version", "num_cpu", "cpu_model", "date"})
	m := rep.Meta
	for _, c := range rep.Cells {
		_ = w.Write([]string{
			strconv.Itoa(c.ReadPercent), strconv.Itoa(c.Procs), c.Target, strconv.Itoa(c.Goroutines),
			strconv.FormatUint(c.Ops, 10), strconv.FormatFloat(c.Seconds, 'f', 4, 64),
			strconv.FormatFloat(c.MopsPerSec, 'f', 3, 64),
			strconv.FormatUint(c.Reads, 10), strconv.FormatUint(c.ReadHits, 10),
			strconv.FormatInt(c.Samples, 10), strconv.FormatInt(c.P50ns, 10),
			strconv.FormatInt(c.P99ns, 10), strconv.FormatInt(c.P999ns, 10),
			strconv.Itoa(max(1, c.Count)), strconv.FormatFloat(cmp.Or(c.MopsMin, c.MopsPerSec), 'f', 3, 64),
			strconv.FormatFloat(cmp.Or(c.MopsMax, c.MopsPerSec), 'f', 3, 64), m.GoVersion, strconv.Itoa(m.NumCPU), m.CPUModel, m.Date,
		})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return f.Close()
}

// writePlot draws throughput against GOMAXPROCS, one panel per mix and one
// line per target, as PNG or SVG by the file's extension.
func writePlot(path string, cfg config.Config, rep *runReport) error {
	const panelW, panelH = 4 * vg.Inch, 3 * vg.Inch
	cols := min(len(cfg.Mixes), 3)
	rows := (len(cfg.Mixes) + cols - 1) / cols
	plots := make([][]*plot.Plot, rows)
	for i := range plots {
		plots[i] = make([]*plot.Plot, cols)
	}
	for i, mix := range cfg.Mixes {
		p, err := mixPlot(mix, cfg, rep)
		if err != nil {
			return err
		}
		plots[i/cols][i%cols] = p
	}
	for i := len(cfg.Mixes); i < rows*cols; i++ {
		plots[i/cols][i%cols] = plot.New() // an empty panel
		plots[i/cols][i%cols].HideAxes()
	}
	w, h := panelW*vg.Length(cols), panelH*vg.Length(rows)

	return report.SavePlot(path, w, h, func(dc draw.Canvas) {
		tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
			PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
		for j, row := range plot.Align(plots, tiles, dc) {
			for i, c := range row {
				plots[j][i].Draw(c)
			}
		}
	})
}

func mixPlot(mix int, cfg config.Config, rep *runReport) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%d%% reads", mix)
	p.X.Label.Text = "GOMAXPROCS (goroutines)"
	p.Y.Label.Text = "million ops/s"
	p.Y.Min = 0
	p.Legend.Left = true // bottom left: lines rarely go near zero
	p.Add(plotter.NewGrid())
	procs := slices.Clone(cfg.Procs)
	slices.Sort(procs)
	var ticks []plot.Tick
	for _, n := range procs {
		ticks = append(ticks, plot.Tick{Value: float64(n), Label: strconv.Itoa(n)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	for i, t := range cfg.Targets {
		var pts plotter.XYs
		for _, n := range procs {
			for _, c := range rep.Cells {
				if c.ReadPercent == mix && c.Procs == n && c.Target == t {
					pts = append(pts, plotter.XY{X: float64(n), Y: c.MopsPerSec})
				}
			}
		}
		line, points, err := report.CacheLine(pts, i, t)
		if err != nil {
			return nil, err
		}
		p.Add(line, points)
		p.Legend.Add(t, line, points)
	}
	p.Legend.TextStyle.Color = color.Black
	return p, nil
}

// writeFiles writes the -json, -csv and -plot outputs that were asked for.
func writeFiles(cfg config.Config, rep *runReport, log io.Writer) error {
	if cfg.JSONPath != "" {
		if err := report.WriteJSON(cfg.JSONPath, rep); err != nil {
			return err
		}
		fmt.Fprintf(log, "loadgen: wrote %s\n", cfg.JSONPath)
	}
	if cfg.CSVPath != "" {
		if err := writeCSV(cfg.CSVPath, rep); err != nil {
			return err
		}
		fmt.Fprintf(log, "loadgen: wrote %s\n", cfg.CSVPath)
	}
	if cfg.PlotPath != "" {
		if err := writePlot(cfg.PlotPath, cfg, rep); err != nil {
			return err
		}
		fmt.Fprintf(log, "loadgen: wrote %s\n", cfg.PlotPath)
	}
	return nil
}

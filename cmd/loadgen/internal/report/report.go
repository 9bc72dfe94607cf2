// Package report holds what every job's output shares: the machine
// metadata at the head of each report, the progress lines on stderr, the
// JSON file, and the look of the -plot pictures.
package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Meta describes the machine and the run, at the head of every report.
type Meta struct {
	GoVersion   string `json:"go_version"`
	GOOS        string `json:"goos"`
	GOARCH      string `json:"goarch"`
	NumCPU      int    `json:"num_cpu"`
	GOMAXPROCS  int    `json:"gomaxprocs"` // at start
	CPUModel    string `json:"cpu_model"`
	Date        string `json:"date"`
	ClockReadNs int64  `json:"clock_read_ns"` // included in every latency sample
	// HandoffNs is what a value written by one core takes to reach
	// another (see Handoff), at start; 0 with fewer than two processors.
	HandoffNs int64 `json:"handoff_ns"`
}

// progressEvery is how often, at most, progress lines reach a stderr that
// is not a terminal (a CI log, a pipe), unless -progress asks for all.
const progressEvery = 10 * time.Second

// ProgressWriter is where progress lines go: stderr, every line when it
// is a terminal or all is set, else a line every progressEvery, so
// that a long run in CI shows it is alive without flooding the log.
func ProgressWriter(all bool) io.Writer {
	if fi, err := os.Stderr.Stat(); all || err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		return os.Stderr
	}
	return &throttled{w: os.Stderr, every: progressEvery}
}

// throttled writes through to w at most one Write per every; the others
// are dropped. Progress lines are one Write each.
type throttled struct {
	w     io.Writer
	every time.Duration
	mu    sync.Mutex
	last  time.Time
}

func (t *throttled) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now := time.Now(); t.last.IsZero() || now.Sub(t.last) >= t.every {
		t.last = now
		return t.w.Write(p)
	}
	return len(p), nil
}

// CollectMeta returns this machine's Meta, dated now.
func CollectMeta() Meta {
	return Meta{
		GoVersion:   runtime.Version(),
		GOOS:        runtime.GOOS,
		GOARCH:      runtime.GOARCH,
		NumCPU:      runtime.NumCPU(),
		GOMAXPROCS:  runtime.GOMAXPROCS(0),
		CPUModel:    cpuModel(),
		Date:        time.Now().UTC().Format(time.RFC3339),
		ClockReadNs: clockReadNs(),
		HandoffNs:   Handoff().Nanoseconds(),
	}
}

// cpuModel returns the first "model name" in /proc/cpuinfo, or "unknown".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return "unknown"
}

// clockReadNs is the median time a timed op spends reading the clock: what
// each latency sample carries beyond the op itself.
func clockReadNs() int64 {
	d := make([]time.Duration, 10001)
	for i := range d {
		t0 := time.Now()
		d[i] = time.Since(t0)
	}
	slices.Sort(d)
	return int64(d[len(d)/2])
}

// WriteJSON writes v to path as indented JSON.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// CacheLine is the line and points of the i-th cache on a plot, in every
// mode's plots: a color and point shape per cache, velo's line thicker.
func CacheLine(pts plotter.XYs, i int, name string) (*plotter.Line, *plotter.Scatter, error) {
	line, points, err := plotter.NewLinePoints(pts)
	if err != nil {
		return nil, nil, err
	}
	line.Color, points.Color = plotutil.Color(i), plotutil.Color(i)
	points.Shape = plotutil.Shape(i)
	line.Width = vg.Points(1.5)
	if name == "velo" {
		line.Width = vg.Points(3)
	}
	return line, points, nil
}

// SavePlot draws a w x h picture with drawFn into path, a .png or .svg file
// by its extension: the -plot output of every mode.
func SavePlot(path string, w, h vg.Length, drawFn func(draw.Canvas)) error {
	var canvas vg.CanvasWriterTo
	switch filepath.Ext(path) {
	case ".png":
		canvas = vgimg.PngCanvas{Canvas: vgimg.New(w, h)}
	case ".svg":
		canvas = vgsvg.New(w, h)
	default:
		return fmt.Errorf("-plot %s: want a .png or .svg file", path)
	}
	drawFn(draw.New(canvas))
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", path, err)
	}
	if _, err := canvas.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return f.Close()
}

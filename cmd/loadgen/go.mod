module github.com/velocache/velo/cmd/loadgen

go 1.26.0

// The peers, the Redis client, the histograms, the plotting and zstd are
// direct requirements of this module, marked indirect on purpose: in the
// go.work workspace, listing the root's modules (go list -m all) counts a
// workspace module's direct requirements as the library's, and the library
// requires only xsync, xxhash and testify. Apart from these markers the
// file is what go mod tidy writes (.ci/run checks that).
require (
	github.com/HdrHistogram/hdrhistogram-go v1.4.0 // indirect
	github.com/VictoriaMetrics/fastcache v1.13.2 // indirect
	github.com/Yiling-J/theine-go v0.6.3 // indirect
	github.com/allegro/bigcache/v3 v3.1.0 // indirect
	github.com/coocood/freecache v1.2.7 // indirect
	github.com/dgraph-io/ristretto/v2 v2.4.2 // indirect
	github.com/klauspost/compress v1.20.4 // indirect
	github.com/maypok86/otter/v2 v2.4.0 // indirect
	github.com/patrickmn/go-cache v2.1.0+incompatible // indirect
	github.com/redis/go-redis/v9 v9.23.0 // indirect
	github.com/velocache/velo v0.0.0
	gonum.org/v1/plot v0.17.0 // indirect
)

require (
	codeberg.org/go-fonts/liberation v0.5.0 // indirect
	codeberg.org/go-latex/latex v0.2.0 // indirect
	codeberg.org/go-pdf/fpdf v0.11.1 // indirect
	git.sr.ht/~sbinet/gg v0.7.0 // indirect
	github.com/ajstarks/svgo v0.0.0-20211024235047-1546f124cd8b // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dustin/go-humanize v1.0.1 // indirect
	github.com/golang/freetype v0.0.0-20170609003504-e2365dfdc4a0 // indirect
	github.com/golang/snappy v1.0.0 // indirect
	github.com/klauspost/cpuid/v2 v2.4.0 // indirect
	github.com/puzpuzpuz/xsync/v3 v3.5.1 // indirect
	github.com/zeebo/xxh3 v1.1.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/image v0.30.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.28.0 // indirect
)

replace github.com/velocache/velo => ../..

module github.com/velocache/velo/rueidis

go 1.26.0

require (
	github.com/redis/rueidis v1.0.79
	github.com/velocache/velo v0.0.0-00010101000000-000000000000
)

require (
	github.com/puzpuzpuz/xsync/v3 v3.5.1 // indirect
	golang.org/x/sys v0.47.0 // indirect
)

replace github.com/velocache/velo => ../

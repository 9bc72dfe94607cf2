module github.com/velocache/velo/lincheck

go 1.26.0

require (
	github.com/anishathalye/porcupine v1.3.1
	github.com/velocache/velo v0.0.0-00010101000000-000000000000
)

require github.com/puzpuzpuz/xsync/v3 v3.5.1 // indirect

replace github.com/velocache/velo => ../

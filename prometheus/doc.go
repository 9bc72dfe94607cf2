// Package veloprom exports a velo cache's statistics to Prometheus.
//
// It lives in its own module, github.com/velocache/velo/prometheus, so that
// the velo library itself does not depend on the Prometheus client; only
// programs that import this package pull it in.
//
//	reg.MustRegister(veloprom.NewCollector(c, "", nil))
//
// For a standard-library alternative, see velo's (*Cache).ExpvarVar.
package veloprom

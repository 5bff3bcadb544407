package main

// The connection budget: every txgate pod opens database connections, and
// all pods share one database, whose max_connections refuses the rest. At
// most maxReplicas (the HPA's; replicas without one) plus the Deployment's
// maxSurge pods run at once during a rollout at full scale, and each holds
// per account (the main one, and the read-only one when --mysql_ro_user is
// set) its pool, the pool's probe connection and the statement killer's
// connection (server/pool/connection_pool.h, server/runner/statement_killer.h):
//
//	pods      = maxReplicas + maxSurge
//	per pod   = (pool_max_size + 2) + [ro user set] (ro_pool_max_size + 2)
//	ro pool   = --ro_pool_max_size, or max(1, pool_max_size / 2) when 0
//	budget    : pods x per pod <= max_connections - reserve
//
// and, likewise, the prepared statements the pools cache (README,
// "Prepared statements"; the probe and the killer prepare none):
//
//	pods x (pool_max_size + ro pool) x mysql_statement_cache_size
//	    <= max_prepared_stmt_count - reserve
//
// The database's values are annotations of the Deployment, which the
// kustomize overlays and the Helm chart's values set.

import (
	"fmt"
	"math"
	"strconv"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// Deployment annotations that declare the shared database.
const (
	annMaxConnections = "txgate.io/database-max-connections"
	annConnReserve    = "txgate.io/database-connection-reserve"
	annMaxStatements  = "txgate.io/database-max-prepared-stmt-count"
	annStmtReserve    = "txgate.io/database-prepared-stmt-reserve"
)

// txgate's defaults for the flags the budget reads (server/main.cc,
// server/pool/connection_pool.h, server/mysql/connection.h).
const (
	defaultPoolMaxSize      = 16
	defaultStatementCache   = 256
	sideConnectionsPerPool  = 2 // the pool's probe and the statement killer
	defaultMaxStatementsCap = 16382
)

// Budget is the computed connection and statement budget of a rendering.
type Budget struct {
	MaxReplicas, Surge, Pods          int64
	Pool, ROPool, PerPod, Connections int64
	MaxConnections, ConnReserve       int64
	StatementCache, Statements        int64
	MaxStatements, StmtReserve        int64
}

func (b Budget) String() string {
	ro := "no ro account"
	if b.ROPool > 0 {
		ro = fmt.Sprintf("ro pool %d + %d", b.ROPool, sideConnectionsPerPool)
	}
	return fmt.Sprintf("connections (%d maxReplicas + %d surge) x (pool %d + %d, %s) = %d of %d - %d reserve; "+
		"statements %d x %d conns x %d cached = %d of %d - %d reserve",
		b.MaxReplicas, b.Surge, b.Pool, sideConnectionsPerPool, ro, b.Connections, b.MaxConnections, b.ConnReserve,
		b.Pods, b.Pool+b.ROPool, b.StatementCache, b.Statements, b.MaxStatements, b.StmtReserve)
}

// intSetting reads a txgate flag as an integer, or def when unset.
func (c *checker) intSetting(where string, set map[string]setting, name string, def int64) int64 {
	s, ok := set[name]
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(s.value, 10, 64)
	if err != nil {
		c.errorf("%s: --%s %q (from %s) is not an integer", where, name, s.value, s.from)
		return def
	}
	return n
}

// annotation reads a non-negative integer annotation of the Deployment.
func (c *checker) annotation(w workload, key string, required bool, def int64) int64 {
	v, ok := w.annotations[key]
	if !ok {
		if required {
			c.errorf("%s: no annotation %s; declare the database's value so the connection budget can be checked "+
				"(deploy/k8s/README.md, \"Connection budget\")", w.obj, key)
		}
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		c.errorf("%s: annotation %s=%q is not a non-negative integer", w.obj, key, v)
		return def
	}
	return n
}

// surge is how many pods a rollout adds above the replica count.
func surge(w workload, replicas int64) int64 {
	if w.strategy == nil || w.strategy.Type != "RollingUpdate" && w.strategy.Type != "" {
		return 0 // Recreate: the old pods go first
	}
	s := intstr.FromString("25%") // the API's default
	if w.strategy.RollingUpdate != nil && w.strategy.RollingUpdate.MaxSurge != nil {
		s = *w.strategy.RollingUpdate.MaxSurge
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(&s, int(replicas), true)
	if err != nil {
		return int64(math.MaxInt32)
	}
	return int64(n)
}

// checkBudget computes the budget of the txgate Deployment w, whose HPA
// allows maxReplicas pods, and fails the rendering when it does not fit.
func (c *checker) checkBudget(where string, w workload, set map[string]setting, maxReplicas int64) {
	var b Budget
	b.MaxReplicas = maxReplicas
	b.Surge = surge(w, maxReplicas)
	b.Pods = b.MaxReplicas + b.Surge
	b.Pool = max(1, c.intSetting(where, set, "pool_max_size", defaultPoolMaxSize))
	if ro, ok := set["mysql_ro_user"]; ok && ro.value != "" {
		b.ROPool = c.intSetting(where, set, "ro_pool_max_size", 0)
		if b.ROPool <= 0 {
			b.ROPool = max(1, b.Pool/2)
		}
	}
	b.PerPod = b.Pool + sideConnectionsPerPool
	if b.ROPool > 0 {
		b.PerPod += b.ROPool + sideConnectionsPerPool
	}
	b.Connections = b.Pods * b.PerPod
	b.MaxConnections = c.annotation(w, annMaxConnections, true, 0)
	b.ConnReserve = c.annotation(w, annConnReserve, true, 0)
	b.StatementCache = c.intSetting(where, set, "mysql_statement_cache_size", defaultStatementCache)
	b.Statements = b.Pods * (b.Pool + b.ROPool) * b.StatementCache
	b.MaxStatements = c.annotation(w, annMaxStatements, false, defaultMaxStatementsCap)
	b.StmtReserve = c.annotation(w, annStmtReserve, false, 0)
	c.result.Budget = &b
	if _, ok := w.annotations[annMaxConnections]; !ok {
		return
	}
	if avail := b.MaxConnections - b.ConnReserve; b.Connections > avail {
		c.errorf("connection budget: %d pods (maxReplicas %d + maxSurge %d) x %d connections each = %d > "+
			"max_connections %d - reserve %d = %d: at full scale the database refuses connections; "+
			"lower maxReplicas or the pools, or raise the database's max_connections and its annotation",
			b.Pods, b.MaxReplicas, b.Surge, b.PerPod, b.Connections, b.MaxConnections, b.ConnReserve, avail)
	}
	if avail := b.MaxStatements - b.StmtReserve; b.Statements > avail {
		c.errorf("statement budget: %d pods x %d pooled connections x %d cached statements = %d > "+
			"max_prepared_stmt_count %d - reserve %d = %d: lower --mysql_statement_cache_size, the pools or maxReplicas",
			b.Pods, b.Pool+b.ROPool, b.StatementCache, b.Statements, b.MaxStatements, b.StmtReserve, avail)
	}
}

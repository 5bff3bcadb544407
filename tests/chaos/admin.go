package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Admin is the suite's own way into MariaDB, bypassing txgate and toxiproxy:
// root over the Unix socket of the test server. The checker reads the truth
// through it, and the faults that need a database session (KILL CONNECTION)
// or the server process (SIGKILL, restart) go through it or through the
// project's deploy/local/mariadb.sh.
type Admin struct {
	db     *sql.DB
	repo   string // repository root, for deploy/local/mariadb.sh
	dbDir  string
	dbPort int
}

func NewAdmin(repo, dbDir string, dbPort int) (*Admin, error) {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "unix"
	cfg.Addr = filepath.Join(dbDir, "mysqld.sock")
	cfg.Timeout = 3 * time.Second
	cfg.ReadTimeout = 60 * time.Second
	cfg.WriteTimeout = 60 * time.Second
	cfg.InterpolateParams = true
	cfg.AllowNativePasswords = true
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(30 * time.Second)
	return &Admin{db: db, repo: repo, dbDir: dbDir, dbPort: dbPort}, nil
}

// retry runs f until it succeeds or `within` has passed: the admin channel
// itself meets the restarts this suite causes.
func retry(within time.Duration, f func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (a *Admin) Exec(query string, args ...any) error {
	return retry(30*time.Second, func() error {
		_, err := a.db.Exec(query, args...)
		return err
	})
}

func (a *Admin) QueryInt(query string, args ...any) (int64, error) {
	var n sql.NullInt64
	err := retry(30*time.Second, func() error { return a.db.QueryRow(query, args...).Scan(&n) })
	return n.Int64, err
}

// RichestAccount is the id of the account of `table` holding the most.
func (a *Admin) RichestAccount(table string) (int, error) {
	id, err := a.QueryInt("SELECT id FROM " + table + " ORDER BY balance DESC, id LIMIT 1")
	return int(id), err
}

// KillTxgateSessions runs KILL CONNECTION on every session of user txgate
// and returns how many it killed.
func (a *Admin) KillTxgateSessions() (int, error) {
	rows, err := a.db.Query("SELECT id FROM information_schema.processlist WHERE user = 'txgate'")
	if err != nil {
		return 0, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	killed := 0
	for _, id := range ids {
		_, err := a.db.Exec(fmt.Sprintf("KILL CONNECTION %d", id))
		var me *mysql.MySQLError
		if errors.As(err, &me) && me.Number == 1094 { // unknown thread: already gone
			continue
		}
		if err != nil {
			return killed, err
		}
		killed++
	}
	return killed, nil
}

func (a *Admin) script(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(a.repo, "deploy/local/mariadb.sh")}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("mariadb.sh %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// KillServer SIGKILLs mariadbd, as a crash would, and waits until it is gone.
func (a *Admin) KillServer() error { return a.script("kill", a.dbDir) }

// PauseServer stops mariadbd with SIGSTOP: a hung database, which keeps its
// connections open and answers nothing. ResumeServer continues it (SIGCONT).
func (a *Admin) PauseServer() error  { return a.script("pause", a.dbDir) }
func (a *Admin) ResumeServer() error { return a.script("resume", a.dbDir) }

// StartServer starts mariadbd (a no-op when it runs) and waits until it is ready.
func (a *Admin) StartServer() error { return a.script("start", a.dbDir, fmt.Sprint(a.dbPort)) }

// OutcomeTableExists says whether txgate's outcome table is there.
func (a *Admin) OutcomeTableExists() (bool, error) {
	n, err := a.QueryInt("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'txgate' AND table_name = 'txgate_outcomes'")
	return n > 0, err
}

// OutcomeKeys returns the outcome table's keys that start with prefix.
func (a *Admin) OutcomeKeys(prefix string) (map[string]bool, error) {
	keys := map[string]bool{}
	err := retry(30*time.Second, func() error {
		clear(keys)
		rows, err := a.db.Query("SELECT idempotency_key FROM txgate.txgate_outcomes WHERE idempotency_key LIKE ?", prefix+"%")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k []byte
			if err := rows.Scan(&k); err != nil {
				return err
			}
			keys[string(k)] = true
		}
		return rows.Err()
	})
	return keys, err
}

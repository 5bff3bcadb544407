package sqlx_test

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"os"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/txgate/txgate/client/go/txgate"
	_ "github.com/txgate/txgate/client/go/txgatesql"
)

type order struct {
	ID       uint64         `db:"id"`
	Customer string         `db:"customer"`
	Amount   txgate.Decimal `db:"amount"`
	Placed   time.Time      `db:"placed"`
	Note     sql.NullString `db:"note"`
	Big      uint64         `db:"big"`
}

func TestSqlxAgainstLiveTxgate(t *testing.T) {
	addr := os.Getenv("TXGATE_ADDR")
	if addr == "" {
		t.Skip("TXGATE_ADDR not set (no live txgate)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db, err := sqlx.ConnectContext(ctx, "txgate", "txgate://"+addr+"?tls=false")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.MustExecContext(ctx, "DROP TABLE IF EXISTS sqlx_orders")
	db.MustExecContext(ctx, `CREATE TABLE sqlx_orders (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
		customer VARCHAR(40) NOT NULL, amount DECIMAL(12,2) NOT NULL, placed DATETIME(6) NOT NULL,
		note VARCHAR(40) NULL, big BIGINT UNSIGNED NOT NULL)`)

	ny, _ := time.LoadLocation("America/New_York")
	placed := time.Date(2024, 1, 15, 12, 0, 0, 0, ny)
	in := []order{
		{Customer: "ada", Amount: "19.99", Placed: placed, Big: math.MaxUint64},
		{Customer: "bob", Amount: "5.00", Placed: placed, Note: sql.NullString{String: "gift", Valid: true}, Big: 1},
	}
	// Named parameters are sqlx's: it rewrites :name into ? before the driver sees them.
	for _, o := range in {
		res, err := db.NamedExecContext(ctx, `INSERT INTO sqlx_orders (customer, amount, placed, note, big)
			VALUES (:customer, :amount, :placed, :note, :big)`, o)
		if err != nil {
			t.Fatal(err)
		}
		if id, err := res.LastInsertId(); err != nil || id < 1 {
			t.Fatalf("LastInsertId %d %v", id, err)
		}
	}

	var got []order
	if err := db.SelectContext(ctx, &got, "SELECT * FROM sqlx_orders ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Customer != "ada" || got[0].Amount != "19.99" || got[0].Big != math.MaxUint64 ||
		!got[0].Placed.Equal(placed) || got[0].Note.Valid || got[1].Note.String != "gift" {
		t.Fatalf("selected %+v", got)
	}

	// sqlx.In expands a slice into ?s; Rebind keeps ? for an unknown driver.
	q, args, err := sqlx.In("SELECT customer FROM sqlx_orders WHERE customer IN (?) ORDER BY customer",
		[]string{"ada", "bob", "eve"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := db.SelectContext(ctx, &names, db.Rebind(q), args...); err != nil || len(names) != 2 {
		t.Fatalf("In: %v %v", names, err)
	}

	// A transaction (a txgate Transaction stream), Get inside it.
	tx, err := db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		t.Fatal(err)
	}
	var one order
	if err := tx.GetContext(ctx, &one, "SELECT * FROM sqlx_orders WHERE customer = ? FOR UPDATE", "bob"); err != nil {
		t.Fatal(err)
	}
	tx.MustExecContext(ctx, "UPDATE sqlx_orders SET amount = amount + ? WHERE id = ?", txgate.Decimal("0.01"), one.ID)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var amount txgate.Decimal
	if err := db.GetContext(ctx, &amount, "SELECT amount FROM sqlx_orders WHERE id = ?", one.ID); err != nil ||
		amount != "5.01" {
		t.Fatalf("amount %q %v", amount, err)
	}
	// An error keeps txgate's detail through sqlx.
	err = db.GetContext(ctx, &one, "SELECT * FROM sqlx_orders WHERE id = ?", 0)
	if !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("no row: %v", err)
	}
	_, err = db.ExecContext(ctx, "INSERT INTO sqlx_orders (id, customer, amount, placed, big) VALUES (?, 'x', 1, NOW(), 1)", one.ID)
	var e *txgate.Error
	if !errors.As(err, &e) || e.MySQLErrno != 1062 {
		t.Fatalf("duplicate: %v", err)
	}
}

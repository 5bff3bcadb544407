// Command example calls txgate from Go with every helper once.
//
//	go run ./example [HOST:PORT]   # default: $TXGATE_ADDR or 127.0.0.1:50051
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/txgate/txgate/client/go/txgate"
)

func main() {
	addr := os.Getenv("TXGATE_ADDR")
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	if addr == "" {
		addr = "127.0.0.1:50051"
	}
	db, err := txgate.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if _, err := db.Execute(ctx, `CREATE TABLE IF NOT EXISTS example_orders (
		id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
		amount DECIMAL(12,2) NOT NULL, placed DATETIME(6) NOT NULL)`); err != nil {
		log.Fatal(err)
	}

	// One statement, autocommit, bound parameters.
	res, err := db.Execute(ctx, "INSERT INTO example_orders (amount, placed) VALUES (?, ?)",
		txgate.Decimal("19.99"), time.Now().UTC())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("inserted order", res.LastInsertID)

	// Several statements as one transaction, exactly once: retried with the
	// same idempotency key if the outcome is unknown.
	tr, err := db.RunTransaction(ctx, []txgate.Statement{
		txgate.Stmt("INSERT INTO example_orders (amount, placed) VALUES (?, ?)", txgate.Decimal("5.00"), time.Now().UTC()),
		txgate.Stmt("SELECT COUNT(*), SUM(amount) FROM example_orders"),
	}, txgate.RunOptions{})
	if err != nil {
		log.Fatal(err)
	}
	sum := tr.Results[1].Rows[0]
	fmt.Printf("%v orders, total %v (key %s)\n", sum[0], sum[1], tr.IdempotencyKey)

	// A large result, streamed in chunks.
	rows, err := db.StreamQuery(ctx, "SELECT id, amount FROM example_orders ORDER BY id", nil, 100)
	if err != nil {
		log.Fatal(err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	if err := rows.Err(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("streamed %d rows in %d chunk(s)\n", n, rows.Chunks())

	// An interactive transaction, committed when fn returns nil, rolled
	// back otherwise, and run again whole if it is aborted (a deadlock).
	var oldest any
	_, err = db.RunInTransaction(ctx, txgate.RetryOptions{}, func(tx *txgate.Tx) error {
		r, err := tx.Execute("SELECT MIN(id) AS oldest FROM example_orders FOR UPDATE")
		if err != nil {
			return err
		}
		oldest = r.RowMap(0)["oldest"] // or r.Rows[0][0]
		_, err = tx.Execute("DELETE FROM example_orders WHERE id = ?", oldest)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("deleted order", oldest)

	// Errors carry the MySQL detail.
	_, err = db.Execute(ctx, "SELECT * FROM example_no_such_table")
	var e *txgate.Error
	if errors.As(err, &e) {
		fmt.Printf("error: %s mysql %d (%s): %s\n", e.Code, e.MySQLErrno, e.SQLState, e.MySQLMessage)
	}
}

"""SQLAlchemy Core through txgate_dbapi (the mysql+txgate dialect), live (TXGATE_ADDR)."""

import decimal

import pytest

sa = pytest.importorskip("sqlalchemy")
from sqlalchemy.dialects import registry  # noqa: E402

registry.register("mysql.txgate", "txgate_dbapi.sqlalchemy_dialect", "TxgateDialect")

metadata = sa.MetaData()
items = sa.Table(
    "sa_items", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(20), nullable=False, unique=True),
    sa.Column("price", sa.Numeric(10, 2), nullable=False),
    sa.Column("added", sa.DateTime, nullable=True),
)


@pytest.fixture
def engine(addr):
    engine = sa.create_engine(f"mysql+txgate://{addr}", pool_pre_ping=True)
    metadata.drop_all(engine)
    metadata.create_all(engine)  # has_table, then DDL as each transaction's first statement
    yield engine
    engine.dispose()


def test_dialect_sees_mariadb_and_its_isolation(engine):
    with engine.connect() as conn:
        assert conn.dialect.driver == "txgate" and conn.dialect.is_mariadb
        assert conn.dialect.server_version_info >= (10,)
        assert conn.get_isolation_level() == "REPEATABLE READ"
    assert sa.inspect(engine).has_table("sa_items")
    assert not sa.inspect(engine).has_table("sa_no_such_table")
    cols = {c["name"]: c for c in sa.inspect(engine).get_columns("sa_items")}
    assert set(cols) == {"id", "name", "price", "added"} and not cols["name"]["nullable"]


def test_core_insert_select_update_delete(engine, addr):
    with engine.begin() as conn:
        res = conn.execute(items.insert(), {"name": "apple", "price": decimal.Decimal("1.25")})
        assert res.inserted_primary_key == (1,)
        conn.execute(items.insert(), [{"name": "pear", "price": 2},
                                      {"name": "plum", "price": decimal.Decimal("3.5")}])
    with engine.connect() as conn:
        rows = conn.execute(sa.select(items.c.name, items.c.price)
                            .where(items.c.price > 1).order_by(items.c.id)).all()
        assert rows == [("apple", decimal.Decimal("1.25")), ("pear", decimal.Decimal("2.00")),
                        ("plum", decimal.Decimal("3.50"))]
        assert rows[0].name == "apple" and rows[0]._mapping["price"] == decimal.Decimal("1.25")
        res = conn.execute(items.update().where(items.c.name == "pear").values(price=5))
        assert res.rowcount == 1
        conn.rollback()
        assert conn.scalar(sa.select(sa.func.sum(items.c.price))) == decimal.Decimal("6.75")
        conn.execute(items.delete().where(items.c.name == "plum"))
        conn.commit()
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(items)) == 2


def test_errors_are_wrapped_by_their_pep_249_class(engine):
    with engine.begin() as conn:
        conn.execute(items.insert(), {"name": "dup", "price": 1})
    with pytest.raises(sa.exc.IntegrityError) as e:
        with engine.begin() as conn:
            conn.execute(items.insert(), {"name": "x", "price": 1})
            conn.execute(items.insert(), {"name": "dup", "price": 1})
    assert e.value.orig.errno == 1062
    with engine.connect() as conn:  # the whole transaction was rolled back
        assert conn.scalar(sa.select(sa.func.count()).select_from(items)) == 1
        with pytest.raises(sa.exc.ProgrammingError):
            conn.execute(sa.text("SELEC 1"))
        conn.rollback()
        assert conn.execute(sa.text("SELECT 1")).scalar() == 1


def test_autocommit_and_isolation_levels(engine, addr):
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(items.insert(), {"name": "auto", "price": 1})
        assert not conn.connection.dbapi_connection.in_transaction
    count = sa.select(sa.func.count()).select_from(items)

    def seen_after_another_commit(level):
        """Rows counted twice in one transaction, another committing between."""
        with engine.connect().execution_options(isolation_level=level) as conn:
            assert conn.get_isolation_level() == level
            first = conn.scalar(count)
            with engine.begin() as other:
                other.execute(items.insert(), {"name": f"by-{len(level)}", "price": 1})
            return first, conn.scalar(count)
    # txgate applies the level to the transaction (TransactionOptions): READ
    # COMMITTED sees the other commit, REPEATABLE READ keeps its snapshot.
    assert seen_after_another_commit("READ COMMITTED") == (1, 2)
    assert seen_after_another_commit("REPEATABLE READ") == (2, 2)

package sqlstore

// The migration lists, so tests can build a database as an older release
// left it and upgrade it.
var (
	OrderMigrations   = orderMigrations
	ProductMigrations = productMigrations
)

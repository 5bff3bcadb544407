#include "server/pool/connection_pool.h"

#include "server/mysql/connection.h"

namespace txgate::pool {

// txgate's pool holds MySQL connections; instantiated once, here.
template class BasicPool<mysql::Connection>;

}  // namespace txgate::pool

#include "server/pool/connection_pool.h"

#include "server/db/connection.h"

namespace txgate::pool {

// txgate's pool holds db::Connection; instantiated once, here.
template class BasicPool<db::Connection>;

}  // namespace txgate::pool
